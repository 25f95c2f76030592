//! Stored chat completions (`store: true`): `GET /v1/chat/completions` lists them (filtered by
//! `model` and `metadata[key]=value`), `GET`/`POST`/`DELETE /v1/chat/completions/{id}` retrieve,
//! update the metadata of and delete one, and `GET …/{id}/messages` lists the request's messages.

use serde_json::{Value, json};

use super::{metadata, stores::list_error};
use crate::{
    error::Error,
    state::store::{Object, PageQuery, Store, UNDATED, json_id, page_of},
};

/// One stored chat completion.
#[derive(Debug, Clone)]
pub struct StoredChat {
    /// Its id.
    id: String,
    /// The whole `chat.completion` object, with its `metadata`.
    completion: Value,
    /// The request's messages, each with its id (`{completion id}-{index}`).
    messages: Vec<Value>,
}

impl Object for StoredChat {
    const KIND: &'static str = "ChatCompletion";
    fn id(&self) -> &str {
        &self.id
    }
}

/// The store of chat completions.
pub type ChatStore = Store<StoredChat>;

/// Keeps the chat completion `completion` (JSON) that answered `request` (JSON).
pub fn keep(store: &ChatStore, request: &[u8], completion: &[u8]) {
    let (Ok(request), Ok(mut completion)) =
        (serde_json::from_slice::<Value>(request), serde_json::from_slice::<Value>(completion))
    else {
        return;
    };
    let Some(id) = completion["id"].as_str().map(str::to_owned) else { return };
    // The request was validated already, so its metadata is well-formed when present.
    completion["metadata"] = request.get("metadata").filter(|m| m.is_object()).cloned().unwrap_or(json!({}));
    let messages = request["messages"].as_array().into_iter().flatten();
    let messages = messages.enumerate().map(|(i, m)| store_message(&id, i, m)).collect();
    // A rolling in-memory store makes room rather than refuse.
    let _ = store.insert(StoredChat { id, completion, messages }, UNDATED);
}

/// A request message as OpenAI lists it: an id, `content` as text, and the parts (if any) in
/// `content_parts`.
fn store_message(completion_id: &str, index: usize, message: &Value) -> Value {
    let mut m = message.clone();
    m["id"] = json!(format!("{completion_id}-{index}"));
    if let Some(parts) = message.get("content").and_then(Value::as_array) {
        let text: String = parts.iter().filter_map(|p| p.get("text")?.as_str()).collect();
        m["content"] = if text.is_empty() { Value::Null } else { json!(text) };
        m["content_parts"] = Value::Array(parts.clone());
    } else {
        m["content_parts"] = Value::Null;
    }
    for field in ["name", "content"] {
        if m.get(field).is_none() {
            m[field] = Value::Null;
        }
    }
    m
}

/// `GET /v1/chat/completions`: the `page` of stored completions, filtered by the `model` and
/// `metadata[key]=value` parameters of `query`.
pub fn list(store: &ChatStore, page: &PageQuery, query: &str) -> Result<Value, Error> {
    let pairs: Vec<_> = crate::proto::query::pairs(query).collect();
    let model = pairs.iter().find(|(k, _)| k == "model").map(|(_, v)| v.as_ref());
    let metadata_key = |k: &str| k.strip_prefix("metadata[")?.strip_suffix(']').map(str::to_owned);
    let wanted: Vec<(String, &str)> = pairs.iter().filter_map(|(k, v)| Some((metadata_key(k)?, v.as_ref()))).collect();
    let keep = |c: &StoredChat| {
        model.is_none_or(|m| c.completion["model"] == m)
            && wanted.iter().all(|(k, v)| c.completion["metadata"][k].as_str() == Some(*v))
    };
    Ok(store.page(page, UNDATED, keep).map_err(list_error)?.to_json(|c| c.completion.clone()))
}

/// `GET /v1/chat/completions/{id}`.
pub fn retrieve(store: &ChatStore, id: &str) -> Result<Value, Error> {
    store.with(id, UNDATED, |c| c.completion.clone()).ok_or_else(|| not_found(id))
}

