//! Prompt tokens of non-text content parts: images by OpenAI's tile rule, audio by duration,
//! video by sampled frames. Sizes and durations come from the data when it is inline (a data
//! URL or base64); a remote URL is never fetched and costs the documented default.

use serde_json::Value;

/// A `low`-detail image, and the base of every image.
const IMAGE_BASE: u64 = 85;
/// Each 512-px tile of a high-detail image.
const IMAGE_TILE: u64 = 170;
/// Assumed size of an image that is not inline.
const DEFAULT_IMAGE: (u64, u64) = (1024, 1024);
/// Audio tokens per second of input audio.
pub const AUDIO_TOKENS_PER_SECOND: f64 = 10.0;
/// Assumed bitrate of compressed (non-WAV) audio, bytes per second (128 kbit/s).
const COMPRESSED_AUDIO_BYTES_PER_SECOND: f64 = 16_000.0;
/// Video frames sampled per second, the most sampled, and each frame's tokens.
const VIDEO_FPS: f64 = 2.0;
const VIDEO_MAX_FRAMES: u64 = 64;
const VIDEO_FRAME_TOKENS: u64 = 256;
/// Assumed length of a video that is not inline, seconds.
const DEFAULT_VIDEO_SECONDS: f64 = 8.0;
/// How much of an inline file is decoded to find its header (JPEG headers follow EXIF data).
const HEADER_BYTES: usize = 256 * 1024;

/// Prompt tokens of one non-text content part, split into (image/video, audio) tokens.
pub fn part_tokens(part: &Value) -> (u64, u64) {
    let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "image_url" | "input_image" | "image" => (image_part(part), 0),
        "input_audio" => (0, audio_tokens(part.get("input_audio").unwrap_or(&Value::Null))),
        "video_url" | "input_video" | "video" => (video_tokens(part), 0),
        _ => (0, 0),
    }
}

/// An image part in any of the OpenAI, Responses and Anthropic shapes.
fn image_part(part: &Value) -> u64 {
    let (url, detail) = match part.get("image_url") {
        Some(Value::String(url)) => (Some(url.as_str()), part.get("detail")),
        Some(obj) => (obj.get("url").and_then(Value::as_str), obj.get("detail")),
        None => (None, part.get("detail")),
    };
    let detail = detail.and_then(Value::as_str).unwrap_or("auto");
    let bytes = match url {
        Some(url) => data_url_bytes(url),
        // Anthropic: {"source": {"type": "base64", "data": …}}.
        None => part.pointer("/source/data").and_then(Value::as_str).map(|d| decode_base64(d, HEADER_BYTES)),
    };
    let size = bytes.as_deref().and_then(image_size).unwrap_or(DEFAULT_IMAGE);
    image_tokens(size, detail)
}

/// OpenAI's rule: `low` costs 85; otherwise the image is fitted into 2048×2048, its short side
/// scaled down to 768, and each 512-px tile costs 170 on top of 85. `auto` at ≤512×512 is `low`.
pub fn image_tokens((w, h): (u64, u64), detail: &str) -> u64 {
    if detail == "low" || (detail == "auto" && w <= 512 && h <= 512) {
        return IMAGE_BASE;
    }
    let (mut w, mut h) = (w.max(1) as f64, h.max(1) as f64);
    let fit = (2048.0 / w.max(h)).min(1.0);
    (w, h) = (w * fit, h * fit);
    let shrink = (768.0 / w.min(h)).min(1.0);
    (w, h) = (w * shrink, h * shrink);
    let tiles = (w / 512.0).ceil() as u64 * (h / 512.0).ceil() as u64;
    IMAGE_BASE + IMAGE_TILE * tiles
}

/// `input_audio: {data, format}`: WAV durations come from the header; other formats assume
/// 128 kbit/s.
fn audio_tokens(audio: &Value) -> u64 {
    let data = audio.get("data").and_then(Value::as_str).unwrap_or("");
    let encoded_len = data.trim_end_matches('=').len() * 3 / 4;
    let head = decode_base64(data, 64);
    let seconds = wav_bytes_per_second(&head)
        .map(|rate| encoded_len.saturating_sub(44) as f64 / rate)
        .unwrap_or(encoded_len as f64 / COMPRESSED_AUDIO_BYTES_PER_SECOND);
    (seconds * AUDIO_TOKENS_PER_SECOND).ceil() as u64
}

/// Frames sampled at 2 fps (at most 64), each costing 256 tokens; MP4 durations come from the
/// `mvhd` box of an inline video.
fn video_tokens(part: &Value) -> u64 {
    let url = part.pointer("/video_url/url").or(part.get("video_url")).and_then(Value::as_str).unwrap_or("");
    let seconds = data_url_bytes(url).as_deref().and_then(mp4_seconds).unwrap_or(DEFAULT_VIDEO_SECONDS);
    let frames = ((seconds * VIDEO_FPS).ceil() as u64).clamp(1, VIDEO_MAX_FRAMES);
    frames * VIDEO_FRAME_TOKENS
}

/// The leading bytes of a base64 `data:` URL's payload.
fn data_url_bytes(url: &str) -> Option<Vec<u8>> {
    let (meta, payload) = url.strip_prefix("data:")?.split_once(',')?;
    meta.ends_with(";base64").then(|| decode_base64(payload, HEADER_BYTES))
}

/// Decodes up to `limit` bytes of standard or URL-safe base64, skipping anything else.
fn decode_base64(text: &str, limit: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(limit.min(text.len()));
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            if out.len() >= limit {
                break;
            }
        }
    }
    out
}

