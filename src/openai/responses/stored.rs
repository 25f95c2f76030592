//! Stored responses: `GET`/`DELETE /v1/responses/{id}`, `POST …/{id}/cancel` and
//! `GET …/{id}/input_items`. A background response reads as `in_progress` until the time its
//! generation would have ended, then as the finished object.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{
    items,
    object::{self, Params, Status},
};
use crate::{
    error::Error,
    http1::Method,
    openai::{
        list::{ListQuery, Order, paginate},
        object_store::ObjectStore,
    },
    route::Full,
};

/// One stored response.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Tokens a continuation inherits: this response's input (its own history included) and output.
    pub context_tokens: u64,
    /// The finished response object as JSON.
    pub body: Arc<[u8]>,
    /// The request as JSON (its `input` is listed by `input_items`).
    pub request: Arc<[u8]>,
    /// Set when the response runs in the background.
    pub background: Option<Background>,
}

/// A background response's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Background {
    /// When its generation ends, in unix microseconds.
    pub done_at: u64,
    /// Cancelled before it ended.
    pub cancelled: bool,
}

/// The store of responses, for `previous_response_id` and retrieval.
pub type ResponseStore = ObjectStore<Stored>;

impl Stored {
    /// Where the response stands at `now` (unix microseconds).
    fn status_at(&self, now: u64) -> Option<Status> {
        match self.background {
            Some(b) if b.cancelled => Some(Status::Cancelled),
            Some(b) if now < b.done_at => Some(Status::InProgress),
            _ => None,
        }
    }

    /// The response object at `now`.
    fn body_at(&self, now: u64) -> Vec<u8> {
        match self.status_at(now) {
            None => self.body.to_vec(),
            Some(status) => {
                let done: Value = serde_json::from_slice(&self.body).unwrap_or_default();
                object::pending(&done, status).to_string().into_bytes()
            }
        }
    }
}

/// The immediate reply of a background request: its response, queued. `None` unless the request
/// (`params`, not streamed) runs in the background and its finished object `full` was built.
pub fn queued(params: Option<&Params>, stream: bool, full: Option<&[u8]>) -> Option<Full> {
    let full = full.filter(|_| !stream && params.is_some_and(|p| p.background))?;
    let done: Value = serde_json::from_slice(full).ok()?;
    Some(json_reply(&object::pending(&done, Status::Queued)))
}

/// `/v1/responses/{rest}` at `now` (unix microseconds); `None` for a method the path does not take.
pub fn handle(store: &ResponseStore, method: Method, rest: &str, query: &str, now: u64) -> Option<Full> {
    let (id, action) = rest.split_once('/').unwrap_or((rest, ""));
    let reply = match (method, action) {
        (Method::Get, "") => store.with(id, |s| Full::json(s.body_at(now))),
        (Method::Delete, "") => {
            store.remove(id).map(|_| json_reply(&json!({"id": id, "object": "response", "deleted": true})))
        }
        (Method::Post, "cancel") => store.update(id, |s| cancel(s, now)),
        (Method::Get, "input_items") => store.with(id, |s| input_items(id, s, query)),
        _ => return None,
    };
    Some(reply.unwrap_or_else(|| not_found(id)))
}

/// Cancels a background response still running; a finished one stays as it is.
fn cancel(s: &mut Stored, now: u64) -> Full {
    let Some(background) = s.background.as_mut() else {
        let message = "Only responses created with background: true can be cancelled.";
        return Error::invalid_param("response_id", message).into();
    };
    if now < background.done_at {
        background.cancelled = true;
    }
    Full::json(s.body_at(now))
}

/// The request's input items, newest first by default.
fn input_items(id: &str, s: &Stored, query: &str) -> Full {
    let request: Value = serde_json::from_slice(&s.request).unwrap_or_default();
    let suffix = id.split_once('_').map_or(id, |(_, s)| s);
    let items = items::from_input(&request["input"], |i| format!("msg_{suffix}_{i}"));
    let page = ListQuery::parse(query, Order::Desc).and_then(|q| {
        let ids: Vec<String> = items.iter().map(|i| i["id"].as_str().unwrap_or_default().to_owned()).collect();
        paginate(ids.iter().map(String::as_str).zip(items.iter().cloned()), &q)
    });
    match page {
        Ok(page) => json_reply(&page.to_json()),
        Err(e) => e.into(),
    }
}

fn not_found(id: &str) -> Full {
    let message = format!("Response with id '{id}' not found.");
    Error::new(404, "invalid_request_error", message).with_param("response_id").with_code("not_found").into()
}

fn json_reply(v: &Value) -> Full {
    Full::json(v.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(background: Option<Background>) -> ResponseStore {
        let store = ResponseStore::new(4);
        let body = json!({"id": "resp_1", "status": "completed", "output": [{"type": "message"}], "usage": {}});
        let request = json!({"input": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]});
        let s = Stored {
            context_tokens: 3,
            body: body.to_string().into_bytes().into(),
            request: request.to_string().into_bytes().into(),
            background,
        };
        store.insert("resp_1".into(), s);
        store
    }

    fn status(full: Full) -> String {
        serde_json::from_slice::<Value>(&full.body).unwrap()["status"].as_str().unwrap().to_owned()
    }

    #[test]
    fn background_responses_run_until_their_time_unless_cancelled() {
        let store = stored(Some(Background { done_at: 100, cancelled: false }));
        assert_eq!(status(handle(&store, Method::Get, "resp_1", "", 99).unwrap()), "in_progress");
        assert_eq!(status(handle(&store, Method::Get, "resp_1", "", 100).unwrap()), "completed");
        assert_eq!(status(handle(&store, Method::Post, "resp_1/cancel", "", 100).unwrap()), "completed");
        assert_eq!(status(handle(&store, Method::Post, "resp_1/cancel", "", 50).unwrap()), "cancelled");
        assert_eq!(status(handle(&store, Method::Get, "resp_1", "", 200).unwrap()), "cancelled");
        let foreground = stored(None);
        assert_eq!(handle(&foreground, Method::Post, "resp_1/cancel", "", 0).unwrap().status, 400);
        assert!(handle(&foreground, Method::Put, "resp_1", "", 0).is_none());
    }

    #[test]
    fn input_items_newest_first() {
        let store = stored(None);
        let v: Value =
            serde_json::from_slice(&handle(&store, Method::Get, "resp_1/input_items", "", 0).unwrap().body).unwrap();
        assert_eq!((v["first_id"].as_str(), v["last_id"].as_str()), (Some("msg_1_1"), Some("msg_1_0")));
        assert_eq!(v["data"][0]["content"][0]["text"], "b");
        assert_eq!(handle(&store, Method::Get, "resp_2/input_items", "", 0).unwrap().status, 404);
    }
}