/// `POST /v1/chat/completions/{id}`: `{"metadata": {...} | null}` replaces the metadata.
pub fn update(store: &ChatStore, id: &str, body: &[u8]) -> Result<Value, Error> {
    let metadata = metadata::from_update(body)?;
    let updated = store.update(id, |c| c.completion["metadata"] = Value::Object(metadata))?;
    updated.map(|(c, ())| c.completion).ok_or_else(|| not_found(id))
}

/// `DELETE /v1/chat/completions/{id}`.
pub fn delete(store: &ChatStore, id: &str) -> Result<Value, Error> {
    store.remove(id)?.ok_or_else(|| not_found(id))?;
    Ok(json!({"object": "chat.completion.deleted", "id": id, "deleted": true}))
}

/// `GET /v1/chat/completions/{id}/messages`: the `page` of the request's messages.
pub fn messages(store: &ChatStore, id: &str, page: &PageQuery) -> Result<Value, Error> {
    let messages = store.with(id, UNDATED, |c| page_of(&c.messages, json_id, "message", page));
    Ok(messages.ok_or_else(|| not_found(id))?.map_err(list_error)?.to_json(Value::clone))
}

fn not_found(id: &str) -> Error {
    let message = format!("Chat completion with id '{id}' not found.");
    Error::new(404, "invalid_request_error", message).with_param("completion_id").with_code("not_found")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::store::{Limits, Order};

    fn first_page(order: Order) -> PageQuery {
        PageQuery { limit: 20, after: None, before: None, order }
    }

    fn store_with(n: usize) -> ChatStore {
        let store = ChatStore::new(Limits::rolling(10));
        for i in 0..n {
            let model = if i % 2 == 0 { "a" } else { "b" };
            let request = json!({"model": model, "metadata": {"i": i.to_string()},
                "messages": [{"role": "system", "content": "Be brief."},
                    {"role": "user", "content": [{"type": "text", "text": "Hi"}]}]});
            let completion = json!({"id": format!("chatcmpl-{i}"), "object": "chat.completion", "model": model});
            keep(&store, request.to_string().as_bytes(), completion.to_string().as_bytes());
        }
        store
    }

    #[test]
    fn lists_by_model_and_metadata() {
        let store = store_with(5);
        let v = list(&store, &PageQuery { limit: 2, ..first_page(Order::Asc) }, "model=a&limit=2").unwrap();
        assert_eq!((v["first_id"].as_str(), v["last_id"].as_str()), (Some("chatcmpl-0"), Some("chatcmpl-2")));
        assert_eq!(v["has_more"], true);
        let v = list(&store, &first_page(Order::Asc), "metadata%5Bi%5D=3").unwrap();
        assert_eq!(v["data"][0]["id"], "chatcmpl-3");
        assert_eq!(v["data"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn retrieves_updates_deletes_and_lists_messages() {
        let store = store_with(1);
        assert_eq!(retrieve(&store, "chatcmpl-0").unwrap()["metadata"]["i"], "0");
        let updated = update(&store, "chatcmpl-0", br#"{"metadata":{"x":"y"}}"#).unwrap();
        assert_eq!(updated["metadata"], json!({"x": "y"}));
        let m = messages(&store, "chatcmpl-0", &first_page(Order::Asc)).unwrap();
        assert_eq!(m["data"][1]["id"], "chatcmpl-0-1");
        assert_eq!((m["data"][1]["content"].as_str(), m["data"][0]["content_parts"].is_null()), (Some("Hi"), true));
        assert_eq!(update(&store, "chatcmpl-0", b"{}").unwrap_err().status, 400);
        assert_eq!(delete(&store, "chatcmpl-0").unwrap()["deleted"], true);
        assert_eq!(retrieve(&store, "chatcmpl-0").unwrap_err().status, 404);
        assert_eq!(messages(&store, "chatcmpl-0", &first_page(Order::Asc)).unwrap_err().status, 404);
    }
}
