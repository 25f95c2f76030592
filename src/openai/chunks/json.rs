//! JSON writers for the hot path: numbers, strings and the `usage` object appended straight to
//! a buffer, each pinned byte-for-byte to serde.

use super::Usage;

/// Appends `n` in decimal without allocating.
pub fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Appends the OpenAI `usage` object, the same bytes as serializing [`Usage::to_json`] (written by
/// hand: through serde it cost ~14k instructions, a fifth of a whole 64-token stream).
pub fn push_usage(out: &mut Vec<u8>, u: Usage) {
    let fields: [(&[u8], u64); 9] = [
        (b"{\"prompt_tokens\":", u.prompt_tokens),
        (b",\"completion_tokens\":", u.completion_tokens),
        (b",\"total_tokens\":", u.prompt_tokens + u.completion_tokens),
        (b",\"prompt_tokens_details\":{\"cached_tokens\":", u.cached_tokens),
        (b",\"audio_tokens\":", u.prompt_audio_tokens),
        (b"},\"completion_tokens_details\":{\"reasoning_tokens\":", u.reasoning_tokens),
        (b",\"audio_tokens\":", u.completion_audio_tokens),
        (b",\"accepted_prediction_tokens\":", u.accepted_prediction_tokens),
        (b",\"rejected_prediction_tokens\":", u.rejected_prediction_tokens),
    ];
    for (key, value) in fields {
        out.extend_from_slice(key);
        push_u64(out, value);
    }
    out.extend_from_slice(b"}}");
}

/// Appends `s` as a JSON string literal.
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    // Output tokens almost never need escaping: one copy instead of a walk that copies in pieces.
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_usage_is_byte_identical_to_serde() {
        let u = Usage {
            prompt_tokens: 1234,
            cached_tokens: 1216,
            completion_tokens: 56,
            reasoning_tokens: 7,
            prompt_audio_tokens: 8,
            accepted_prediction_tokens: 9,
            rejected_prediction_tokens: 10,
            completion_audio_tokens: 11,
        };
        for u in [u, Usage::default()] {
            let mut out = Vec::new();
            push_usage(&mut out, u);
            assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&u.to_json()).unwrap());
        }
    }

    #[test]
    fn json_strings_escape_exactly_as_serde_does() {
        let same_as_serde = |s: &str| {
            let mut out = b"x".to_vec();
            push_json_str(&mut out, s);
            assert_eq!(&out[1..], serde_json::to_string(s).unwrap().as_bytes(), "{s:?}");
        };
        // Every ASCII character alone and inside text (the slow path copies around escapes).
        for c in (0..=0x7f_u8).map(char::from) {
            same_as_serde(&c.to_string());
            same_as_serde(&format!("a{c}b{c}"));
        }
        for s in [" word", "", "q\"uote", "back\\slash", "tab\tnew\nline\r", "\u{8}\u{c}\u{1}\u{1f}", "é 😀 \u{7f}"]
        {
            same_as_serde(s);
        }
        for s in ["\u{80}\u{a0}ÿ", "\u{2028}\u{2029}", "日本\n語", "\u{fffd}\u{10ffff}\u{8}"] {
            same_as_serde(s);
        }
    }
}
