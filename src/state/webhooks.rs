//! Webhooks: OpenAI's event payloads (`batch.*`, `fine_tuning.job.*`, `response.*`), signed as
//! OpenAI signs them (Standard Webhooks: `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}"))`), queued by
//! due time for the delivery thread (`src/server/webhooks.rs`), which retries with backoff.
//!
//! Events are emitted where an object reaches a final status (the batch and fine-tuning threads,
//! the cancel handlers) and, for background responses whose end is a time rather than a
//! transition, scheduled at that time with a guard checked when it comes.

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    sync::{
        Condvar, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Deliveries tried per endpoint before an event is given up (about 4 minutes of backoff).
pub const MAX_ATTEMPTS: u32 = 8;

/// One event for one endpoint, due at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// When to try it.
    pub due: Instant,
    /// The endpoint's URL.
    pub url: String,
    /// The event id (`evt_…`): the same on every retry, so receivers can deduplicate.
    pub id: String,
    /// The event's type, e.g. `batch.completed`.
    pub kind: &'static str,
    /// The JSON payload.
    pub body: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// A condition checked when it is due; an event whose guard fails is dropped.
    pub guard: Guard,
}

impl Ord for Delivery {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, &self.id, &self.url).cmp(&(other.due, &other.id, &other.url))
    }
}

impl PartialOrd for Delivery {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// What must still hold when a scheduled event comes due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// Nothing: the event is sent.
    None,
    /// The background response with this id was not cancelled (nor deleted) meanwhile.
    ResponseRan(String),
}

/// Delivery counts, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counts {
    /// Events a receiver acknowledged with a 2xx.
    pub delivered: AtomicU64,
    /// Attempts that failed and were scheduled again.
    pub retried: AtomicU64,
    /// Events given up after [`MAX_ATTEMPTS`].
    pub failed: AtomicU64,
    /// Scheduled events dropped because their guard no longer held.
    pub dropped: AtomicU64,
}

/// The configured endpoints and the queue of deliveries.
#[derive(Debug, Default)]
pub struct Webhooks {
    urls: Vec<String>,
    secret: Vec<u8>,
    queue: Mutex<BinaryHeap<Reverse<Delivery>>>,
    ready: Condvar,
    sequence: AtomicU64,
    /// Delivery counts.
    pub counts: Counts,
}

impl Webhooks {
    /// Webhooks to `urls`, signed with `secret` (`whsec_…` base64, or raw text as the SDK takes it).
    pub fn new(urls: Vec<String>, secret: Option<&str>) -> Webhooks {
        Webhooks { urls, secret: secret.map(secret_bytes).unwrap_or_default(), ..Webhooks::default() }
    }

    /// Whether any endpoint is configured (otherwise emitting does nothing).
    pub fn enabled(&self) -> bool {
        !self.urls.is_empty()
    }

    /// Sends event `kind` about object `object_id` now.
    pub fn emit(&self, kind: &'static str, object_id: &str) {
        self.emit_at(kind, object_id, Instant::now(), Guard::None);
    }

    /// Sends event `kind` about `object_id` at `due`, if `guard` still holds then.
    pub fn emit_at(&self, kind: &'static str, object_id: &str, due: Instant, guard: Guard) {
        if !self.enabled() {
            return;
        }
        let id = self.event_id();
        let created_at = crate::clock::unix_now().0 + due.saturating_duration_since(Instant::now()).as_secs();
        let body = payload(&id, kind, object_id, created_at);
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        for url in &self.urls {
            let (url, id, body, guard) = (url.clone(), id.clone(), body.clone(), guard.clone());
            queue.push(Reverse(Delivery { due, url, id, kind, body, attempts: 0, guard }));
        }
        self.ready.notify_one();
    }

