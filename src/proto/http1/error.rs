//! What can go wrong below the API: the request's bytes themselves. Each kind has its HTTP
//! status; the connection answers it in OpenAI's envelope and closes.

use std::fmt;

use crate::error::Error;

/// A protocol-level failure of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The head is not HTTP/1.x (`httparse`'s reason).
    Malformed(httparse::Error),
    /// The head exceeds the size or header-count limit (431).
    HeadTooLarge,
    /// A chunked body's trailer section exceeds its limit (431).
    TrailersTooLarge,
    /// `Content-Length` is not a number, or two disagree.
    BadContentLength,
    /// Both `Content-Length` and `Transfer-Encoding` (RFC 9112 §6.1: refused, then closed).
    AmbiguousFraming,
    /// `Transfer-Encoding` whose framing cannot be trusted: chunked not last or repeated, or on
    /// HTTP/1.0 (RFC 9112 §6.1, §6.3).
    BadTransferEncoding(&'static str),
    /// A well-framed transfer coding before `chunked` (`gzip, chunked`) that is not implemented (501).
    UnsupportedTransferEncoding,
    /// The chunked framing is broken.
    BadChunk,
    /// The body exceeds the configured limit, in bytes (413).
    BodyTooLarge(u64),
    /// The head or body did not arrive in time (408).
    Timeout(&'static str),
    /// The peer closed before the body was complete.
    Truncated,
}

impl HttpError {
    /// The HTTP status that answers it.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::HeadTooLarge | HttpError::TrailersTooLarge => 431,
            HttpError::UnsupportedTransferEncoding => 501,
            HttpError::BodyTooLarge(_) => 413,
            HttpError::Timeout(_) => 408,
            _ => 400,
        }
    }

    fn code(&self) -> Option<&'static str> {
        match self {
            HttpError::HeadTooLarge | HttpError::TrailersTooLarge => Some("request_header_fields_too_large"),
            HttpError::BodyTooLarge(_) => Some("payload_too_large"),
            HttpError::Timeout(_) => Some("request_timeout"),
            _ => None,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Malformed(e) => write!(f, "Malformed HTTP request: {e}"),
            HttpError::HeadTooLarge => f.write_str("Request header fields too large"),
            HttpError::TrailersTooLarge => {
                write!(f, "Request trailer fields exceed the limit of {} bytes", super::chunked::MAX_TRAILERS)
            }
            HttpError::BadContentLength => f.write_str("Invalid or conflicting Content-Length header"),
            HttpError::AmbiguousFraming => {
                f.write_str("A request must not carry both Content-Length and Transfer-Encoding")
            }
            HttpError::BadTransferEncoding(why) => write!(f, "Invalid Transfer-Encoding: {why}"),
            HttpError::UnsupportedTransferEncoding => {
                f.write_str("Unsupported Transfer-Encoding: only chunked is implemented")
            }
            HttpError::BadChunk => f.write_str("Malformed chunked request body"),
            HttpError::BodyTooLarge(limit) => write!(f, "Request body exceeds the limit of {limit} bytes"),
            HttpError::Timeout(what) => write!(f, "Timed out waiting for the request {what}"),
            HttpError::Truncated => f.write_str("Connection closed before the body was complete"),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<HttpError> for Error {
    fn from(e: HttpError) -> Error {
        let err = Error::new(e.status(), "invalid_request_error", e.to_string());
        match e.code() {
            Some(code) => err.with_code(code),
            None => err,
        }
    }
}
