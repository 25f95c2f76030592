//! `POST /v1/embeddings` requests: OpenAI's shape (`input` as a string, strings, token ids or
//! token-id lists; `encoding_format`, `dimensions`, `user`), NIM's additions (`input_type`,
//! `truncate`) and vLLM's chat-style `messages`, validated as OpenAI validates them.

use std::{borrow::Cow, fmt};

use serde::{Deserialize, de};
use serde_json::Value;

use super::{
    body::Format,
    features::Features,
    fields::{self, Field},
    vector::Projector,
};
use crate::{error::Error, openai::request::ChatMessage, tokens::Encoding};

/// Most inputs in one request.
pub const MAX_INPUTS: usize = 2048;
/// Most tokens summed over a request's inputs.
pub const MAX_REQUEST_TOKENS: u64 = 300_000;

/// One input to embed.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A text.
    Text(String),
    /// Token ids.
    Ids(Vec<u64>),
    /// Chat-style messages (vLLM), embedded as one text: each message's text.
    Messages(Vec<String>),
}

/// NIM's `truncate`: what to do with an input longer than the model's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Truncate {
    /// Refuse it (400), as OpenAI does.
    #[default]
    None,
    /// Keep its last tokens.
    Start,
    /// Keep its first tokens.
    End,
}

/// A validated embeddings request.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingsRequest {
    /// The model as named.
    pub model: String,
    /// The inputs, in order.
    pub inputs: Vec<Input>,
    /// Tokens of non-text parts of chat-style input (images by OpenAI's tile rule).
    pub media_tokens: u64,
    /// `encoding_format`.
    pub format: Format,
    /// `dimensions`, when given.
    pub dimensions: Option<i64>,
    /// `user`.
    pub user: Option<String>,
    /// NIM's `truncate`.
    pub truncate: Truncate,
}

/// The body as sent.
#[derive(Debug, Deserialize)]
struct Body {
    model: Option<String>,
    input: Option<RawInput>,
    messages: Option<Vec<ChatMessage>>,
    encoding_format: Option<String>,
    dimensions: Option<i64>,
    user: Option<String>,
    input_type: Option<String>,
    truncate: Option<String>,
}

/// `input` in one of its four shapes (decoded without an intermediate `Value`).
#[derive(Debug)]
struct RawInput(Vec<Input>);

/// One element of an `input` array.
enum Element {
    Text(String),
    Id(u64),
    Ids(Vec<u64>),
}

impl<'de> Deserialize<'de> for RawInput {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(InputVisitor)
    }
}

struct InputVisitor;

const INPUT_SHAPES: &str = "a string, an array of strings, an array of token ids or an array of token-id arrays";

