//! `POST /v1/moderations`: OpenAI's 13 categories, flagged from keyword lists so that a test
//! can make a text flag or not.
//!
//! A category's score is `0.6 + 0.1·(hits − 1)` (at most 0.99) when the text contains any of
//! its [`KEYWORDS`] as whole words, else a tiny deterministic value below 0.001; it is flagged
//! at 0.5 or more, and `flagged` is any category's flag. A parent category scores at least as
//! high as its sub-categories (`violence/graphic` raises `violence`). Images are scored as
//! clean (their URL is not fetched) but count in `category_applied_input_types` for the
//! categories OpenAI scores on images.

use serde::Deserialize;
use serde_json::Value;

use super::features::hash;
use crate::error::Error;

/// OpenAI's categories, in its order.
pub const CATEGORIES: [&str; 13] = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
];

/// The categories OpenAI's omni model also scores on images.
const IMAGE_CATEGORIES: [&str; 6] =
    ["self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "violence", "violence/graphic"];

/// The words and phrases (lower case, matched as whole words) that flag each category.
pub const KEYWORDS: [(&str, &[&str]); 13] = [
    ("harassment", &["idiot", "moron", "loser", "pathetic", "worthless", "shut up"]),
    ("harassment/threatening", &["i will hurt you", "watch your back", "i will find you", "you will pay"]),
    ("hate", &["subhuman", "vermin", "inferior race", "hate all"]),
    ("hate/threatening", &["exterminate them", "wipe them out", "ethnic cleansing"]),
    ("illicit", &["shoplift", "launder money", "counterfeit", "buy drugs", "hotwire", "pick a lock"]),
    ("illicit/violent", &["build a bomb", "make a bomb", "untraceable gun", "make a weapon"]),
    ("self-harm", &["self harm", "hurt myself", "cut myself", "suicide"]),
    ("self-harm/intent", &["kill myself", "end my life", "want to die"]),
    ("self-harm/instructions", &["how to kill myself", "ways to commit suicide", "how to cut myself"]),
    ("sexual", &["porn", "explicit sex", "nude", "nsfw"]),
    ("sexual/minors", &["underage sex", "csam"]),
    ("violence", &["kill", "murder", "stab", "shoot", "attack", "assault"]),
    ("violence/graphic", &["gore", "dismember", "mutilated", "blood everywhere"]),
];

/// A category's score and flag threshold.
pub const THRESHOLD: f64 = 0.5;

/// One input to moderate: its text (parts joined) and whether it had an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModerationInput {
    /// The text.
    pub text: String,
    /// Whether it has text.
    pub has_text: bool,
    /// Whether it has an image.
    pub has_image: bool,
}

/// A validated moderation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModerationRequest {
    /// The model (default `omni-moderation-latest`).
    pub model: String,
    /// One result is produced per input.
    pub inputs: Vec<ModerationInput>,
}

/// The default model.
pub const DEFAULT_MODEL: &str = "omni-moderation-latest";

/// Parses `{model?, input}`: a string, an array of strings (one result each), or an array of
/// `{type: "text", text}` / `{type: "image_url", image_url: {url}}` parts (one result).
pub fn parse(body: &[u8]) -> Result<ModerationRequest, Error> {
    #[derive(Deserialize)]
    struct Body {
        model: Option<Value>,
        input: Option<Value>,
    }
    let b: Body = serde_json::from_slice(body)
        .map_err(|e| Error::bad_request(format!("We could not parse the JSON body of your request. ({e})")))?;
    let model = match b.model {
        None | Some(Value::Null) => DEFAULT_MODEL.to_owned(),
        Some(Value::String(m)) if !m.trim().is_empty() => m,
        Some(_) => return Err(Error::invalid_param("model", "Invalid type for 'model': expected a string.")),
    };
    let invalid = |why: &str| Error::invalid_param("input", format!("Invalid 'input': {why}"));
    let inputs = match b.input {
        None | Some(Value::Null) => {
            return Err(Error::invalid_param("input", "Missing required parameter: 'input'.")
                .with_code("missing_required_parameter"));
        }
        Some(Value::String(text)) => vec![text_input(text)],
        Some(Value::Array(items)) if items.is_empty() => return Err(invalid("expected a non-empty array.")),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            items.into_iter().map(|v| text_input(v.as_str().unwrap_or_default().to_owned())).collect()
        }
        Some(Value::Array(parts)) => vec![multimodal(&parts).map_err(|why| invalid(&why))?],
        Some(_) => return Err(invalid("expected a string, an array of strings or an array of content parts.")),
    };
    if inputs.iter().any(|i| i.has_image) && model.contains("text-moderation") {
        return Err(Error::invalid_param("input", format!("Model '{model}' does not support image inputs.")));
    }
    Ok(ModerationRequest { model, inputs })
}

fn text_input(text: String) -> ModerationInput {
    ModerationInput { text, has_text: true, has_image: false }
}

