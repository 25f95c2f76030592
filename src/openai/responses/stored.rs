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
    openai::stores::list_error,
    state::store::{Object, PageQuery, Store, UNDATED, json_id, page_of},
};

/// One stored response.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Its id.
    pub id: String,
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

impl Object for Stored {
    const KIND: &'static str = "Response";
    fn id(&self) -> &str {
        &self.id
    }
}

/// The store of responses, for `previous_response_id` and retrieval.
pub type ResponseStore = Store<Stored>;

impl Stored {
    /// Where the response stands at `now` (unix microseconds).
    fn status_at(&self, now: u64) -> Option<Status> {
        match self.background {
            Some(b) if b.cancelled => Some(Status::Cancelled),
            Some(b) if now < b.done_at => Some(Status::InProgress),
            _ => None,
        }
    }

    /// The response object at `now` (the stored bytes themselves once it is done).
    fn body_at(&self, now: u64) -> Arc<[u8]> {
        match self.status_at(now) {
            None => self.body.clone(),
            Some(status) => {
                let done: Value = serde_json::from_slice(&self.body).unwrap_or_default();
                object::pending(&done, status).to_string().into_bytes().into()
            }
        }
    }
}

/// The immediate reply of a background request: its response, queued. `None` unless the request
/// (`params`, not streamed) runs in the background and its finished object `full` was built.
pub fn queued(params: Option<&Params>, stream: bool, full: Option<&[u8]>) -> Option<Value> {
    let full = full.filter(|_| !stream && params.is_some_and(|p| p.background))?;
    let done: Value = serde_json::from_slice(full).ok()?;
    Some(object::pending(&done, Status::Queued))
}

/// `GET /v1/responses/{id}` at `now` (unix microseconds): the finished object is shared as stored.
pub fn retrieve(store: &ResponseStore, id: &str, now: u64) -> Result<Arc<[u8]>, Error> {
    store.with(id, UNDATED, |s| s.body_at(now)).ok_or_else(|| not_found(id))
}

/// `DELETE /v1/responses/{id}`.
pub fn delete(store: &ResponseStore, id: &str) -> Result<Value, Error> {
    store.remove(id)?.ok_or_else(|| not_found(id))?;
    Ok(json!({"id": id, "object": "response", "deleted": true}))
}

/// `POST /v1/responses/{id}/cancel` at `now`: cancels a background response still running; a
/// finished one stays as it is; others are a 400. With the object, whether this call cancelled it.
pub fn cancel(store: &ResponseStore, id: &str, now: u64) -> Result<(Arc<[u8]>, bool), Error> {
    let cancelled = store.update(id, |s| {
        let Some(background) = s.background.as_mut() else {
            let message = "Only responses created with background: true can be cancelled.";
            return Err(Error::invalid_param("response_id", message));
        };
        let newly = now < background.done_at && !background.cancelled;
        background.cancelled |= newly;
        Ok((s.body_at(now), newly))
    })?;
    cancelled.map(|(_, body)| body).ok_or_else(|| not_found(id))?
}

/// `GET /v1/responses/{id}/input_items`: the `page` of the request's input items.
pub fn input_items(store: &ResponseStore, id: &str, page: &PageQuery) -> Result<Value, Error> {
    let request = store.with(id, UNDATED, |s| s.request.clone()).ok_or_else(|| not_found(id))?;
    let request: Value = serde_json::from_slice(&request).unwrap_or_default();
    let suffix = id.split_once('_').map_or(id, |(_, s)| s);
    let items = items::from_input(&request["input"], |i| format!("msg_{suffix}_{i}"));
    Ok(page_of(&items, json_id, "item", page).map_err(list_error)?.to_json(Value::clone))
}

fn not_found(id: &str) -> Error {
    let message = format!("Response with id '{id}' not found.");
    Error::new(404, "invalid_request_error", message).with_param("response_id").with_code("not_found")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::store::{Limits, Order};

    const NEWEST_FIRST: PageQuery = PageQuery { limit: 20, after: None, before: None, order: Order::Desc };

    fn stored(background: Option<Background>) -> ResponseStore {
        let store = ResponseStore::new(Limits::rolling(4));
        let body = json!({"id": "resp_1", "status": "completed", "output": [{"type": "message"}], "usage": {}});
        let request = json!({"input": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]});
        let s = Stored {
            id: "resp_1".into(),
            context_tokens: 3,
            body: body.to_string().into_bytes().into(),
            request: request.to_string().into_bytes().into(),
            background,
        };
        store.insert(s, UNDATED).unwrap();
        store
    }

    fn status(body: Arc<[u8]>) -> String {
        serde_json::from_slice::<Value>(&body).unwrap()["status"].as_str().unwrap().to_owned()
    }

    #[test]
    fn background_responses_run_until_their_time_unless_cancelled() {
        let store = stored(Some(Background { done_at: 100, cancelled: false }));
        assert_eq!(status(retrieve(&store, "resp_1", 99).unwrap()), "in_progress");
        assert_eq!(status(retrieve(&store, "resp_1", 100).unwrap()), "completed");
        assert_eq!(
            cancel(&store, "resp_1", 100).map(|(b, newly)| (status(b), newly)).unwrap(),
            ("completed".into(), false)
        );
        assert_eq!(
            cancel(&store, "resp_1", 50).map(|(b, newly)| (status(b), newly)).unwrap(),
            ("cancelled".into(), true)
        );
        assert!(!cancel(&store, "resp_1", 60).unwrap().1, "cancelled once");
        assert_eq!(status(retrieve(&store, "resp_1", 200).unwrap()), "cancelled");
        let foreground = stored(None);
        assert_eq!(cancel(&foreground, "resp_1", 0).unwrap_err().status, 400);
        assert_eq!(cancel(&foreground, "resp_2", 0).unwrap_err().status, 404);
    }

    #[test]
    fn input_items_newest_first() {
        let store = stored(None);
        let v = input_items(&store, "resp_1", &NEWEST_FIRST).unwrap();
        assert_eq!((v["first_id"].as_str(), v["last_id"].as_str()), (Some("msg_1_1"), Some("msg_1_0")));
        assert_eq!(v["data"][0]["content"][0]["text"], "b");
        assert_eq!(input_items(&store, "resp_2", &NEWEST_FIRST).unwrap_err().status, 404);
        assert_eq!(delete(&store, "resp_1").unwrap()["deleted"], true);
    }
}