impl<'de> de::Visitor<'de> for InputVisitor {
    type Value = RawInput;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(INPUT_SHAPES)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<RawInput, E> {
        Ok(RawInput(vec![Input::Text(s.to_owned())]))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<RawInput, E> {
        Ok(RawInput(vec![Input::Text(s)]))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawInput, A::Error> {
        let mut elements = Vec::with_capacity(seq.size_hint().unwrap_or(1));
        while let Some(e) = seq.next_element::<Element>()? {
            elements.push(e);
        }
        let mixed = || de::Error::custom("the elements of 'input' must all have the same type");
        match elements.first() {
            None => Ok(RawInput(Vec::new())),
            Some(Element::Id(_)) => {
                let ids = elements.into_iter().map(|e| if let Element::Id(id) = e { Ok(id) } else { Err(mixed()) });
                Ok(RawInput(vec![Input::Ids(ids.collect::<Result<_, _>>()?)]))
            }
            Some(_) => elements
                .into_iter()
                .map(|e| match e {
                    Element::Text(t) => Ok(Input::Text(t)),
                    Element::Ids(ids) => Ok(Input::Ids(ids)),
                    Element::Id(_) => Err(mixed()),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(RawInput),
        }
    }
}

impl<'de> Deserialize<'de> for Element {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ElementVisitor)
    }
}

struct ElementVisitor;

impl<'de> de::Visitor<'de> for ElementVisitor {
    type Value = Element;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, a token id or an array of token ids")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Element, E> {
        Ok(Element::Text(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Element, E> {
        Ok(Element::Text(s))
    }

    fn visit_u64<E: de::Error>(self, id: u64) -> Result<Element, E> {
        Ok(Element::Id(id))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Element, A::Error> {
        let mut ids = Vec::with_capacity(seq.size_hint().unwrap_or(16));
        while let Some(id) = seq.next_element::<u64>()? {
            ids.push(id);
        }
        Ok(Element::Ids(ids))
    }
}

/// The fields whose type a failed decoding checks.
const FIELDS: &[Field] = &[
    ("model", Value::is_string, "a string"),
    ("messages", Value::is_array, "an array"),
    ("encoding_format", Value::is_string, "a string"),
    ("dimensions", fields::is_int, "an integer"),
    ("user", Value::is_string, "a string"),
    ("input_type", Value::is_string, "a string"),
    ("truncate", Value::is_string, "a string"),
    ("input", fields::is_input, INPUT_SHAPES),
];

/// OpenAI's answer to an empty input.
fn invalid_input() -> Error {
    Error::invalid_param(
        "input",
        "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
    )
}

/// Parses and validates a request body (the model's own limits are checked by [`encode`]).
pub fn parse(body: &[u8]) -> Result<EmbeddingsRequest, Error> {
    let b: Body = fields::decode(body, FIELDS)?;
    let model = b.model.filter(|m| !m.trim().is_empty()).ok_or_else(|| {
        Error::invalid_param("model", "You must provide a model parameter.").with_code("missing_required_parameter")
    })?;
    let (inputs, media_tokens) = match (b.input, b.messages) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid_param("messages", "Give either 'input' or 'messages', not both."));
        }
        (Some(RawInput(inputs)), None) => (inputs, 0),
        (None, Some(messages)) => chat_input(&messages)?,
        (None, None) => {
            return Err(Error::invalid_param("input", "Missing required parameter: 'input'.")
                .with_code("missing_required_parameter"));
        }
    };
    let empty = |i: &Input| match i {
        Input::Text(t) => t.is_empty(),
        Input::Ids(ids) => ids.is_empty(),
        Input::Messages(texts) => texts.iter().all(String::is_empty) && media_tokens == 0,
    };
    if inputs.is_empty() || inputs.iter().any(empty) {
        return Err(invalid_input());
    }
    if inputs.len() > MAX_INPUTS {
        return Err(Error::array_too_long("input", MAX_INPUTS, inputs.len()));
    }
    let format = match b.encoding_format.as_deref() {
        None | Some("float") => Format::Float,
        Some("base64") => Format::Base64,
        Some(other) => {
            let message = format!("'{other}' is not one of ['float', 'base64'] - 'encoding_format'");
            return Err(Error::invalid_param("encoding_format", message));
        }
    };
    if let Some(t) = b.input_type.as_deref().filter(|t| !matches!(*t, "query" | "passage")) {
        let message = format!("Invalid 'input_type': '{t}'. Expected 'query' or 'passage'.");
        return Err(Error::invalid_param("input_type", message));
    }
    let truncate = match b.truncate.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("NONE") => Truncate::None,
        Some("START") => Truncate::Start,
        Some("END") => Truncate::End,
        Some(_) => {
            let message =
                format!("'{}' is not one of ['NONE', 'START', 'END'] - 'truncate'", b.truncate.unwrap_or_default());
            return Err(Error::invalid_param("truncate", message));
        }
    };
    Ok(EmbeddingsRequest { model, inputs, media_tokens, format, dimensions: b.dimensions, user: b.user, truncate })
}

/// Chat-style input: each message's text, and the tokens of its images.
fn chat_input(messages: &[ChatMessage]) -> Result<(Vec<Input>, u64), Error> {
    use crate::openai::request::MessageContent;
    let mut media = 0;
    let mut texts = Vec::with_capacity(messages.len());
    for m in messages {
        if let Some(MessageContent::Parts(parts)) = &m.content {
            media += parts
                .iter()
                .filter(|p| p.get("text").is_none())
                .map(|p| crate::openai::media::part_tokens(p).0)
                .sum::<u64>();
        }
        texts.push(m.content.as_ref().map(|c| c.text()).unwrap_or_default());
    }
    Ok((vec![Input::Messages(texts)], media))
}

/// What an input's vector is built from.
#[derive(Debug, Clone, PartialEq)]
pub enum Content<'a> {
    /// A text (part of the request's when truncated or decoded from ids: owned then).
    Text(Cow<'a, str>),
    /// Token ids outside the vocabulary.
    Features(Features),
}

/// An input ready to embed.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded<'a> {
    /// What its vector is built from.
    pub content: Content<'a>,
    /// Its prompt tokens (after truncation).
    pub tokens: u64,
}

