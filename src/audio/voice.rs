//! OpenAI's voices and what makes each sound different here: its base pitch.

use crate::error::Error;

/// Built-in voices, as `/v1/audio/speech` and chat audio accept them.
pub const VOICES: &[&str] =
    &["alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "marin", "cedar"];

/// A voice: a built-in name or a custom voice id (`{"id": "voice_…"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voice(pub String);

impl Voice {
    /// Parses `voice` (a string or `{"id"}`) for `param`; unknown names get OpenAI's 400.
    pub fn parse(value: Option<&serde_json::Value>, param: &str) -> Result<Voice, Error> {
        let invalid = |shown: &str| {
            let supported = VOICES.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ");
            Error::invalid_param(param, format!("Invalid value: '{shown}'. Supported values are: {supported}."))
                .with_code("invalid_value")
        };
        match value {
            None | Some(serde_json::Value::Null) => {
                Err(Error::invalid_param(param, format!("Missing required parameter: '{param}'."))
                    .with_code("missing_required_parameter"))
            }
            Some(serde_json::Value::String(name)) if VOICES.contains(&name.as_str()) => Ok(Voice(name.clone())),
            Some(serde_json::Value::String(name)) => Err(invalid(name)),
            Some(obj) => match obj.get("id").and_then(serde_json::Value::as_str) {
                Some(id) if !id.is_empty() => Ok(Voice(id.to_string())),
                _ => Err(invalid(&obj.to_string())),
            },
        }
    }

    /// The voice's base pitch in Hz: built-in voices spread over a speaking range, custom ids hashed into it.
    pub fn pitch(&self) -> f64 {
        let step = match VOICES.iter().position(|v| *v == self.0) {
            Some(i) => i as u64,
            None => fnv(self.0.as_bytes()) % VOICES.len() as u64,
        };
        110.0 + 12.0 * step as f64
    }
}

/// FNV-1a: a stable hash for deterministic choices (std's hasher is seeded per process).
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_ids_and_errors() {
        assert_eq!(Voice::parse(Some(&json!("nova")), "voice").unwrap().0, "nova");
        assert_eq!(Voice::parse(Some(&json!({"id": "voice_1"})), "voice").unwrap().0, "voice_1");
        let e = Voice::parse(Some(&json!("bob")), "voice").unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (400, Some("voice")));
        assert!(e.message.contains("'cedar'"));
        assert_eq!(Voice::parse(None, "audio.voice").unwrap_err().param.as_deref(), Some("audio.voice"));
        let pitches: std::collections::HashSet<u64> =
            VOICES.iter().map(|v| Voice(v.to_string()).pitch() as u64).collect();
        assert_eq!(pitches.len(), VOICES.len(), "every voice sounds different");
    }
}