/// Width and height from a PNG, GIF, JPEG or WebP header.
fn image_size(b: &[u8]) -> Option<(u64, u64)> {
    let be16 = |i: usize| Some(u64::from(u16::from_be_bytes(b.get(i..i + 2)?.try_into().ok()?)));
    let le16 = |i: usize| Some(u64::from(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?)));
    let be32 = |i: usize| Some(u64::from(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?)));
    if b.starts_with(b"\x89PNG") {
        return Some((be32(16)?, be32(20)?));
    }
    if b.starts_with(b"GIF8") {
        return Some((le16(6)?, le16(8)?));
    }
    if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        return match b.get(12..16)? {
            b"VP8X" => Some((1 + le24(b, 24)?, 1 + le24(b, 27)?)),
            b"VP8L" => {
                let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
                Some((u64::from(bits & 0x3fff) + 1, u64::from((bits >> 14) & 0x3fff) + 1))
            }
            _ => Some((le16(26)? & 0x3fff, le16(28)? & 0x3fff)),
        };
    }
    if b.starts_with(&[0xff, 0xd8]) {
        let mut i = 2;
        while i + 9 < b.len() {
            if b[i] != 0xff {
                return None;
            }
            let marker = b[i + 1];
            // Start-of-frame markers carry the size; the others are skipped by their length.
            if (0xc0..=0xcf).contains(&marker) && ![0xc4, 0xc8, 0xcc].contains(&marker) {
                return Some((be16(i + 7)?, be16(i + 5)?));
            }
            i += 2 + be16(i + 2)? as usize;
        }
    }
    None
}

fn le24(b: &[u8], i: usize) -> Option<u64> {
    let s = b.get(i..i + 3)?;
    Some(u64::from(s[0]) | u64::from(s[1]) << 8 | u64::from(s[2]) << 16)
}

/// Bytes per second of a WAV file, from its `fmt ` chunk.
fn wav_bytes_per_second(b: &[u8]) -> Option<f64> {
    if !(b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WAVE")) {
        return None;
    }
    let rate = u32::from_le_bytes(b.get(28..32)?.try_into().ok()?);
    (rate > 0).then_some(f64::from(rate))
}

/// Duration of an MP4 from its `mvhd` box (version 0 or 1).
fn mp4_seconds(b: &[u8]) -> Option<f64> {
    let at = b.windows(4).position(|w| w == b"mvhd")? + 4;
    let version = *b.get(at)?;
    let be32 = |i: usize| Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?));
    let (scale, duration) = match version {
        1 => (be32(at + 20)?, u64::from_be_bytes(b.get(at + 24..at + 32)?.try_into().ok()?)),
        _ => (be32(at + 12)?, u64::from(be32(at + 16)?)),
    };
    (scale > 0).then(|| duration as f64 / f64::from(scale))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn b64(bytes: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        bytes
            .chunks(3)
            .flat_map(|c| {
                let n = (u32::from(c[0]) << 16)
                    | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                    | u32::from(*c.get(2).unwrap_or(&0));
                let chars = [18, 12, 6, 0].map(|s| A[(n >> s & 63) as usize] as char);
                chars.into_iter().take(c.len() + 1).chain(std::iter::repeat_n('=', 3 - c.len()))
            })
            .collect()
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        b.extend_from_slice(&w.to_be_bytes());
        b.extend_from_slice(&h.to_be_bytes());
        b.extend_from_slice(&[8, 6, 0, 0, 0]);
        b
    }

    #[test]
    fn openai_image_rule() {
        // OpenAI's published examples.
        assert_eq!(image_tokens((1024, 1024), "high"), 765);
        assert_eq!(image_tokens((2048, 4096), "high"), 1105);
        assert_eq!(image_tokens((4096, 8192), "low"), 85);
        assert_eq!(image_tokens((500, 400), "auto"), 85);
    }

    #[test]
    fn sizes_come_from_inline_images() {
        let url = format!("data:image/png;base64,{}", b64(&png(2048, 4096)));
        assert_eq!(part_tokens(&json!({"type": "image_url", "image_url": {"url": url, "detail": "high"}})), (1105, 0));
        let remote = json!({"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}});
        assert_eq!(part_tokens(&remote), (765, 0), "a remote image is assumed 1024×1024");
        let gif = b"GIF89a\x40\x01\xc8\x00".to_vec();
        assert_eq!(image_size(&gif), Some((320, 200)));
        let jpeg = [0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0, 0xff, 0xc0, 0, 17, 8, 0x01, 0x00, 0x02, 0x00, 3];
        assert_eq!(image_size(&jpeg), Some((512, 256)));
    }

    #[test]
    fn audio_and_video_by_duration() {
        let mut wav = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x80\x3e\0\0".to_vec();
        wav.extend_from_slice(&32_000u32.to_le_bytes()); // 16 kHz, 16-bit mono
        wav.resize(44 + 32_000 * 3, 0); // three seconds
        let part = json!({"type": "input_audio", "input_audio": {"data": b64(&wav), "format": "wav"}});
        assert_eq!(part_tokens(&part), (0, 30));
        let mut mp4 = b"\0\0\0\x6cmvhd\0\0\0\0\0\0\0\0\0\0\0\0".to_vec();
        mp4.extend_from_slice(&1000u32.to_be_bytes());
        mp4.extend_from_slice(&5500u32.to_be_bytes()); // 5.5 s → 11 frames
        let url = format!("data:video/mp4;base64,{}", b64(&mp4));
        assert_eq!(part_tokens(&json!({"type": "video_url", "video_url": {"url": url}})), (11 * 256, 0));
        assert_eq!(part_tokens(&json!({"type": "video_url", "video_url": {"url": "https://x/v.mp4"}})), (16 * 256, 0));
    }
}
