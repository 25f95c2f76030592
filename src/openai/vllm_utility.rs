//! vLLM's (and SGLang's, AIPerf's) utility endpoints: `/tokenize`, `/detokenize`, `/version`,
//! `/ping`, `/reset_prefix_cache`, `/start_profile`, `/stop_profile`, `/sleep`, `/wake_up`,
//! `/is_sleeping`; and the engine state they change, shared by every worker. Errors use vLLM's
//! envelope (the routes' dialect) with vLLM's type names.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use serde::Deserialize;
use serde_json::json;

use crate::{
    api::Full,
    app::App,
    error::Error,
    openai::{lora::Adapters, request::ChatMessage},
    tokens::Encoding,
};

/// The vLLM version whose API this server answers as (clients gate features on it).
const VLLM_VERSION: &str = "0.11.0";

/// Engine state the utility endpoints change; shared by all workers (control plane only: no
/// token waits on it).
#[derive(Debug, Default)]
pub struct EngineState {
    /// 0 awake, else the level `/sleep` was called with.
    sleep_level: AtomicU8,
    /// Between `/start_profile` and `/stop_profile`.
    profiling: AtomicBool,
    /// LoRA adapters loaded at run time.
    pub adapters: Adapters,
}

impl EngineState {
    /// Whether `/sleep` was called and `/wake_up` not since.
    pub fn is_sleeping(&self) -> bool {
        self.sleep_level.load(Ordering::Relaxed) != 0
    }

    /// vLLM's `engine_sleep_state` label: `awake`, or what `/sleep` dropped (level 1 offloads
    /// the weights, level 2 discards them and the KV cache).
    pub fn sleep_state(&self) -> &'static str {
        match self.sleep_level.load(Ordering::Relaxed) {
            0 => "awake",
            1 => "weights_offloaded",
            _ => "discard_all",
        }
    }

    /// Whether a profile is being recorded.
    pub fn is_profiling(&self) -> bool {
        self.profiling.load(Ordering::Relaxed)
    }

    /// A generation request may proceed: 503 while the engine sleeps.
    pub fn check_awake(&self) -> Result<(), Error> {
        match self.is_sleeping() {
            false => Ok(()),
            true => Err(Error::new(
                503,
                "ServiceUnavailableError",
                "The engine is sleeping: POST /wake_up before sending requests.",
            )),
        }
    }
}

/// A 400 in vLLM's words.
fn bad_request(message: impl Into<String>) -> Error {
    Error::new(400, "BadRequestError", message)
}

/// A 200 with an empty body, as vLLM's `Response(status_code=200)`.
pub fn ok() -> Full {
    Full::text("", Vec::new())
}

/// `POST /sleep?level=1|2`.
pub fn sleep(app: &App, level: Option<&str>) -> Result<Full, Error> {
    let level = level.unwrap_or("1");
    match level.parse::<u8>() {
        Ok(level @ (1 | 2)) => {
            app.vllm.sleep_level.store(level, Ordering::Relaxed);
            Ok(ok())
        }
        _ => Err(bad_request(format!("Invalid sleep level {level:?}: expected 1 or 2."))),
    }
}

/// `POST /wake_up`.
pub fn wake_up(app: &App) -> Full {
    app.vllm.sleep_level.store(0, Ordering::Relaxed);
    ok()
}

/// `GET /is_sleeping`.
pub fn is_sleeping(app: &App) -> Full {
    Full::value(&json!({"is_sleeping": app.vllm.is_sleeping()}))
}

/// `POST /start_profile` (`start`) and `/stop_profile`.
pub fn profile(app: &App, start: bool) -> Full {
    app.vllm.profiling.store(start, Ordering::Relaxed);
    ok()
}

/// `GET /version`.
pub fn version() -> Full {
    Full::value(&json!({"version": VLLM_VERSION}))
}

/// `POST /tokenize`: a completion prompt or chat messages.
#[derive(Debug, Deserialize)]
struct TokenizeBody {
    model: Option<String>,
    prompt: Option<String>,
    messages: Option<Vec<ChatMessage>>,
    #[serde(default)]
    return_token_strs: bool,
}

