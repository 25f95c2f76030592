//! Fault injection at admission: the request's fault is decided once (its headers, else the
//! seeded rules of [`crate::state::faults`]). An HTTP error fault answers instead of the handler,
//! in the route's dialect; the others shape the handler's reply (a mid-stream fault and a
//! latency spike go into the stream's plan) or are left for the connection to act on. Each one
//! injected is counted by kind.

use std::time::Duration;

use super::Route;
use crate::{
    api::{Dialect, Full, Reply, Request},
    app::App,
    error::Error,
    proto::http1::Field,
    state::faults::{Fault, Kind},
};

/// The fault of `req`, or the response it gets instead: an HTTP error fault, or a 400 for a
/// fault header that names none.
pub fn decide(app: &App, route: &Route, req: &Request<'_>) -> Result<Option<Fault>, Full> {
    let head = req.head;
    let decided = app.state.faults.decide(
        route.label,
        || model_in(req.body),
        head.header(Field::XFakeaiFault),
        head.header(Field::XReturnError),
    );
    let fault = decided.map_err(|e| Full::error(&Error::bad_request(e), route.dialect))?;
    match fault {
        Some(f) if matches!(f.kind, Kind::Http(_) | Kind::Quota) => {
            app.state.faults.count(&f);
            Err(http_error(app, &f, route.dialect, req.body))
        }
        other => Ok(other),
    }
}

/// What the connection itself must do to a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnFault {
    /// Reset the connection before any byte of the response.
    Reset,
    /// Send the response head only, then close.
    CloseAfterHeaders,
    /// Send the response this late.
    SlowFirstByte(Duration),
}

/// Applies `fault` to the handler's `reply`: a mid-stream fault or latency spike goes into the
/// stream's plan (a reply that is not a stream is left as it is, and nothing is counted); a
/// connection fault is returned for the connection to act on.
pub fn shape(app: &App, fault: Option<Fault>, mut reply: Reply) -> (Reply, Option<ConnFault>) {
    let Some(fault) = fault else { return (reply, None) };
    let conn = match fault.kind {
        Kind::Reset => Some(ConnFault::Reset),
        Kind::CloseAfterHeaders => Some(ConnFault::CloseAfterHeaders),
        Kind::SlowFirstByte => Some(ConnFault::SlowFirstByte(fault.delay)),
        _ => None,
    };
    let applied = match (&mut reply, fault.kind) {
        (_, _) if conn.is_some() => true,
        (Reply::Stream(stream), kind) if kind.mid_stream() => {
            stream.strike(&fault);
            true
        }
        (Reply::Events(events), kind) if kind.mid_stream() => {
            events.strike(&fault);
            true
        }
        (Reply::Stream(stream), Kind::LatencySpike) => {
            stream.stretch(fault.ttft_factor, fault.itl_factor);
            true
        }
        (Reply::Generated { after, summary, .. }, Kind::LatencySpike) => {
            let ttft = summary.first_token.min(*after);
            *after = ttft.mul_f64(fault.ttft_factor) + (*after - ttft).mul_f64(fault.itl_factor);
            true
        }
        _ => false,
    };
    if applied {
        app.state.faults.count(&fault);
    }
    (reply, conn)
}

/// The response of an HTTP error fault: the provider's message, type and code for its status,
/// with `retry-after` on 429 and 503.
fn http_error(app: &App, fault: &Fault, dialect: Dialect, body: &[u8]) -> Full {
    let model = model_in(body).unwrap_or("gpt-4o");
    let server = |status, message: &str| Error::new(status, "server_error", message);
    let e = match fault.kind {
        Kind::Quota => Error::new(
            429,
            "insufficient_quota",
            "You exceeded your current quota, please check your plan and billing details.",
        )
        .with_code("insufficient_quota"),
        Kind::Http(400) => {
            let window = app.registry.describe(model).context_window;
            Error::invalid_param(
                "messages",
                format!(
                    "This model's maximum context length is {window} tokens. However, your messages resulted in {} \
                     tokens. Please reduce the length of the messages.",
                    window + 1
                ),
            )
            .with_code("context_length_exceeded")
        }
        Kind::Http(401) => Error::new(
            401,
            "invalid_request_error",
            "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        )
        .with_code("invalid_api_key"),
        Kind::Http(403) => Error::new(403, "request_forbidden", "Country, region, or territory not supported")
            .with_code("unsupported_country_region_territory"),
        Kind::Http(404) => Error::new(
            404,
            "invalid_request_error",
            format!("The model `{model}` does not exist or you do not have access to it."),
        )
        .with_code("model_not_found"),
        Kind::Http(429) => Error::new(
            429,
            "requests",
            format!("Rate limit reached for requests. Please try again in {}s.", fault.retry_after),
        )
        .with_code("rate_limit_exceeded"),
        Kind::Http(500) => server(500, "The server had an error while processing your request. Sorry about that!"),
        Kind::Http(502) => server(502, "Bad gateway.").with_code("bad_gateway"),
        Kind::Http(503) => server(503, "The engine is currently overloaded, please try again later."),
        Kind::Http(504) => server(504, "Gateway timeout.").with_code("gateway_timeout"),
        Kind::Http(529) => Error::new(529, "overloaded_error", "Overloaded"),
        Kind::Http(s) if s >= 500 => server(s, "The server had an error while processing your request."),
        Kind::Http(s) => Error::new(s, "invalid_request_error", format!("Injected error (HTTP {s}).")),
        _ => unreachable!("only HTTP faults answer at admission"),
    };
    let error_type = match e.status {
        429 => "rate_limit_error",
        s if s >= 500 => "server_error",
        _ => e.kind,
    };
    let mut full = Full { error_type: Some(error_type), ..Full::error(&e, dialect) };
    if matches!(fault.kind, Kind::Http(429 | 503 | 529)) {
        full = full
            .with_header("retry-after", fault.retry_after.to_string())
            .with_header("retry-after-ms", (fault.retry_after * 1000).to_string());
    }
    full
}

/// The `model` a JSON body names, found without parsing it (none when it holds escapes).
fn model_in(body: &[u8]) -> Option<&str> {
    let at = memchr::memmem::find(body, b"\"model\"")? + 7;
    let rest = body[at..].trim_ascii_start().strip_prefix(b":")?.trim_ascii_start().strip_prefix(b"\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    (rest[end] == b'"').then(|| std::str::from_utf8(&rest[..end]).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_is_found_without_parsing() {
        assert_eq!(model_in(br#"{"messages":[],"model" : "gpt-4o"}"#), Some("gpt-4o"));
        assert_eq!(model_in(br#"{"model":"a\"b"}"#), None);
        assert_eq!(model_in(b"{}"), None);
    }
}
