//! Stored chat completions (`store: true`): `GET /v1/chat/completions` lists them (filtered by
//! `model` and `metadata[key]=value`), `GET`/`POST`/`DELETE /v1/chat/completions/{id}` retrieve,
//! update the metadata of and delete one, and `GET …/{id}/messages` lists the request's messages.

use serde_json::{Value, json};

use super::{
    list::{ListQuery, Order, paginate},
    metadata,
    object_store::ObjectStore,
};
use crate::{error::Error, http1::Method, route::Full};

/// One stored chat completion.
#[derive(Debug, Clone)]
pub struct StoredChat {
    /// The whole `chat.completion` object, with its `metadata`.
    completion: Value,
    /// The request's messages, each with its id (`{completion id}-{index}`).
    messages: Vec<Value>,
}

/// The store of chat completions.
pub type ChatStore = ObjectStore<StoredChat>;

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
    store.insert(id, StoredChat { completion, messages });
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

/// `GET /v1/chat/completions`: stored completions oldest first, by `model` and metadata.
pub fn list(store: &ChatStore, query: &str) -> Full {
    let page = ListQuery::parse(query, Order::Asc).and_then(|q| {
        let model = q.get("model");
        let wanted: Vec<(&str, &str)> = q.metadata().collect();
        let keep = |c: &StoredChat| {
            model.is_none_or(|m| c.completion["model"] == m)
                && wanted.iter().all(|(k, v)| c.completion["metadata"][*k].as_str() == Some(*v))
        };
        store.page(&q, keep, |c| c.completion.clone())
    });
    match page {
        Ok(page) => json_reply(&page.to_json()),
        Err(e) => e.into(),
    }
}

/// `/v1/chat/completions/{rest}`: one stored completion or its messages; `None` for a method the
/// path does not take.
pub fn handle(store: &ChatStore, method: Method, rest: &str, query: &str, body: &[u8]) -> Option<Full> {
    let (id, messages) = match rest.strip_suffix("/messages") {
        Some(id) => (id, true),
        None => (rest, false),
    };
    let reply = match (method, messages) {
        (Method::Get, false) => store.with(id, |c| json_reply(&c.completion)),
        (Method::Get, true) => store.with(id, |c| list_messages(c, query)),
        (Method::Post, false) => match update_body(body) {
            Ok(metadata) => store.update(id, |c| {
                c.completion["metadata"] = Value::Object(metadata);
                json_reply(&c.completion)
            }),
            Err(e) => Some(e.into()),
        },
        (Method::Delete, false) => store
            .remove(id)
            .map(|_| json_reply(&json!({"object": "chat.completion.deleted", "id": id, "deleted": true}))),
        _ => return None,
    };
    Some(reply.unwrap_or_else(|| not_found(id)))
}

fn list_messages(c: &StoredChat, query: &str) -> Full {
    let page = ListQuery::parse(query, Order::Asc).and_then(|q| {
        let items = c.messages.iter().map(|m| (m["id"].as_str().unwrap_or_default(), m.clone()));
        paginate(items, &q)
    });
    match page {
        Ok(page) => json_reply(&page.to_json()),
        Err(e) => e.into(),
    }
}

/// `{"metadata": {...} | null}`: the new metadata.
fn update_body(body: &[u8]) -> Result<serde_json::Map<String, Value>, Error> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Error::bad_request(format!("We could not parse the JSON body of your request. ({e})")))?;
    match v.get("metadata") {
        None => Err(Error::invalid_param("metadata", "Missing required parameter: 'metadata'.")),
        some => metadata::parse(some),
    }
}

fn not_found(id: &str) -> Full {
    let message = format!("Chat completion with id '{id}' not found.");
    Error::new(404, "invalid_request_error", message).with_param("completion_id").with_code("not_found").into()
}

fn json_reply(v: &Value) -> Full {
    Full::json(v.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(n: usize) -> ChatStore {
        let store = ChatStore::new(10);
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

    fn body(full: Full) -> Value {
        serde_json::from_slice(&full.body).unwrap()
    }

    #[test]
    fn lists_by_model_and_metadata() {
        let store = store_with(5);
        let v = body(list(&store, "model=a&limit=2"));
        assert_eq!((v["first_id"].as_str(), v["last_id"].as_str()), (Some("chatcmpl-0"), Some("chatcmpl-2")));
        assert_eq!(v["has_more"], true);
        let v = body(list(&store, "metadata%5Bi%5D=3"));
        assert_eq!(v["data"][0]["id"], "chatcmpl-3");
        assert_eq!(v["data"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn retrieves_updates_deletes_and_lists_messages() {
        let store = store_with(1);
        let got = body(handle(&store, Method::Get, "chatcmpl-0", "", b"").unwrap());
        assert_eq!(got["metadata"]["i"], "0");
        let updated = handle(&store, Method::Post, "chatcmpl-0", "", br#"{"metadata":{"x":"y"}}"#).unwrap();
        assert_eq!(body(updated)["metadata"], json!({"x": "y"}));
        let m = body(handle(&store, Method::Get, "chatcmpl-0/messages", "", b"").unwrap());
        assert_eq!(m["data"][1]["id"], "chatcmpl-0-1");
        assert_eq!((m["data"][1]["content"].as_str(), m["data"][0]["content_parts"].is_null()), (Some("Hi"), true));
        assert_eq!(handle(&store, Method::Post, "chatcmpl-0", "", b"{}").unwrap().status, 400);
        assert!(handle(&store, Method::Delete, "chatcmpl-0/messages", "", b"").is_none());
        assert_eq!(body(handle(&store, Method::Delete, "chatcmpl-0", "", b"").unwrap())["deleted"], true);
        assert_eq!(handle(&store, Method::Get, "chatcmpl-0", "", b"").unwrap().status, 404);
    }
}
