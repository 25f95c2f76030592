//! Sans-IO response reader for the load generator: HTTP head, chunked or sized body, SSE events.

use std::sync::LazyLock;

use fakeai::proto::http1::ChunkedDecoder;
use memchr::memmem::Finder;

static EVENT_END: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\n\n"));
static USAGE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"usage\":{"));
static CONTENT_KEYS: LazyLock<[Finder<'static>; 3]> = LazyLock::new(|| {
    [Finder::new(b"\"content\":\""), Finder::new(b"\"reasoning_content\":\""), Finder::new(b"\"text\":\"")]
});

/// What one fed read produced.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Content events (tokens) completed in this read.
    pub tokens: u32,
    /// The response is complete.
    pub done: bool,
}

#[derive(Debug)]
enum Body {
    Head,
    Sized(usize),
    Chunked(ChunkedDecoder),
    UntilClose,
}

/// A header value as a non-negative number.
fn number(value: &[u8]) -> Option<f64> {
    std::str::from_utf8(value).ok()?.trim().parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0)
}

/// Incremental reader of one response.
#[derive(Debug)]
pub struct ResponseReader {
    body: Body,
    /// HTTP status once the head is read.
    pub status: u16,
    /// De-chunked body bytes not yet consumed as events.
    pending: Vec<u8>,
    /// Whole body for non-streaming responses.
    pub full_body: Vec<u8>,
    streaming: bool,
    /// `usage.completion_tokens` from the usage chunk or body, if seen.
    pub usage_completion: Option<u64>,
    /// Content events seen.
    pub tokens: u64,
    /// The server asked to close the connection.
    pub close: bool,
    /// How long the server asked the client to wait before retrying (`retry-after-ms`, else
    /// `retry-after` in seconds), on a 429 or 503.
    pub retry_after: Option<std::time::Duration>,
}

impl ResponseReader {
    /// A reader for a response to a streaming (`true`) or plain request.
    pub fn new(streaming: bool) -> Self {
        ResponseReader {
            body: Body::Head,
            status: 0,
            pending: Vec::new(),
            full_body: Vec::new(),
            streaming,
            usage_completion: None,
            tokens: 0,
            close: false,
            retry_after: None,
        }
    }

    /// Consumes from `buf` (drained as used); returns what this read completed.
    pub fn feed(&mut self, buf: &mut Vec<u8>) -> Result<Progress, String> {
        let mut progress = Progress::default();
        if let Body::Head = self.body {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            let n = match resp.parse(buf).map_err(|e| format!("bad response head: {e}"))? {
                httparse::Status::Complete(n) => n,
                httparse::Status::Partial => return Ok(progress),
            };
            self.status = resp.code.unwrap_or(0);
            let mut body = Body::UntilClose;
            for h in resp.headers.iter() {
                if h.name.eq_ignore_ascii_case("content-length") {
                    let len = std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse().ok());
                    body = Body::Sized(len.ok_or("bad content-length")?);
                } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                    body = Body::Chunked(ChunkedDecoder::new(u64::MAX));
                } else if h.name.eq_ignore_ascii_case("connection") && h.value.eq_ignore_ascii_case(b"close") {
                    self.close = true;
                } else if h.name.eq_ignore_ascii_case("retry-after-ms") {
                    self.retry_after = number(h.value).map(|ms| std::time::Duration::from_secs_f64(ms / 1e3));
                } else if h.name.eq_ignore_ascii_case("retry-after") && self.retry_after.is_none() {
                    self.retry_after = number(h.value).map(std::time::Duration::from_secs_f64);
                }
            }
            self.body = body;
            buf.drain(..n);
        }
        match &mut self.body {
            Body::Head => {}
            Body::Sized(left) => {
                let take = (*left).min(buf.len());
                self.pending.extend(buf.drain(..take));
                *left -= take;
                progress.done = *left == 0;
            }
            Body::Chunked(dec) => {
                let used = dec.decode(buf, &mut self.pending).map_err(|e| e.to_string())?;
                buf.drain(..used);
                progress.done = dec.is_done();
            }
            Body::UntilClose => self.pending.append(buf),
        }
        if self.streaming && self.status == 200 {
            progress.tokens = self.take_events();
        } else {
            self.full_body.append(&mut self.pending);
            if progress.done {
                self.usage_completion = completion_tokens(&self.full_body);
            }
        }
        Ok(progress)
    }

    /// Marks the body complete at EOF (close-delimited responses).
    pub fn finish_at_eof(&mut self) -> bool {
        matches!(self.body, Body::UntilClose)
    }

    fn take_events(&mut self) -> u32 {
        let mut tokens = 0;
        let mut start = 0;
        while let Some(end) = EVENT_END.find(&self.pending[start..]) {
            let event = &self.pending[start..start + end];
            if is_content(event) {
                tokens += 1;
            } else if USAGE.find(event).is_some() {
                self.usage_completion = completion_tokens(event.strip_prefix(b"data: ").unwrap_or(event));
            }
            start += end + 2;
        }
        self.pending.drain(..start);
        self.tokens += u64::from(tokens);
        tokens
    }
}

/// A content event carries a non-empty `delta.content`, `delta.reasoning_content` or `text`.
fn is_content(event: &[u8]) -> bool {
    CONTENT_KEYS.iter().any(|key| {
        let len = key.needle().len();
        key.find(event).is_some_and(|i| event.get(i + len).is_some_and(|&c| c != b'"'))
    })
}

fn completion_tokens(json: &[u8]) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    v["usage"]["completion_tokens"].as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_chunked_stream_in_pieces() {
        let events = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n\
            data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n\
            data: {\"choices\":[{\"delta\":{\"content\":\" there\"}}]}\n\n\
            data: {\"choices\":[],\"usage\":{\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
        let raw =
            format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{events}\r\n0\r\n\r\n", events.len());
        for step in [1, 7, 64, raw.len()] {
            let mut r = ResponseReader::new(true);
            let (mut buf, mut tokens, mut done) = (Vec::new(), 0, false);
            for piece in raw.as_bytes().chunks(step) {
                buf.extend_from_slice(piece);
                let p = r.feed(&mut buf).unwrap();
                tokens += p.tokens;
                done |= p.done;
            }
            assert!(buf.is_empty());
            assert_eq!(r.status, 200);
            assert!(done, "step {step}");
            assert_eq!(tokens, 2);
            assert_eq!(r.usage_completion, Some(2));
        }
    }
}

#[cfg(test)]
mod sized_tests {
    use super::*;

    #[test]
    fn reads_a_sized_json_body() {
        let body = r#"{"usage":{"completion_tokens":5}}"#;
        let mut buf = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes();
        let mut r = ResponseReader::new(false);
        let p = r.feed(&mut buf).unwrap();
        assert!(p.done);
        assert_eq!(r.usage_completion, Some(5));
        assert!(is_content(b"data: {\"text\":\"x\"}"));
        assert!(!is_content(b"data: {\"text\":\"\"}"));
    }
}
