//! The APIs fakeai serves, one module each. Every module declares its routes once in a
//! `ROUTES` table (see [`crate::router`]) and answers with a [`Reply`]: sans-IO, so the
//! connection loop alone decides when and how the bytes go out.

use std::{sync::Arc, time::Duration};

use crate::{generation::GenSummary, proto::http1::RequestHead, rng::Rng, sse::TokenStream};

pub use crate::error::{Dialect, Error};

pub mod admin;
pub mod anthropic;
pub mod assistants;
pub mod audio;
pub mod batches;
pub mod common;
pub mod conversations;
pub mod dcgm;
pub mod embeddings;
pub mod events;
pub mod file_checks;
pub mod file_search;
pub mod files;
pub mod fine_tuning;
pub mod generate;
pub mod health;
pub mod images;
pub mod media;
pub mod models;
pub mod moderation;
pub mod observability;
pub mod openai;
pub mod organization;
pub mod rag;
pub mod rankings;
pub mod rate_limits;
pub mod realtime;
pub mod tgi;
pub mod uploads;
pub mod usage;
pub mod vector_stores;
pub mod videos;
pub mod vllm;

/// `application/json`.
pub const JSON: &str = "application/json";

/// A response body, sent without being copied first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Compiled into the binary (the dashboard).
    Static(&'static [u8]),
    /// Shared with a store or cache (a pre-rendered list, a stored object).
    Shared(Arc<[u8]>),
    /// Built for this response.
    Owned(Vec<u8>),
}

impl Body {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Body::Static(b) => b,
            Body::Shared(b) => b,
            Body::Owned(b) => b,
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body::Owned(v)
    }
}

/// A complete response with its status and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Full {
    /// Status code.
    pub status: u16,
    /// `Content-Type` (empty: none).
    pub content_type: &'static str,
    /// Body bytes.
    pub body: Body,
    /// Extra headers.
    pub extra: Vec<(&'static str, String)>,
    /// The error type when this is an error envelope (counted by type).
    pub error_type: Option<&'static str>,
}

impl Full {
    /// A 200 response of `content_type`.
    pub fn text(content_type: &'static str, body: impl Into<Body>) -> Full {
        Full { status: 200, content_type, body: body.into(), extra: Vec::new(), error_type: None }
    }

    /// A 200 JSON response.
    pub fn json(body: impl Into<Body>) -> Full {
        Full::text(JSON, body)
    }

    /// A 200 JSON response of a value.
    pub fn value(v: &serde_json::Value) -> Full {
        Full::json(v.to_string().into_bytes())
    }

    /// `e` in `dialect`'s error envelope.
    pub fn error(e: &Error, dialect: Dialect) -> Full {
        Full { status: e.status, error_type: Some(e.kind), ..Full::json(e.to_json_in(dialect)) }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Full {
        self.extra.push((name, value.into()));
        self
    }
}

impl From<Error> for Full {
    fn from(e: Error) -> Full {
        Full::error(&e, Dialect::OpenAi)
    }
}

/// What to send.
// A generation's summary (its usage with cached tokens) is 8 bytes past the lint's 200-byte
// margin over `Now`; a reply is moved a few times per request, so boxing it would cost more.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Reply {
    /// Send now.
    Now(Full),
    /// A non-streaming generation: send once `after` has passed since the request arrived.
    Generated {
        /// Delay from arrival.
        after: Duration,
        /// The response.
        full: Full,
        /// What metrics record once it is sent.
        summary: GenSummary,
    },
    /// Stream SSE events on the stream's schedule.
    Stream(Box<TokenStream>),
    /// Stream pre-rendered SSE events, each at its own offset (streams that are not tokens).
    Events(Box<events::TimedEvents>),
    /// Send once the changes the handler made are durable (`--data-dir`).
    AfterDurable {
        /// What the reply waits for.
        ack: crate::state::persist::Durable,
        /// The response.
        full: Full,
    },
}

impl Reply {
    /// This reply, held until the changes its handler just made on this thread are durable
    /// (`--data-dir`: a reply sent at once; streams and timed replies go out on their schedule,
    /// their changes durable within one commit); without a data directory, unchanged.
    pub fn once_durable(self) -> Reply {
        match (self, crate::state::persist::take_pending()) {
            (Reply::Now(full), Some(ack)) => Reply::AfterDurable { ack, full },
            (reply, _) => reply,
        }
    }
}

impl From<Full> for Reply {
    fn from(f: Full) -> Reply {
        Reply::Now(f)
    }
}

/// Per-request context from the worker.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The worker's random source.
    pub rng: &'a mut Rng,
    /// Wall clock, unix seconds and microseconds.
    pub unix_now: (u64, u32),
}

/// One routed request: its head, its body and the path's parameters.
#[derive(Debug)]
pub struct Request<'a> {
    /// The parsed head.
    pub head: &'a RequestHead,
    /// The whole body (decoded if it was chunked).
    pub body: &'a [u8],
    /// Path parameters by name, percent-decoded.
    pub params: &'a [(&'a str, String)],
    /// The body's parse, when the route prepared it off the event loop ([`crate::router::Route::prepare`]).
    pub prepared: Prepared,
}

/// A large body's parse, made on a background thread so that the worker's streams do not wait
/// for it; the handler takes it instead of parsing the body again.
#[derive(Default)]
pub struct Prepared(std::cell::Cell<Option<Box<dyn std::any::Any + Send>>>);

impl Prepared {
    /// Holds `parse`, the value a route's `prepare` function returned.
    pub fn new(parse: Box<dyn std::any::Any + Send>) -> Prepared {
        Prepared(std::cell::Cell::new(Some(parse)))
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.0.take();
        let shown = f.write_str(if held.is_some() { "Prepared(held)" } else { "Prepared(none)" });
        self.0.set(held);
        shown
    }
}

impl Request<'_> {
    /// The path parameter `name` (empty when the route has none of that name).
    pub fn param(&self, name: &str) -> &str {
        self.params.iter().find(|(k, _)| *k == name).map_or("", |(_, v)| v.as_str())
    }

    /// The first value of query parameter `name`, decoded (`+` is a space).
    pub fn query(&self, name: &str) -> Option<String> {
        crate::proto::query::param(self.head.query(), name)
    }

    /// The body's parse: the one prepared off the event loop if there is one, else `parse()`
    /// (small bodies, and requests served outside a worker, parse inline).
    pub fn prepared_or<T: 'static>(&self, parse: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        let held = self.prepared.0.take().and_then(|any| any.downcast::<Result<T, Error>>().ok());
        held.map_or_else(parse, |parsed| *parsed)
    }
}

/// What a handler returns: a reply, or an error rendered in the route's dialect.
pub type Outcome = Result<Reply, Error>;
