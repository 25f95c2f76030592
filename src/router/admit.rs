//! Admission: the one check every routed request passes before its handler runs. A keyed route
//! needs a known API key (when keys are configured) and room in that key's rate limits; the
//! answer is the `x-ratelimit-*` headers its response carries, or the 401/429 it gets instead,
//! in the route's dialect. Nothing here runs per token, and with auth and limits off it is one
//! branch.
//!
//! Token cost is estimated here, before the handler parses the body, as OpenAI estimates it at
//! admission: the prompt at ~4 bytes a token (the JSON body's length, so never less than the
//! prompt's text) plus the `max_tokens` the request asks for. The body is already read, so
//! nothing waits on parsing. Once the handler has answered a generation, [`settle`] corrects
//! the charge to its real usage (prompt plus completion tokens), as OpenAI does.

use std::sync::{Arc, atomic::Ordering};

use super::{AuthKind, BodyKind, Route};
use crate::{
    api::{Dialect, Full, Reply, Request},
    app::App,
    error::Error,
    generation::GenSummary,
    state::{
        auth::{self, Denied, KeyEntry},
        org::OrgKey,
        ratelimit::{self, Refusal},
    },
};

/// Headers a response carries once admitted.
pub type Granted = Vec<(&'static str, String)>;

/// An admitted request: its headers, and the token estimate it was charged, to be settled
/// against its real usage.
#[derive(Debug, Default)]
pub struct Admission {
    /// The `x-ratelimit-*` headers.
    pub headers: Granted,
    /// The token charge, when token limits apply.
    pub charge: Option<Charge>,
    /// The fault to inject, when one is not an HTTP error (those answer at admission).
    pub fault: Option<crate::state::faults::Fault>,
}

/// Tokens a request was charged at admission.
#[derive(Debug)]
pub struct Charge {
    entry: Arc<KeyEntry>,
    estimated: u64,
}

/// Corrects `charge` by the usage of `reply` once the handler has answered (generations only;
/// other replies keep their estimate).
pub fn settle(app: &App, charge: Charge, reply: &Reply) {
    let billed = |s: &GenSummary| s.usage.prompt_tokens + s.usage.completion_tokens;
    let used = match reply {
        Reply::Generated { summary, .. } => billed(summary),
        Reply::Stream(stream) => billed(&stream.summary()),
        Reply::Events(events) => billed(events.summary()),
        Reply::Now(_) | Reply::AfterDurable { .. } => return,
    };
    charge.entry.limiter.settle(charge.estimated, used, app.state.auth.now());
}

/// Admits `req` to `route`, or answers it with a 401 or 429 (or an injected HTTP error, decided
/// after the key and its limits). `hangups` is the SIGHUP count (a new one reloads the keys
/// file first).
pub fn admit(app: &App, route: &Route, req: &Request<'_>, hangups: u64) -> Result<Admission, Full> {
    if route.auth == AuthKind::Admin && !app.args.admin_key.is_empty() {
        return admin(app, route, req);
    }
    let mut admission = authorize(app, route, req, hangups)?;
    // Admin routes are never faulted: a fault rate must not lock out the PATCH that lifts it.
    if route.auth == AuthKind::Key {
        admission.fault = super::faults::decide(app, route, req)?;
    }
    Ok(admission)
}

/// An admin route once admin keys are configured: one of them, and no other key, is admitted
/// (without rate limits or faults).
fn admin(app: &App, route: &Route, req: &Request<'_>) -> Result<Admission, Full> {
    let head = req.head;
    let key = auth::presented(
        head.header(crate::proto::http1::Field::Authorization),
        head.header(crate::proto::http1::Field::XApiKey),
        head.header(crate::proto::http1::Field::ApiKey),
    );
    let denied = match key {
        None => Denied::Missing,
        Some(k) if app.args.admin_key.iter().any(|a| auth::ct_eq(a.as_bytes(), k.as_bytes())) => {
            return Ok(Admission::default());
        }
        Some(_) => Denied::Invalid,
    };
    Err(Full {
        error_type: Some("authentication_error"),
        ..Full::error(&unauthorized(denied, route.dialect), route.dialect)
    })
}

/// The key and rate-limit checks of [`admit`].
fn authorize(app: &App, route: &Route, req: &Request<'_>, hangups: u64) -> Result<Admission, Full> {
    let auth = &app.state.auth;
    let head = req.head;
    let key = auth::presented(
        head.header(crate::proto::http1::Field::Authorization),
        head.header(crate::proto::http1::Field::XApiKey),
        head.header(crate::proto::http1::Field::ApiKey),
    );
    // Whatever the handler bills, it bills to the key's project (read on this thread, before any await).
    crate::state::usage::attribute(app.state.org.payer_of(key));
    if route.auth == AuthKind::Open || !auth.active() {
        return Ok(Admission::default());
    }
    auth.on_hangups(hangups);
    let entry = match (auth.identify(key), key) {
        (Ok(entry), _) => entry,
        (Err(Denied::Invalid), Some(key)) => match app.state.org.key_kind(key, crate::clock::unix_now().0) {
            Some(kind) => org_key(app, route, key, kind)?,
            None => return Err(refused(app, route, Denied::Invalid)),
        },
        (Err(denied), _) => return Err(refused(app, route, denied)),
    };
    if !auth.limits().any() {
        entry.admitted.fetch_add(1, Ordering::Relaxed);
        return Ok(Admission::default());
    }
    let tokens = if route.body == BodyKind::Json { estimated_tokens(req.body) } else { 0 };
    let mut granted = Granted::with_capacity(8);
    match entry.limiter.admit(tokens, auth.now()) {
        Ok(headers) => {
            entry.admitted.fetch_add(1, Ordering::Relaxed);
            headers.render(&mut granted);
            let charge = (tokens > 0 && entry.limiter.counts_tokens()).then_some(Charge { entry, estimated: tokens });
            Ok(Admission { headers: granted, charge, fault: None })
        }
        Err(refusal) => {
            entry.throttled.fetch_add(1, Ordering::Relaxed);
            Err(throttled(&refusal, route.dialect))
        }
    }
}

/// The 401 of a request `denied`, counted by why.
fn refused(app: &App, route: &Route, denied: Denied) -> Full {
    let auth = &app.state.auth;
    let counter = if denied == Denied::Missing { &auth.missing } else { &auth.invalid };
    counter.fetch_add(1, Ordering::Relaxed);
    // Counted by what it is; the wire keeps OpenAI's `type`.
    Full {
        error_type: Some("authentication_error"),
        ..Full::error(&unauthorized(denied, route.dialect), route.dialect)
    }
}

/// A key the organization endpoints made, scoped as OpenAI scopes it: an admin key calls the
/// organization endpoints and nothing else, a project (or service account) key everything else;
/// the wrong kind gets OpenAI's 403 naming the scope it lacks.
fn org_key(app: &App, route: &Route, key: &str, kind: OrgKey) -> Result<Arc<KeyEntry>, Full> {
    let organization = route.pattern.starts_with("/v1/organization");
    if (kind == OrgKey::Admin) == organization {
        return Ok(app.state.auth.org_entry(key));
    }
    let scope = if organization { "api.management.read" } else { "model.request" };
    let message = format!(
        "You have insufficient permissions for this operation. Missing scopes: {scope}. Check that you have the \
         correct role in your organization, and if you're using a restricted API key, that it has the necessary scopes."
    );
    Err(Full::error(&Error::new(403, "invalid_request_error", message), route.dialect))
}

/// The 401 of `denied`, with OpenAI's (or Anthropic's) messages; the key is never echoed.
fn unauthorized(denied: Denied, dialect: Dialect) -> Error {
    let message = match (dialect, denied) {
        (Dialect::Anthropic, Denied::Missing) => "x-api-key header is required",
        (Dialect::Anthropic, Denied::Invalid) => "invalid x-api-key",
        (_, Denied::Missing) => {
            "You didn't provide an API key. You need to provide your API key in an Authorization header \
             using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from \
             https://platform.openai.com/account/api-keys."
        }
        (_, Denied::Invalid) => {
            "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."
        }
    };
    let e = Error::new(401, "invalid_request_error", message);
    if denied == Denied::Invalid { e.with_code("invalid_api_key") } else { e }
}

/// The 429 of `r`, with `retry-after` (whole seconds, rounded up) and `retry-after-ms` when a
/// retry can succeed, and the limits as they stand.
fn throttled(r: &Refusal, dialect: Dialect) -> Full {
    let message = match r.retry_after {
        Some(wait) => format!(
            "Rate limit reached on {}: Limit {}, Requested {}. Please try again in {}.",
            r.by.describe(),
            r.limit,
            r.requested,
            ratelimit::openai_duration(wait)
        ),
        None => format!(
            "Request too large on {}: Limit {}, Requested {}. The input or output tokens must be reduced in \
             order to run successfully.",
            r.by.describe(),
            r.limit,
            r.requested
        ),
    };
    let e = Error::new(429, r.by.kind(), message).with_code("rate_limit_exceeded");
    let mut full = Full { error_type: Some("rate_limit_error"), ..Full::error(&e, dialect) };
    if let Some(wait) = r.retry_after {
        full = full
            .with_header("retry-after", ratelimit::retry_after_secs(wait).to_string())
            .with_header("retry-after-ms", ratelimit::retry_after_ms(wait).to_string());
    }
    r.headers.render(&mut full.extra);
    full
}

/// Tokens a JSON request may use: its length at ~4 bytes a token plus the output it allows.
pub fn estimated_tokens(body: &[u8]) -> u64 {
    if body.is_empty() {
        return 0;
    }
    (body.len() as u64).div_ceil(4) + requested_output(body)
}

/// How much of each end of a large body [`requested_output`] reads. A large body is mostly its
/// prompt, and clients write the output limit before it or after it (the SDKs write it after
/// `messages`), so its two ends hold it. Searching a whole 57 MB body for the four names took
/// ~70 ms (release build) on the worker's thread; its ends take ~20 µs.
const SEARCHED_END: usize = 64 << 10;

/// The first of `max_completion_tokens`, `max_tokens`, `max_output_tokens` or
/// `max_new_tokens` the body sets (0 when none), found without parsing the JSON: anywhere in a
/// body of up to 128 KiB, in the first or last 64 KiB of a larger one.
fn requested_output(body: &[u8]) -> u64 {
    const NAMES: [&[u8]; 4] =
        [b"\"max_completion_tokens\"", b"\"max_tokens\"", b"\"max_output_tokens\"", b"\"max_new_tokens\""];
    // (offset, part): the whole of a small body, the two ends of a large one.
    let searched: [(usize, &[u8]); 2] = if body.len() <= 2 * SEARCHED_END {
        [(0, body), (body.len(), &[])]
    } else {
        let tail_from = body.len() - SEARCHED_END;
        [(0, &body[..SEARCHED_END]), (tail_from, &body[tail_from..])]
    };
    NAMES
        .iter()
        .find_map(|name| {
            let found = searched.iter().find_map(|(from, part)| Some(from + memchr::memmem::find(part, name)?));
            let at = found? + name.len();
            let rest = body[at..].trim_ascii_start().strip_prefix(b":")?.trim_ascii_start();
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_estimate_counts_the_body_and_the_requested_output() {
        assert_eq!(estimated_tokens(b""), 0);
        let body = br#"{"model":"m","messages":[],"max_tokens" : 100}"#;
        assert_eq!(estimated_tokens(body), (body.len() as u64).div_ceil(4) + 100);
        let body = br#"{"max_completion_tokens":7,"max_tokens":9}"#;
        assert_eq!(estimated_tokens(body), 11 + 7, "the newer name first");
        assert_eq!(requested_output(br#"{"max_tokens":null}"#), 0);
    }

    #[test]
    fn a_large_body_is_searched_at_its_ends_only() {
        let prompt = "x".repeat(1 << 20);
        let after = format!(r#"{{"messages":[{{"role":"user","content":"{prompt}"}}],"max_tokens":42}}"#);
        assert_eq!(requested_output(after.as_bytes()), 42, "after the prompt (as the SDKs write it)");
        let before = format!(r#"{{"max_output_tokens":7,"input":"{prompt}"}}"#);
        assert_eq!(requested_output(before.as_bytes()), 7, "before it");
        let inside = format!(r#"{{"input":"{prompt}","tools":[{{"max_tokens":5}}],"tail":"{prompt}"}}"#);
        assert_eq!(requested_output(inside.as_bytes()), 0, "a name deep inside a large body is not searched for");
        assert_eq!(estimated_tokens(after.as_bytes()), (after.len() as u64).div_ceil(4) + 42);
        let straddling = format!(r#"{{"a":"{}","max_tokens":3}}"#, "y".repeat(SEARCHED_END - 10));
        assert_eq!(requested_output(straddling.as_bytes()), 3, "a body of up to twice the window is read whole");
    }

    #[test]
    fn unauthorized_speaks_each_dialect() {
        let e = unauthorized(Denied::Invalid, Dialect::OpenAi);
        assert_eq!((e.status, e.code), (401, Some("invalid_api_key")));
        let body: serde_json::Value = serde_json::from_slice(&e.to_json_in(Dialect::Anthropic)).unwrap();
        assert_eq!(body["error"]["type"], "authentication_error");
        assert_eq!(unauthorized(Denied::Missing, Dialect::Anthropic).message, "x-api-key header is required");
    }
}