    /// The next delivery once it is due, waiting up to `timeout` for one.
    pub fn next(&self, timeout: Duration) -> Option<Delivery> {
        let end = Instant::now() + timeout;
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let now = Instant::now();
            let wait = match queue.peek() {
                Some(Reverse(d)) if d.due <= now => return queue.pop().map(|Reverse(d)| d),
                Some(Reverse(d)) => d.due.min(end).saturating_duration_since(now),
                None => end.saturating_duration_since(now),
            };
            if wait.is_zero() {
                return None;
            }
            queue = self.ready.wait_timeout(queue, wait).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// A failed attempt: tried again after the backoff, or given up after [`MAX_ATTEMPTS`].
    pub fn failed(&self, mut delivery: Delivery) {
        delivery.attempts += 1;
        if delivery.attempts >= MAX_ATTEMPTS {
            self.counts.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.counts.retried.fetch_add(1, Ordering::Relaxed);
        delivery.due = Instant::now() + backoff(delivery.attempts);
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).push(Reverse(delivery));
        self.ready.notify_one();
    }

    /// The signature header of `body` sent as event `id` at unix second `timestamp`.
    pub fn signature(&self, id: &str, timestamp: u64, body: &str) -> String {
        sign(&self.secret, id, timestamp, body.as_bytes())
    }

    /// A fresh event id: `evt_` and 32 hex digits, unique in this process.
    fn event_id(&self) -> String {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let (s, us) = crate::clock::unix_now();
        let mixed = crate::rng::Rng::new(s ^ u64::from(us) << 20 ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64();
        format!("evt_{mixed:016x}{n:016x}")
    }
}

/// How long to wait before attempt `attempts + 1`: 1 s doubling, at most 2 minutes.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1 << attempts.saturating_sub(1).min(7)).min(Duration::from_secs(120))
}

/// The secret's key bytes: the base64 after `whsec_`, else the text itself (as the SDK decodes it).
pub fn secret_bytes(secret: &str) -> Vec<u8> {
    match secret.strip_prefix("whsec_") {
        Some(b64) => STANDARD.decode(b64).unwrap_or_else(|_| secret.as_bytes().to_vec()),
        None => secret.as_bytes().to_vec(),
    }
}

/// `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` under `key`.
pub fn sign(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// OpenAI's webhook payload: `{id, object: "event", created_at, type, data: {id}}`.
pub fn payload(id: &str, kind: &str, object_id: &str, created_at: u64) -> String {
    serde_json::json!({"id": id, "object": "event", "created_at": created_at, "type": kind, "data": {"id": object_id}})
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_vector() {
        // The Standard Webhooks specification's test vector.
        let key = secret_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_secret_without_the_prefix_is_its_own_bytes() {
        assert_eq!(secret_bytes("plain"), b"plain");
        assert_eq!(secret_bytes("whsec_AAEC"), vec![0, 1, 2]);
    }

    #[test]
    fn deliveries_come_out_when_due_in_order() {
        let hooks = Webhooks::new(vec!["http://a/".into(), "http://b/".into()], Some("s"));
        hooks.emit_at("response.completed", "resp_2", Instant::now() + Duration::from_millis(30), Guard::None);
        hooks.emit("batch.completed", "batch_1");
        let first = hooks.next(Duration::ZERO).unwrap();
        assert_eq!((first.kind, first.url.as_str()), ("batch.completed", "http://a/"));
        assert_eq!(hooks.next(Duration::ZERO).unwrap().url, "http://b/");
        assert_eq!(hooks.next(Duration::ZERO), None, "the response event is not due yet");
        let later = hooks.next(Duration::from_secs(5)).unwrap();
        assert_eq!(later.kind, "response.completed");
        let body: serde_json::Value = serde_json::from_str(&later.body).unwrap();
        assert_eq!((body["type"].as_str(), body["data"]["id"].as_str()), (Some("response.completed"), Some("resp_2")));
        assert!(later.id.starts_with("evt_") && later.id.len() == 36);
    }

    #[test]
    fn failures_back_off_then_give_up() {
        assert_eq!([1, 2, 3, 8].map(|a| backoff(a).as_secs()), [1, 2, 4, 120]);
        let hooks = Webhooks::new(vec!["http://a/".into()], None);
        hooks.emit("batch.failed", "batch_1");
        let mut d = hooks.next(Duration::ZERO).unwrap();
        d.attempts = MAX_ATTEMPTS - 1;
        hooks.failed(d);
        assert_eq!(hooks.counts.failed.load(Ordering::Relaxed), 1);
        assert_eq!(hooks.next(Duration::ZERO), None, "given up, not queued again");
    }

    #[test]
    fn nothing_is_queued_without_endpoints() {
        let hooks = Webhooks::new(vec![], None);
        hooks.emit("batch.completed", "batch_1");
        assert_eq!(hooks.next(Duration::ZERO), None);
    }
}
