//! An image request read and checked by OpenAI's per-model rules: which sizes, qualities,
//! styles, counts and output options each model takes, with OpenAI's 400s (`param` set) for
//! everything else.

use super::{fields::Fields, render::Format};
use crate::error::Error;

/// What the models of one family accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `dall-e-2`: 256², 512², 1024²; up to 10 images; edits and variations.
    DallE2,
    /// `dall-e-3`: 1024², 1792×1024, 1024×1792; one image; `quality` standard/hd, `style`.
    DallE3,
    /// `gpt-image-*`, `chatgpt-image-*`: always base64; output format, background,
    /// compression, streaming with partial images; token usage.
    GptImage,
    /// FakeAI's Stable Diffusion ids: DALL·E 2's options, plus 768².
    StableDiffusion,
}

impl Family {
    /// The family of `model`, if it makes images.
    pub fn of(model: &str) -> Option<Family> {
        match model {
            "dall-e-2" => Some(Family::DallE2),
            "dall-e-3" => Some(Family::DallE3),
            m if m.starts_with("gpt-image-") || m.starts_with("chatgpt-image-") => Some(Family::GptImage),
            m if m.contains("stable-diffusion") => Some(Family::StableDiffusion),
            _ => None,
        }
    }

    fn sizes(self) -> &'static [&'static str] {
        match self {
            Family::DallE2 => &["256x256", "512x512", "1024x1024"],
            Family::DallE3 => &["1024x1024", "1792x1024", "1024x1792"],
            Family::GptImage => &["1024x1024", "1536x1024", "1024x1536", "auto"],
            Family::StableDiffusion => &["256x256", "512x512", "768x768", "1024x1024"],
        }
    }

    fn qualities(self) -> &'static [&'static str] {
        match self {
            Family::DallE3 => &["standard", "hd", "auto"],
            Family::GptImage => &["low", "medium", "high", "auto"],
            _ => &["standard", "auto"],
        }
    }

    fn max_prompt(self) -> usize {
        match self {
            Family::DallE3 => 4000,
            Family::GptImage => 32000,
            _ => 1000,
        }
    }
}

/// Which endpoint the request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `/v1/images/generations`.
    Generate,
    /// `/v1/images/edits`.
    Edit,
    /// `/v1/images/variations` (no prompt; DALL·E 2 only).
    Variation,
}

/// A checked image request, `auto` values resolved.
#[derive(Debug, Clone)]
pub struct ImageJob {
    /// The model as requested.
    pub model: String,
    /// Its family.
    pub family: Family,
    /// The prompt (empty for variations).
    pub prompt: String,
    /// Images to make.
    pub n: u32,
    /// Width and height.
    pub size: (u32, u32),
    /// `standard`/`hd` (DALL·E) or `low`/`medium`/`high` (GPT image).
    pub quality: &'static str,
    /// DALL·E 3's `vivid`/`natural`.
    pub style: Option<&'static str>,
    /// Answer with URLs (else base64).
    pub url: bool,
    /// File format.
    pub format: Format,
    /// JPEG quality, 0–100.
    pub compression: u8,
    /// Transparent background (GPT image models, PNG/WebP).
    pub transparent: bool,
    /// Stream partial images as SSE.
    pub stream: bool,
    /// Partial images before the final one (0–3).
    pub partial_images: u32,
}

impl ImageJob {
    /// `WxH`, as the response and events name it.
    pub fn size_label(&self) -> String {
        format!("{}x{}", self.size.0, self.size.1)
    }

    /// `transparent` or `opaque`.
    pub fn background(&self) -> &'static str {
        if self.transparent { "transparent" } else { "opaque" }
    }
}

/// OpenAI's `Invalid value` 400.
fn invalid_value(param: &str, value: &str, allowed: &[&str]) -> Error {
    let list: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
    let supported = match list.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{}, and {last}", rest.join(", ")),
        _ => list.concat(),
    };
    Error::invalid_param(param, format!("Invalid value: '{value}'. Supported values are: {supported}."))
        .with_code("invalid_value")
}

