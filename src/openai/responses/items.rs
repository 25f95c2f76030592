//! Input items as OpenAI lists them (`GET /v1/responses/{id}/input_items`, conversation items):
//! each with an `id` and a `status`, message content always a list of parts.

use serde_json::{Value, json};

use crate::tokens::Encoding;

/// The items of a Responses `input` (a string or a list of items); item `i` without an id of its
/// own gets `id_for(i)`.
pub fn from_input(input: &Value, mut id_for: impl FnMut(usize) -> String) -> Vec<Value> {
    match input {
        Value::String(text) => vec![message(&id_for(0), "user", &json!(text))],
        Value::Array(items) => items.iter().enumerate().map(|(i, item)| normalize(item, || id_for(i))).collect(),
        _ => Vec::new(),
    }
}

/// One item as listed: messages get `type`, parts and a status; other items an id and status.
fn normalize(item: &Value, id: impl FnOnce() -> String) -> Value {
    let id = item.get("id").and_then(Value::as_str).map_or_else(id, str::to_owned);
    let kind = item.get("type").and_then(Value::as_str);
    if let (Some(role), None | Some("message")) = (item.get("role").and_then(Value::as_str), kind) {
        return message(&id, role, item.get("content").unwrap_or(&Value::Null));
    }
    let mut v = item.clone();
    v["id"] = json!(id);
    if v.get("status").is_none_or(Value::is_null) {
        v["status"] = json!("completed");
    }
    v
}

/// A message item: text content becomes one part (`output_text` for the assistant, else
/// `input_text`).
fn message(id: &str, role: &str, content: &Value) -> Value {
    let content = match content {
        Value::String(text) if role == "assistant" => {
            json!([{"type": "output_text", "text": text, "annotations": [], "logprobs": []}])
        }
        Value::String(text) => json!([{"type": "input_text", "text": text}]),
        Value::Array(parts) => Value::Array(parts.clone()),
        _ => json!([]),
    };
    json!({"id": id, "type": "message", "role": role, "status": "completed", "content": content})
}

/// Tokens an item adds to a prompt: its texts, function arguments and outputs.
pub fn tokens(encoding: Encoding, item: &Value) -> u64 {
    let count = |v: Option<&Value>| v.and_then(Value::as_str).map_or(0, |s| encoding.count(s) as u64);
    let parts = item.get("content").and_then(Value::as_array).into_iter().flatten();
    let content: u64 = parts.map(|p| count(p.get("text"))).sum();
    let output = match item.get("output") {
        Some(Value::String(s)) => encoding.count(s) as u64,
        Some(other) => encoding.count(&other.to_string()) as u64,
        None => 0,
    };
    content + count(item.get("arguments")) + output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_becomes_a_listed_item() {
        let ids = |i| format!("msg_{i}");
        let items = from_input(&json!("Hi"), ids);
        assert_eq!(items[0]["content"], json!([{"type": "input_text", "text": "Hi"}]));
        assert_eq!((items[0]["id"].as_str(), items[0]["status"].as_str()), (Some("msg_0"), Some("completed")));
        let items = from_input(
            &json!([{"role": "system", "content": "Be brief."}, {"role": "assistant", "content": "Yes"},
                {"type": "function_call_output", "call_id": "c1", "output": "42"}, {"id": "own", "role": "user",
                "content": [{"type": "input_text", "text": "x"}]}]),
            ids,
        );
        assert_eq!(items[1]["content"][0]["type"], "output_text");
        assert_eq!((items[2]["id"].as_str(), items[2]["status"].as_str()), (Some("msg_2"), Some("completed")));
        assert_eq!(items[3]["id"], "own");
        assert_eq!(tokens(Encoding::Cl100kBase, &items[0]), 3);
        assert_eq!(tokens(Encoding::Cl100kBase, &items[2]), 1);
    }
}
