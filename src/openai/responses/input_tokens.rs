//! `POST /v1/responses/input_tokens`: the prompt tokens a Responses request would have, its
//! previous response and conversation included: `{"object": "response.input_tokens", "input_tokens"}`.

use serde_json::{Value, json};

use crate::{
    error::Error,
    openai::{request, stores::Stores},
    tokens::Encoding,
};

/// Counts the input of the Responses request `body` (whose `model` and `input` may be left out).
pub fn count(stores: &Stores, encoding: Encoding, body: &[u8]) -> Result<Value, Error> {
    let mut v = Error::json_object(body)?;
    let fields = v.as_object_mut().expect("an object");
    // The model changes nothing here; an absent input counts as none.
    fields.entry("model").or_insert(json!("gpt-4o"));
    fields.entry("input").or_insert(json!(""));
    let req = request::parse_responses(v.to_string().as_bytes(), encoding)?;
    let tokens = req.prompt_tokens + stores.inherited_tokens(&req)?;
    Ok(json!({"object": "response.input_tokens", "input_tokens": tokens}))
}