impl Encoded<'_> {
    /// Its vector of `dims` values from `projector`.
    pub fn embed(&self, projector: &Projector, dims: usize) -> Vec<f32> {
        match &self.content {
            Content::Text(text) => projector.embed_text(text, dims),
            Content::Features(features) => projector.embed(features, dims),
        }
    }
}

/// Counts each input's tokens with `encoding`, fits it into `window` tokens as `truncate` says,
/// and takes its features.
pub fn encode(req: &EmbeddingsRequest, encoding: Encoding, window: u64) -> Result<Vec<Encoded<'_>>, Error> {
    let mut total = 0;
    let mut out = Vec::with_capacity(req.inputs.len());
    for input in &req.inputs {
        let encoded = match input {
            Input::Text(text) => encode_text(text, encoding, window, req.truncate)?,
            Input::Ids(ids) => encode_ids(ids, encoding, window, req.truncate)?,
            Input::Messages(texts) => {
                let tokens = texts.iter().map(|t| encoding.count(t) as u64).sum::<u64>() + req.media_tokens;
                check_window(tokens, window)?;
                Encoded { content: Content::Text(texts.join("\n").into()), tokens }
            }
        };
        total += encoded.tokens;
        out.push(encoded);
    }
    if total > MAX_REQUEST_TOKENS {
        let message = format!("Requested {total} tokens, max {MAX_REQUEST_TOKENS} tokens per request");
        return Err(Error::invalid_param("input", message).with_code("max_tokens_per_request"));
    }
    Ok(out)
}

fn check_window(tokens: u64, window: u64) -> Result<(), Error> {
    if tokens <= window {
        return Ok(());
    }
    let message = format!(
        "This model's maximum context length is {window} tokens, however you requested {tokens} tokens ({tokens} in \
         your prompt; 0 for the completion). Please reduce your prompt; or completion length."
    );
    Err(Error::invalid_param("input", message).with_code("context_length_exceeded"))
}

fn encode_text(text: &str, encoding: Encoding, window: u64, truncate: Truncate) -> Result<Encoded<'_>, Error> {
    let tokens = encoding.count(text) as u64;
    if tokens <= window || truncate == Truncate::None {
        check_window(tokens, window)?;
        return Ok(Encoded { content: Content::Text(text.into()), tokens });
    }
    // Whole characters only: a token ending inside one is merged with the next.
    let ends = encoding.token_ends(text);
    let keep = window as usize;
    let part = match truncate {
        Truncate::End => &text[..ends.get(keep.wrapping_sub(1)).copied().unwrap_or(0)],
        _ => &text[ends.len().checked_sub(keep + 1).map_or(0, |i| ends[i])..],
    };
    Ok(Encoded { content: Content::Text(part.into()), tokens: encoding.count(part) as u64 })
}