/// OpenAI's 400 for a parameter the model does not take.
fn unknown_parameter(param: &str) -> Error {
    Error::invalid_param(param, format!("Unknown parameter: '{param}'.")).with_code("unknown_parameter")
}

/// OpenAI's 400 for a missing parameter.
pub fn missing(param: &str) -> Error {
    Error::invalid_param(param, format!("Missing required parameter: '{param}'."))
        .with_code("missing_required_parameter")
}

/// `value` if it is one of `allowed` (as the static string).
fn one_of(param: &str, value: &str, allowed: &[&'static str]) -> Result<&'static str, Error> {
    allowed.iter().find(|a| **a == value).copied().ok_or_else(|| invalid_value(param, value, allowed))
}

/// Reads and checks an image request for `op`.
pub fn parse(f: &Fields<'_>, op: Operation) -> Result<ImageJob, Error> {
    let model = f.str("model")?.unwrap_or_else(|| "dall-e-2".to_owned());
    let family = Family::of(&model).ok_or_else(|| {
        let allowed = ["dall-e-2", "dall-e-3", "gpt-image-1", "stabilityai/stable-diffusion-xl-base-1.0"];
        invalid_value("model", &model, &allowed)
    })?;
    let allowed_here = match op {
        Operation::Generate => true,
        Operation::Edit => matches!(family, Family::DallE2 | Family::GptImage | Family::StableDiffusion),
        Operation::Variation => matches!(family, Family::DallE2 | Family::StableDiffusion),
    };
    if !allowed_here {
        let list: &[&str] = if op == Operation::Edit { &["dall-e-2", "gpt-image-1"] } else { &["dall-e-2"] };
        return Err(invalid_value("model", &model, list));
    }
    let prompt = match op {
        Operation::Variation => String::new(),
        _ => prompt(f, family)?,
    };
    let n = count(f, family)?;
    let size_name = match f.str("size")? {
        Some(s) => one_of("size", &s, family.sizes())?,
        None if family == Family::DallE2 || family == Family::StableDiffusion => "1024x1024",
        None => family.sizes()[0],
    };
    let size = parse_size(if size_name == "auto" { "1024x1024" } else { size_name });
    let quality = match (f.str("quality")?, family) {
        (Some(q), _) => one_of("quality", &q, family.qualities())?,
        (None, _) => "auto",
    };
    let quality = match (quality, family) {
        ("auto", Family::GptImage) => "high",
        ("auto", _) => "standard",
        (q, _) => q,
    };
    let gpt = family == Family::GptImage;
    let style = match f.str("style")? {
        Some(_) if family != Family::DallE3 => return Err(unknown_parameter("style")),
        Some(s) => Some(one_of("style", &s, &["vivid", "natural"])?),
        None => (family == Family::DallE3).then_some("vivid"),
    };
    // GPT image models always answer in base64; `b64_json` is accepted as what they do anyway
    // (load generators such as AIPerf send it), `url` is refused.
    let url = match f.str("response_format")? {
        Some(r) => match one_of("response_format", &r, &["url", "b64_json"])? {
            "url" if gpt => return Err(invalid_value("response_format", "url", &["b64_json"])),
            r => r == "url",
        },
        None => !gpt,
    };
    for param in ["output_format", "background", "output_compression", "moderation", "partial_images"] {
        if !gpt && f.has(param) {
            return Err(unknown_parameter(param));
        }
    }
    let format = match f.str("output_format")? {
        Some(s) => Format::parse(&s).ok_or_else(|| invalid_value("output_format", &s, &["png", "jpeg", "webp"]))?,
        None => Format::Png,
    };
    let background = match f.str("background")? {
        Some(b) => one_of("background", &b, &["transparent", "opaque", "auto"])?,
        None => "auto",
    };
    let transparent = background == "transparent";
    if transparent && format == Format::Jpeg {
        let message = "Transparent background is not supported for the jpeg output format; use png or webp.";
        return Err(Error::invalid_param("background", message).with_code("invalid_value"));
    }
    let compression = match f.int("output_compression")? {
        None => 100,
        Some(c) if !(0..=100).contains(&c) => return Err(out_of_range("output_compression", c, 0, 100)),
        Some(_) if format == Format::Png => {
            let message = "The 'output_compression' parameter is only supported for the jpeg and webp output formats.";
            return Err(Error::invalid_param("output_compression", message).with_code("invalid_value"));
        }
        Some(c) => c as u8,
    };
    if let Some(m) = f.str("moderation")? {
        one_of("moderation", &m, &["low", "auto"])?;
    }
    let stream = f.bool("stream")?.unwrap_or(false);
    if stream && !gpt {
        return Err(Error::invalid_param("stream", format!("Streaming is not supported for the model '{model}'."))
            .with_code("invalid_value"));
    }
    let partial_images = match f.int("partial_images")? {
        None => 0,
        Some(p) if !(0..=3).contains(&p) => return Err(out_of_range("partial_images", p, 0, 3)),
        Some(p) => p as u32,
    };
    Ok(ImageJob {
        model,
        family,
        prompt,
        n,
        size,
        quality,
        style,
        url,
        format,
        compression,
        transparent,
        stream,
        partial_images,
    })
}

fn prompt(f: &Fields<'_>, family: Family) -> Result<String, Error> {
    let prompt = f.str("prompt")?.ok_or_else(|| missing("prompt"))?;
    if prompt.is_empty() {
        let message =
            "Invalid 'prompt': empty string. Expected a string with minimum length 1, but got an empty string instead.";
        return Err(Error::invalid_param("prompt", message).with_code("empty_string"));
    }
    let (max, len) = (family.max_prompt(), prompt.chars().count());
    if len > max {
        let message = format!(
            "Invalid 'prompt': string too long. Expected a string with maximum length {max}, but got a string with length {len} instead."
        );
        return Err(Error::invalid_param("prompt", message).with_code("string_above_max_length"));
    }
    Ok(prompt)
}

fn count(f: &Fields<'_>, family: Family) -> Result<u32, Error> {
    let n = f.int("n")?.unwrap_or(1);
    if n < 1 {
        return Err(out_of_range("n", n, 1, 10));
    }
    if family == Family::DallE3 && n != 1 {
        return Err(Error::invalid_param("n", "You must provide n=1 for this model.").with_code("invalid_value"));
    }
    if n > 10 {
        return Err(out_of_range("n", n, 1, 10));
    }
    Ok(n as u32)
}

/// OpenAI's integer bound 400s.
fn out_of_range(param: &str, v: i64, lo: i64, hi: i64) -> Error {
    let (code, message) = if v < lo {
        (
            "integer_below_min_value",
            format!("Invalid '{param}': integer below minimum value. Expected a value >= {lo}, but got {v} instead."),
        )
    } else {
        (
            "integer_above_max_value",
            format!("Invalid '{param}': integer above maximum value. Expected a value <= {hi}, but got {v} instead."),
        )
    };
    Error::invalid_param(param, message).with_code(code)
}

/// `WxH` of a size the family table lists.
fn parse_size(s: &str) -> (u32, u32) {
    let (w, h) = s.split_once('x').expect("listed sizes are WxH");
    (w.parse().expect("listed width"), h.parse().expect("listed height"))
}

/// GPT image output tokens of one image (OpenAI's table; other sizes scale by pixels).
pub fn output_tokens(quality: &str, size: (u32, u32)) -> u64 {
    let row: [u64; 3] = match quality {
        "low" => [272, 408, 400],
        "medium" => [1056, 1584, 1568],
        _ => [4160, 6240, 6208],
    };
    match size {
        (1024, 1024) => row[0],
        (1024, 1536) => row[1],
        (1536, 1024) => row[2],
        (w, h) => row[0] * u64::from(w) * u64::from(h) / (1024 * 1024),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(body: &str, op: Operation) -> Result<ImageJob, Error> {
        parse(&Fields::json(body.as_bytes()).unwrap(), op)
    }

    fn err(body: &str) -> (String, String, String) {
        let e = job(body, Operation::Generate).unwrap_err();
        (e.param.unwrap_or_default(), e.code.unwrap_or_default().to_owned(), e.message)
    }

    #[test]
    fn defaults_per_family() {
        let j = job(r#"{"prompt":"a"}"#, Operation::Generate).unwrap();
        assert_eq!(
            (j.model.as_str(), j.size, j.url, j.quality, j.style),
            ("dall-e-2", (1024, 1024), true, "standard", None)
        );
        let j =
            job(r#"{"prompt":"a","model":"dall-e-3","size":"1792x1024","quality":"hd"}"#, Operation::Generate).unwrap();
        assert_eq!((j.size, j.quality, j.style), ((1792, 1024), "hd", Some("vivid")));
        let j = job(r#"{"prompt":"a","model":"gpt-image-1","size":"auto","output_format":"webp","background":"transparent","output_compression":50}"#, Operation::Generate).unwrap();
        assert_eq!(
            (j.size, j.url, j.quality, j.format, j.transparent, j.compression),
            ((1024, 1024), false, "high", Format::Webp, true, 50)
        );
    }

    #[test]
    fn openai_errors_with_param() {
        assert_eq!(err(r#"{"prompt":"a","model":"dall-e-3","n":2}"#).0, "n");
        assert_eq!(err(r#"{"prompt":"a","n":11}"#).1, "integer_above_max_value");
        let (param, code, message) = err(r#"{"prompt":"a","size":"1792x1024"}"#);
        assert_eq!((param.as_str(), code.as_str()), ("size", "invalid_value"));
        assert_eq!(message, "Invalid value: '1792x1024'. Supported values are: '256x256', '512x512', and '1024x1024'.");
        assert_eq!(err(r#"{"model":"dall-e-2"}"#).1, "missing_required_parameter");
        assert_eq!(err(&format!(r#"{{"prompt":"{}"}}"#, "x".repeat(1001))).1, "string_above_max_length");
        assert_eq!(err(r#"{"prompt":"a","model":"gpt-image-1","response_format":"url"}"#).0, "response_format");
        assert_eq!(err(r#"{"prompt":"a","model":"gpt-image-1","style":"vivid"}"#).1, "unknown_parameter");
        assert_eq!(err(r#"{"prompt":"a","output_format":"png"}"#).0, "output_format");
        assert_eq!(
            err(r#"{"prompt":"a","model":"gpt-image-1","background":"transparent","output_format":"jpeg"}"#).0,
            "background"
        );
        assert_eq!(err(r#"{"prompt":"a","model":"gpt-image-1","output_compression":50}"#).0, "output_compression");
        assert_eq!(err(r#"{"prompt":"a","model":"gpt-image-1","partial_images":4}"#).0, "partial_images");
        assert_eq!(err(r#"{"prompt":"a","stream":true}"#).0, "stream");
        assert_eq!(err(r#"{"prompt":"a","model":"whisper-1"}"#).0, "model");
        assert_eq!(err(r#"{"prompt":"a","n":"2"}"#).1, "invalid_type");
        assert!(job(r#"{"model":"dall-e-3"}"#, Operation::Variation).is_err());
        assert!(job(r#"{}"#, Operation::Variation).is_ok(), "variations take no prompt");
    }

    #[test]
    fn output_tokens_follow_openai_table() {
        assert_eq!(output_tokens("low", (1024, 1024)), 272);
        assert_eq!(output_tokens("medium", (1536, 1024)), 1568);
        assert_eq!(output_tokens("high", (1024, 1536)), 6240);
    }
}
