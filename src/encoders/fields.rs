//! Decoding a JSON request body so that a value of the wrong type is answered with OpenAI's
//! 400 naming the parameter.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::Error;

/// One checked top-level field: its name, what its value must be, and how to say so.
pub type Field = (&'static str, fn(&Value) -> bool, &'static str);

/// Decodes `body`; on failure, names the first field in `fields` whose value is of the wrong
/// type (the JSON is only re-read as a `Value` then).
pub fn decode<T: DeserializeOwned>(body: &[u8], fields: &[Field]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
            return Error::bad_request(format!(
                "We could not parse the JSON body of your request. ({e}) The request body must be a JSON object."
            ));
        };
        match fields.iter().find(|(name, ok, _)| map.get(*name).is_some_and(|v| !v.is_null() && !ok(v))) {
            Some((name, _, expected)) => {
                Error::invalid_param(name, format!("Invalid type for '{name}': expected {expected}."))
                    .with_code("invalid_type")
            }
            None => Error::bad_request(format!("Invalid request: {e}")),
        }
    })
}

/// An integer.
pub fn is_int(v: &Value) -> bool {
    v.is_i64()
}

/// A string, or an object with a string `text`.
pub fn is_text_item(v: &Value) -> bool {
    v.is_string() || v.get("text").is_some_and(Value::is_string)
}

/// An array of [`is_text_item`]s.
pub fn is_text_items(v: &Value) -> bool {
    v.as_array().is_some_and(|a| a.iter().all(is_text_item))
}

/// An array of strings.
pub fn is_strings(v: &Value) -> bool {
    v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
}

/// An array of token ids.
pub fn is_ids(v: &Value) -> bool {
    v.as_array().is_some_and(|a| a.iter().all(Value::is_u64))
}

/// An embeddings `input`: a string, strings, token ids or token-id arrays.
pub fn is_input(v: &Value) -> bool {
    v.is_string() || is_strings(v) || is_ids(v) || v.as_array().is_some_and(|a| a.iter().all(is_ids))
}