fn encode_ids(ids: &[u64], encoding: Encoding, window: u64, truncate: Truncate) -> Result<Encoded<'static>, Error> {
    let keep = window as usize;
    let ids = match truncate {
        _ if ids.len() <= keep => ids,
        Truncate::None => {
            check_window(ids.len() as u64, window)?;
            ids
        }
        Truncate::End => &ids[..keep],
        Truncate::Start => &ids[ids.len() - keep..],
    };
    let content = match encoding.decode(ids) {
        Some(text) => Content::Text(text.into()),
        None => Content::Features(Features::of_ids(ids)),
    };
    Ok(Encoded { content, tokens: ids.len() as u64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENC: Encoding = Encoding::Cl100kBase;

    fn parse_str(body: &str) -> Result<EmbeddingsRequest, Error> {
        parse(body.as_bytes())
    }

    #[test]
    fn the_four_input_shapes() {
        let inputs = |b: &str| parse_str(b).unwrap().inputs;
        assert_eq!(inputs(r#"{"model":"m","input":"hi"}"#), vec![Input::Text("hi".into())]);
        assert_eq!(
            inputs(r#"{"model":"m","input":["a","b"]}"#),
            vec![Input::Text("a".into()), Input::Text("b".into())]
        );
        assert_eq!(inputs(r#"{"model":"m","input":[1,2,3]}"#), vec![Input::Ids(vec![1, 2, 3])]);
        assert_eq!(inputs(r#"{"model":"m","input":[[1],[2,3]]}"#), vec![Input::Ids(vec![1]), Input::Ids(vec![2, 3])]);
        let chat = parse_str(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":false}"#).unwrap();
        assert_eq!(chat.inputs, vec![Input::Messages(vec!["hi".into()])]);
    }

    #[test]
    fn errors_name_the_param() {
        let param = |b: &str| parse_str(b).unwrap_err().param.unwrap();
        for bad in [r#""""#, "[]", r#"["a",""]"#, "[[]]"] {
            assert_eq!(param(&format!(r#"{{"model":"m","input":{bad}}}"#)), "input", "{bad}");
        }
        assert_eq!(param(r#"{"model":"m","input":["a",1]}"#), "input");
        assert_eq!(param(r#"{"model":"m","input":[-1]}"#), "input");
        assert_eq!(param(r#"{"model":"m","input":5}"#), "input");
        assert_eq!(param(r#"{"input":"x"}"#), "model");
        assert_eq!(param(r#"{"model":"m"}"#), "input");
        assert_eq!(param(r#"{"model":"m","input":"x","encoding_format":"int8"}"#), "encoding_format");
        assert_eq!(param(r#"{"model":"m","input":"x","dimensions":"8"}"#), "dimensions");
        assert_eq!(param(r#"{"model":"m","input":"x","input_type":"document"}"#), "input_type");
        assert_eq!(param(r#"{"model":"m","input":"x","truncate":"MIDDLE"}"#), "truncate");
        let many = format!(r#"{{"model":"m","input":[{}]}}"#, vec![r#""w""#; 2049].join(","));
        assert_eq!(parse_str(&many).unwrap_err().code, Some("array_above_max_length"));
    }

    #[test]
    fn tokens_are_exact_and_truncation_follows_nim() {
        let req = parse_str(r#"{"model":"m","input":["Hello, world!",[9906,11,1917,0]]}"#).unwrap();
        let enc = encode(&req, ENC, 100).unwrap();
        assert_eq!((enc[0].tokens, enc[1].tokens), (4, 4));
        assert_eq!(enc[0].content, enc[1].content, "token ids embed as their text");
        assert_eq!(encode(&req, ENC, 3).unwrap_err().code, Some("context_length_exceeded"));
        let mut end = req.clone();
        end.truncate = Truncate::End;
        let cut = encode(&end, ENC, 2).unwrap();
        assert_eq!((cut[0].tokens, cut[1].tokens), (2, 2));
        assert_eq!(cut[0].content, Content::Text("Hello,".into()));
        end.truncate = Truncate::Start;
        assert_eq!(encode(&end, ENC, 2).unwrap()[0].content, Content::Text(" world!".into()));
    }
}
