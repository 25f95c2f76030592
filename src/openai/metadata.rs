//! `metadata`: up to 16 string values, keys up to 64 characters, values up to 512.

use serde_json::{Map, Value};

use crate::error::Error;

/// The metadata `v` holds (`null` or absent: none), or OpenAI's 400.
pub fn parse(v: Option<&Value>) -> Result<Map<String, Value>, Error> {
    let map = match v {
        None | Some(Value::Null) => return Ok(Map::new()),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(invalid()),
    };
    let bad = map.iter().any(|(k, v)| k.len() > 64 || v.as_str().is_none_or(|s| s.len() > 512));
    if map.len() > 16 || bad {
        return Err(invalid());
    }
    Ok(map.clone())
}

/// The new metadata of an update body `{"metadata": {...} | null}` (where it is required).
pub fn from_update(body: &[u8]) -> Result<Map<String, Value>, Error> {
    match Error::json_object(body)?.get("metadata") {
        None => Err(Error::invalid_param("metadata", "Missing required parameter: 'metadata'.")),
        some => parse(some),
    }
}

fn invalid() -> Error {
    Error::invalid_param(
        "metadata",
        "Invalid 'metadata': at most 16 string values of up to 512 characters, keys up to 64.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_values_only() {
        assert_eq!(parse(Some(&json!({"a": "b"}))).unwrap()["a"], "b");
        assert!(parse(None).unwrap().is_empty() && parse(Some(&Value::Null)).unwrap().is_empty());
        assert!(parse(Some(&json!({"a": 1}))).is_err() && parse(Some(&json!([]))).is_err());
        assert!(parse(Some(&json!({"k".repeat(65): "v"}))).is_err());
    }
}
