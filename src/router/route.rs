//! One route as an API module declares it.

use crate::{
    api::{Ctx, Dialect, Outcome, Request},
    app::App,
    config::ServerArgs,
    proto::http1::Method,
};

/// Serves one routed request.
pub type Handler = fn(&App, &mut Ctx<'_>, &Request<'_>) -> Outcome;

/// Parses a route's body (into `Result<T, Error>` for the `T` its handler takes with
/// [`Request::prepared_or`](crate::api::Request::prepared_or)); run on a background thread
/// for large bodies.
pub type Prepare = fn(&App, &[u8]) -> Box<dyn std::any::Any + Send>;

/// What the request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// Nothing (a body, if sent, is read and ignored).
    None,
    /// A JSON document.
    Json,
    /// `multipart/form-data`.
    Multipart,
    /// A protocol upgrade (WebSocket); the connection is handed over to the protocol named.
    Upgrade(Upgrade),
}

/// The WebSocket protocols a connection can be handed over to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    /// `/metrics/stream`: live metrics updates.
    MetricsStream,
    /// `/v1/realtime`: OpenAI's Realtime API.
    Realtime,
}

/// Who may call the route once authentication is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// Anyone (health, metrics, the dashboard).
    Open,
    /// A valid API key.
    Key,
    /// An admin key (organization management).
    Admin,
}

/// One method on one path pattern (`matchit` syntax: `{id}`, and `{*rest}` last).
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The method served (`HEAD` is served by the `GET` route).
    pub method: Method,
    /// The path pattern.
    pub pattern: &'static str,
    /// The bounded metrics label of requests to it (by default the pattern).
    pub label: &'static str,
    /// The handler.
    pub handler: Handler,
    /// What the body is.
    pub body: BodyKind,
    /// Who may call it.
    pub auth: AuthKind,
    /// The error envelope its errors use.
    pub dialect: Dialect,
    /// It serves metrics: the serving core publishes its own first, so the answer is fresh.
    pub scrape: bool,
    /// Parses a large body off the worker's event loop before the handler runs.
    pub prepare: Option<Prepare>,
}

impl Route {
    /// The largest body this route reads. One that parses its JSON on the worker (no `prepare`)
    /// takes at most `--max-json-body-size`, so that no body holds the core's other streams for
    /// more than a few milliseconds; the rest take up to `--max-body-size`.
    pub fn body_limit(&self, args: &ServerArgs) -> u64 {
        match self.body {
            BodyKind::Json if self.prepare.is_none() => args.max_json_body_size.min(args.max_body_size),
            _ => args.max_body_size,
        }
    }

    const fn new(method: Method, pattern: &'static str, handler: Handler, body: BodyKind) -> Route {
        Route {
            method,
            pattern,
            label: pattern,
            handler,
            body,
            auth: AuthKind::Key,
            dialect: Dialect::OpenAi,
            scrape: false,
            prepare: None,
        }
    }

    /// `GET pattern`.
    pub const fn get(pattern: &'static str, handler: Handler) -> Route {
        Route::new(Method::Get, pattern, handler, BodyKind::None)
    }

    /// `POST pattern` with a JSON body.
    pub const fn post(pattern: &'static str, handler: Handler) -> Route {
        Route::new(Method::Post, pattern, handler, BodyKind::Json)
    }

    /// `PATCH pattern` with a JSON body.
    pub const fn patch(pattern: &'static str, handler: Handler) -> Route {
        Route::new(Method::Patch, pattern, handler, BodyKind::Json)
    }

    /// `DELETE pattern`.
    pub const fn delete(pattern: &'static str, handler: Handler) -> Route {
        Route::new(Method::Delete, pattern, handler, BodyKind::None)
    }

    /// Counts requests under `label` instead of the pattern.
    pub const fn label(mut self, label: &'static str) -> Route {
        self.label = label;
        self
    }

    /// Needs no key.
    pub const fn open(mut self) -> Route {
        self.auth = AuthKind::Open;
        self
    }

    /// Needs an admin key.
    pub const fn admin(mut self) -> Route {
        self.auth = AuthKind::Admin;
        self
    }

    /// Errors in `dialect`'s envelope.
    pub const fn dialect(mut self, dialect: Dialect) -> Route {
        self.dialect = dialect;
        self
    }

    /// The body is `kind`.
    pub const fn body(mut self, kind: BodyKind) -> Route {
        self.body = kind;
        self
    }

    /// Parses large bodies with `prepare` on a background thread, so that tokenizing a
    /// megabyte prompt does not delay the other streams of the worker.
    pub const fn prepare(mut self, prepare: Prepare) -> Route {
        self.prepare = Some(prepare);
        self
    }

    /// Serves metrics (an open route answered from freshly published figures).
    pub const fn scrape(mut self) -> Route {
        self.scrape = true;
        self.open()
    }
}