/// `POST /tokenize`: `{"count","max_model_len","tokens","token_strs"}` with the configured
/// tokenizer. Messages are tokenized as the chat endpoint counts them: each message's text.
pub fn tokenize(app: &App, body: &[u8]) -> Result<Full, Error> {
    let req: TokenizeBody = serde_json::from_slice(body).map_err(|e| bad_request(format!("Invalid request: {e}")))?;
    let encoding = app.encoding;
    let tokens: Vec<u32> = match (&req.prompt, &req.messages) {
        (Some(prompt), None) => encoding.encode(prompt),
        (None, Some(messages)) => {
            messages.iter().filter_map(|m| m.content.as_ref()).flat_map(|c| encoding.encode(&c.text())).collect()
        }
        _ => return Err(bad_request("Either 'prompt' or 'messages' must be given, not both.")),
    };
    let max_model_len = match &req.model {
        Some(model) => app.registry.resolve(model).context_window,
        None => app.args.default_context_window,
    };
    if tokens.len() as u64 > max_model_len {
        let message = format!(
            "This model's maximum context length is {max_model_len} tokens. However, your request has {} input \
             tokens. Please reduce the length of the input messages.",
            tokens.len()
        );
        return Err(bad_request(message));
    }
    let token_strs =
        req.return_token_strs.then(|| tokens.iter().map(|&id| token_str(encoding, id)).collect::<Vec<_>>());
    let body =
        json!({"count": tokens.len(), "max_model_len": max_model_len, "tokens": tokens, "token_strs": token_strs});
    Ok(Full::value(&body))
}

/// `POST /detokenize`.
#[derive(Debug, Deserialize)]
struct DetokenizeBody {
    tokens: Vec<u32>,
}

/// `POST /detokenize`: `{"prompt": text}`; the end-of-text token decodes to its text, as a
/// Hugging Face tokenizer keeps special tokens.
pub fn detokenize(app: &App, body: &[u8]) -> Result<Full, Error> {
    let req: DetokenizeBody = serde_json::from_slice(body).map_err(|e| bad_request(format!("Invalid request: {e}")))?;
    match decode(app.encoding, &req.tokens) {
        Ok(prompt) => Ok(Full::value(&json!({"prompt": prompt}))),
        Err(id) => Err(bad_request(format!("Token id {id} is out of vocabulary"))),
    }
}

/// The text of `ids` (bytes that are not whole UTF-8 become U+FFFD), or the first unknown id.
pub fn decode(encoding: Encoding, ids: &[u32]) -> Result<String, u32> {
    let (eot, eot_text) = encoding.end_of_text();
    let mut bytes = Vec::with_capacity(ids.len() * 4);
    for &id in ids {
        match encoding.token_bytes(id) {
            Some(b) => bytes.extend_from_slice(b),
            None if id == eot => bytes.extend_from_slice(eot_text.as_bytes()),
            None => return Err(id),
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A token as a Hugging Face byte-level BPE tokenizer names it (`convert_ids_to_tokens`): each
/// byte as GPT-2's printable stand-in, so ` world` is `Ġworld`.
fn token_str(encoding: Encoding, id: u32) -> String {
    match encoding.token_bytes(id) {
        Some(bytes) => bytes.iter().map(|&b| byte_char(b)).collect(),
        None => encoding.end_of_text().1.to_owned(),
    }
}

/// GPT-2's byte-to-unicode table: printable Latin-1 bytes stand for themselves, the others
/// (controls, space, DEL, NBSP, soft hyphen) for code points from U+0100 up, in byte order.
fn byte_char(b: u8) -> char {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(b) {
        return b as char;
    }
    let rank = (0..b).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + rank).expect("valid code point")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_names_match_gpt2() {
        assert_eq!(byte_char(b' '), 'Ġ');
        assert_eq!(byte_char(b'\n'), 'Ċ');
        assert_eq!(byte_char(b'a'), 'a');
        assert_eq!(byte_char(0xAD), 'Ń');
        assert_eq!(token_str(Encoding::Cl100kBase, 1917), "Ġworld");
    }

    #[test]
    fn decodes_back_and_names_unknown_ids() {
        let e = Encoding::Cl100kBase;
        let text = "naïve café, 日本語 — ok\n";
        assert_eq!(decode(e, &e.encode(text)).as_deref(), Ok(text));
        assert_eq!(decode(e, &[9906, 100_257]).as_deref(), Ok("Hello<|endoftext|>"));
        assert_eq!(decode(e, &[9906, 100_256]), Err(100_256));
    }
}