fn multimodal(parts: &[Value]) -> Result<ModerationInput, String> {
    let mut input = ModerationInput { text: String::new(), has_text: false, has_image: false };
    for (i, part) in parts.iter().enumerate() {
        match part.get("type").and_then(Value::as_str) {
            Some("text") => {
                let text = part.get("text").and_then(Value::as_str).ok_or(format!("part {i} has no 'text' string."))?;
                if input.has_text {
                    input.text.push(' ');
                }
                input.text.push_str(text);
                input.has_text = true;
            }
            Some("image_url") => {
                let url = part.pointer("/image_url/url").and_then(Value::as_str);
                url.ok_or(format!("part {i} has no 'image_url.url' string."))?;
                input.has_image = true;
            }
            other => return Err(format!("part {i} has type {other:?}; expected 'text' or 'image_url'.")),
        }
    }
    Ok(input)
}

/// One input's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Each category's score, in [`CATEGORIES`] order.
    pub scores: [f64; 13],
}

impl Verdict {
    /// Whether category `i` is flagged.
    pub fn flags(&self, i: usize) -> bool {
        self.scores[i] >= THRESHOLD
    }

    /// Whether any category is.
    pub fn flagged(&self) -> bool {
        (0..CATEGORIES.len()).any(|i| self.flags(i))
    }
}

/// Scores `text`.
pub fn judge(text: &str) -> Verdict {
    let words: Vec<String> =
        text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
    let joined = format!(" {} ", words.join(" "));
    let mut scores = [0.0; 13];
    for (i, (category, keywords)) in KEYWORDS.iter().enumerate() {
        let hits = keywords.iter().filter(|k| joined.contains(&format!(" {k} "))).count();
        scores[i] = match hits {
            0 => (hash(text.as_bytes(), hash(category.as_bytes(), 0)) % 1_000_000) as f64 / 1e9,
            n => (0.6 + 0.1 * (n - 1) as f64).min(0.99),
        };
    }
    for (child, parent) in [(1, 0), (3, 2), (5, 4), (7, 6), (8, 6), (10, 9), (12, 11)] {
        scores[parent] = f64::max(scores[parent], scores[child]);
    }
    Verdict { scores }
}

/// The `results[]` item of `input`.
pub fn result_json(input: &ModerationInput, verdict: &Verdict) -> Value {
    let mut categories = serde_json::Map::new();
    let mut scores = serde_json::Map::new();
    let mut applied = serde_json::Map::new();
    for (i, name) in CATEGORIES.iter().enumerate() {
        categories.insert((*name).into(), verdict.flags(i).into());
        scores.insert((*name).into(), verdict.scores[i].into());
        let mut types = Vec::new();
        if input.has_text {
            types.push("text");
        }
        if input.has_image && IMAGE_CATEGORIES.contains(name) {
            types.push("image");
        }
        applied.insert((*name).into(), types.into());
    }
    serde_json::json!({
        "flagged": verdict.flagged(),
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": applied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_flag_their_category_and_its_parent() {
        let v = judge("I want to kill someone");
        assert!(v.flagged() && v.flags(11) && !v.flags(0), "violence only");
        let graphic = judge("There was GORE, blood everywhere.");
        assert!(graphic.flags(12) && graphic.flags(11), "violence/graphic raises violence");
        assert!((graphic.scores[12] - 0.7).abs() < 1e-9, "two hits");
        let clean = judge("What a lovely day for a picnic");
        assert!(!clean.flagged() && clean.scores.iter().all(|&s| s < 0.001));
        assert_eq!(judge("What a lovely day for a picnic"), clean, "deterministic");
        assert!(!judge("skilled killer whales").flags(11), "whole words only");
    }

    #[test]
    fn the_readme_lists_the_keywords() {
        let readme = include_str!("../../README.md");
        for (category, keywords) in KEYWORDS {
            let row = format!("| {category} | {} |", keywords.join(", "));
            assert!(readme.contains(&row), "README lacks {row}");
        }
    }

    #[test]
    fn input_shapes() {
        let r = parse(br#"{"input":["a","b"]}"#).unwrap();
        assert_eq!((r.model.as_str(), r.inputs.len()), (DEFAULT_MODEL, 2));
        let mm = parse(
            br#"{"input":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}"#,
        )
        .unwrap();
        assert_eq!(mm.inputs, vec![ModerationInput { text: "hi".into(), has_text: true, has_image: true }]);
        let param = |b: &[u8]| parse(b).unwrap_err().param.unwrap();
        assert_eq!(param(br#"{}"#), "input");
        assert_eq!(param(br#"{"input":[]}"#), "input");
        assert_eq!(param(br#"{"input":[{"type":"audio"}]}"#), "input");
        assert_eq!(param(br#"{"input":5}"#), "input");
        assert_eq!(param(br#"{"input":"x","model":5}"#), "model");
        let text_model =
            br#"{"model":"text-moderation-latest","input":[{"type":"image_url","image_url":{"url":"u"}}]}"#;
        assert_eq!(param(text_model), "input");
    }

    #[test]
    fn applied_input_types_follow_openai() {
        let image_only = ModerationInput { text: String::new(), has_text: false, has_image: true };
        let r = result_json(&image_only, &judge(""));
        assert_eq!(r["category_applied_input_types"]["violence"], serde_json::json!(["image"]));
        assert_eq!(r["category_applied_input_types"]["hate"], serde_json::json!([]));
        assert_eq!(r["categories"].as_object().unwrap().len(), 13);
    }
}
