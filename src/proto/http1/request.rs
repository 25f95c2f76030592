//! Request-head parsing on top of httparse.

use super::HttpError;

/// Most headers a request may carry before it is refused with 431.
const MAX_HEADERS: usize = 64;

/// The request method, with the ones we route named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// OPTIONS
    Options,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// PATCH
    Patch,
    /// Anything else.
    Other,
}

impl Method {
    fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "OPTIONS" => Method::Options,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            _ => Method::Other,
        }
    }
}

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body.
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A byte range of a head's copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span {
    start: u32,
    end: u32,
}

/// The headers whose values the server reads, each kept as a span of the head's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `X-Request-ID`, echoed back.
    RequestId,
    /// `Accept`, for content negotiation.
    Accept,
    /// `Content-Type`.
    ContentType,
    /// `Authorization`.
    Authorization,
    /// `x-api-key` (Anthropic's key header).
    XApiKey,
    /// `api-key` (Azure OpenAI's key header).
    ApiKey,
    /// `anthropic-version` (Anthropic's Messages API).
    AnthropicVersion,
    /// `Sec-WebSocket-Key`.
    WebsocketKey,
    /// `Sec-WebSocket-Version`.
    WebsocketVersion,
    /// `X-Fakeai-Fault`: a fault to inject into this request.
    XFakeaiFault,
    /// `X-Return-Error` (llm-d's simulator): an error status to answer with.
    XReturnError,
}

/// Each field's header name, in `Field` order.
const FIELD_NAMES: [(&str, Field); 11] = [
    ("x-request-id", Field::RequestId),
    ("accept", Field::Accept),
    ("content-type", Field::ContentType),
    ("authorization", Field::Authorization),
    ("x-api-key", Field::XApiKey),
    ("api-key", Field::ApiKey),
    ("anthropic-version", Field::AnthropicVersion),
    ("sec-websocket-key", Field::WebsocketKey),
    ("sec-websocket-version", Field::WebsocketVersion),
    ("x-fakeai-fault", Field::XFakeaiFault),
    ("x-return-error", Field::XReturnError),
];

/// The parts of a request head the server acts on. The head's bytes are copied out of the read
/// buffer once, and the path, query and header values are spans of that copy: one allocation per
/// request instead of one per header kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The head's bytes (or, for a synthetic head, its target and header values).
    raw: Box<[u8]>,
    /// Request method.
    pub method: Method,
    path: Span,
    query: Span,
    fields: [Option<Span>; FIELD_NAMES.len()],
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Whether the connection may be reused after this request.
    pub keep_alive: bool,
    /// Body framing.
    pub body: BodyFraming,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    /// `Upgrade: websocket` together with `Connection: upgrade`.
    pub websocket: bool,
    /// Bytes the head occupied in the buffer.
    pub head_len: usize,
}

impl RequestHead {
    /// The head of a request made inside the server (a batch line, a test): HTTP/1.1 `method
    /// target` (`target` may carry a `?query`), no headers, no body, read from no buffer.
    pub fn synthetic(method: Method, target: &str) -> RequestHead {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let path_end = path.len() as u32;
        let query_start = if target.len() > path.len() { path_end + 1 } else { path_end };
        RequestHead {
            raw: target.as_bytes().into(),
            method,
            path: Span { start: 0, end: path_end },
            query: Span { start: query_start, end: query_start + query.len() as u32 },
            fields: [None; FIELD_NAMES.len()],
            minor_version: 1,
            keep_alive: true,
            body: BodyFraming::None,
            expect_continue: false,
            websocket: false,
            head_len: 0,
        }
    }

    /// This head with `field` set to `value` (for synthetic heads).
    pub fn with(mut self, field: Field, value: &str) -> RequestHead {
        let mut raw = std::mem::take(&mut self.raw).into_vec();
        let start = raw.len() as u32;
        raw.extend_from_slice(value.as_bytes());
        self.fields[field as usize] = Some(Span { start, end: raw.len() as u32 });
        self.raw = raw.into();
        self
    }

    fn text(&self, span: Span) -> &str {
        // Spans are set only over bytes checked to be UTF-8.
        std::str::from_utf8(&self.raw[span.start as usize..span.end as usize]).unwrap_or("")
    }

    /// Path without the query string.
    pub fn path(&self) -> &str {
        self.text(self.path)
    }

    /// Query string without the `?` (empty when absent).
    pub fn query(&self) -> &str {
        self.text(self.query)
    }

    /// The value of `field`'s header, when sent (and valid UTF-8).
    pub fn header(&self, field: Field) -> Option<&str> {
        self.fields[field as usize].map(|span| self.text(span))
    }

    /// `X-Request-ID`.
    pub fn request_id(&self) -> Option<&str> {
        self.header(Field::RequestId)
    }

    /// `Accept`.
    pub fn accept(&self) -> Option<&str> {
        self.header(Field::Accept)
    }

    /// `Content-Type`.
    pub fn content_type(&self) -> Option<&str> {
        self.header(Field::ContentType)
    }
}

/// Parses a request head from the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, and an error (431 or 400) when the head is
/// too large or malformed. `max_head` bounds the head size in bytes.
pub fn parse_head(buf: &[u8], max_head: usize) -> Result<Option<RequestHead>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > max_head => return Err(HttpError::HeadTooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadTooLarge),
        Err(e) => return Err(HttpError::Malformed(e)),
    };
    if head_len > max_head {
        return Err(HttpError::HeadTooLarge);
    }
    let span = |part: &[u8]| {
        let start = (part.as_ptr() as usize - buf.as_ptr() as usize) as u32;
        Span { start, end: start + part.len() as u32 }
    };
    let target = req.path.unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, &target[target.len()..]));
    let minor_version = req.version.unwrap_or(1);
    let mut head = RequestHead {
        raw: buf[..head_len].into(),
        method: Method::parse(req.method.unwrap_or("")),
        path: if path.is_empty() { Span::default() } else { span(path.as_bytes()) },
        query: span(query.as_bytes()),
        fields: [None; FIELD_NAMES.len()],
        minor_version,
        keep_alive: minor_version == 1,
        body: BodyFraming::None,
        expect_continue: false,
        websocket: false,
        head_len,
    };
    let (mut upgrade_websocket, mut connection_upgrade) = (false, false);
    let mut framing = Framing::default();
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("upgrade") {
            upgrade_websocket = h.value.trim_ascii().eq_ignore_ascii_case(b"websocket");
        } else if h.name.eq_ignore_ascii_case("connection") {
            connection_upgrade |=
                h.value.split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
        }
        if apply_header(&mut head, &mut framing, h.name, h.value)? {
            continue;
        }
        // A value that is not UTF-8 is treated as not sent.
        let kept = FIELD_NAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(h.name));
        if let Some((_, field)) = kept.filter(|_| std::str::from_utf8(h.value).is_ok()) {
            head.fields[*field as usize] = Some(span(h.value));
        }
    }
    head.websocket = upgrade_websocket && connection_upgrade;
    head.body = framing.resolve(minor_version)?;
    Ok(Some(head))
}

/// The framing headers as sent, before they are judged together (RFC 9112 §6).
#[derive(Debug, Default)]
struct Framing {
    content_length: Option<u64>,
    /// `Transfer-Encoding` was sent (in any number of field lines).
    transfer_encoding: bool,
    /// Its codings, in order, across all its field lines.
    codings: usize,
    /// Index of the last `chunked` among them, and whether one came before it.
    last_chunked: Option<usize>,
    chunked_twice: bool,
}

impl Framing {
    /// A `Content-Length` field value: one or more copies of the same `1*DIGIT` (§8.6; a sign,
    /// inner space or a second, different value is refused: a proxy may have read it otherwise).
    fn content_length(&mut self, value: &[u8]) -> Result<(), HttpError> {
        for item in value.split(|&b| b == b',') {
            let item = item.trim_ascii();
            if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
                return Err(HttpError::BadContentLength);
            }
            // All digits, so only overflow can fail.
            let n = std::str::from_utf8(item).ok().and_then(|s| s.parse::<u64>().ok());
            let n = n.ok_or(HttpError::BadContentLength)?;
            if self.content_length.is_some_and(|old| old != n) {
                return Err(HttpError::BadContentLength);
            }
            self.content_length = Some(n);
        }
        Ok(())
    }

    /// A `Transfer-Encoding` field value: its codings are appended to those already sent.
    fn transfer_encoding(&mut self, value: &[u8]) {
        self.transfer_encoding = true;
        for coding in value.split(|&b| b == b',').map(<[u8]>::trim_ascii).filter(|c| !c.is_empty()) {
            if coding.eq_ignore_ascii_case(b"chunked") {
                self.chunked_twice |= self.last_chunked.is_some();
                self.last_chunked = Some(self.codings);
            }
            self.codings += 1;
        }
    }

    /// The body's framing, or why it cannot be trusted. Each refusal closes the connection, so
    /// nothing pipelined behind an ambiguous request is read as a request of its own.
    fn resolve(&self, minor_version: u8) -> Result<BodyFraming, HttpError> {
        if !self.transfer_encoding {
            return Ok(self.content_length.map_or(BodyFraming::None, BodyFraming::Length));
        }
        // §6.1: both framings at once is how requests are smuggled past a proxy that reads the other.
        if self.content_length.is_some() {
            return Err(HttpError::AmbiguousFraming);
        }
        // §6.1: HTTP/1.0 has no Transfer-Encoding; its framing is faulty.
        if minor_version == 0 {
            return Err(HttpError::BadTransferEncoding("Transfer-Encoding is not allowed in HTTP/1.0"));
        }
        // §6.3: unless chunked is the final coding, the body's length cannot be determined.
        if self.last_chunked != Some(self.codings.wrapping_sub(1)) {
            return Err(HttpError::BadTransferEncoding("chunked must be the final transfer coding"));
        }
        // §7: chunked is applied at most once.
        if self.chunked_twice {
            return Err(HttpError::BadTransferEncoding("chunked was applied more than once"));
        }
        // §6.1: a coding before chunked (gzip, …) is well framed but not implemented here.
        if self.codings > 1 {
            return Err(HttpError::UnsupportedTransferEncoding);
        }
        Ok(BodyFraming::Chunked)
    }
}

/// Applies a framing or connection header; false for any other.
fn apply_header(head: &mut RequestHead, framing: &mut Framing, name: &str, value: &[u8]) -> Result<bool, HttpError> {
    if name.eq_ignore_ascii_case("content-length") {
        framing.content_length(value)?;
    } else if name.eq_ignore_ascii_case("transfer-encoding") {
        framing.transfer_encoding(value);
    } else if name.eq_ignore_ascii_case("connection") {
        for token in value.split(|&b| b == b',') {
            let token = token.trim_ascii();
            if token.eq_ignore_ascii_case(b"close") {
                head.keep_alive = false;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                head.keep_alive = true;
            }
        }
    } else if name.eq_ignore_ascii_case("expect") {
        head.expect_continue = value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
    } else {
        return Ok(false);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 16 * 1024;

    #[test]
    fn partial_heads_need_more_bytes() {
        let full = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
        for cut in 0..full.len() {
            assert_eq!(parse_head(&full[..cut], MAX).unwrap(), None, "cut at {cut}");
        }
        let head = parse_head(full, MAX).unwrap().unwrap();
        assert_eq!(head.head_len, full.len());
        assert_eq!(head.method, Method::Get);
        assert_eq!(head.path(), "/health");
        assert!(head.keep_alive);
        assert_eq!(head.body, BodyFraming::None);
    }

    #[test]
    fn pipelined_requests_parse_one_at_a_time() {
        let two = b"POST /v1/completions HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET /a?b=c HTTP/1.1\r\n\r\n";
        let first = parse_head(two, MAX).unwrap().unwrap();
        assert_eq!(first.body, BodyFraming::Length(2));
        let rest = &two[first.head_len + 2..];
        let second = parse_head(rest, MAX).unwrap().unwrap();
        assert_eq!((second.path(), second.query()), ("/a", "b=c"));
        assert_eq!(second.head_len, rest.len());
    }

    #[test]
    fn http10_and_connection_tokens() {
        let h = parse_head(b"GET / HTTP/1.0\r\n\r\n", MAX).unwrap().unwrap();
        assert!(!h.keep_alive && h.minor_version == 0);
        let h = parse_head(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", MAX).unwrap().unwrap();
        assert!(h.keep_alive);
        let h = parse_head(b"GET / HTTP/1.1\r\nConnection: upgrade, close\r\n\r\n", MAX).unwrap().unwrap();
        assert!(!h.keep_alive);
        assert!(!h.websocket, "no Upgrade header");
        let ws = b"GET /s HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: k==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let h = parse_head(ws, MAX).unwrap().unwrap();
        assert!(h.websocket);
        assert_eq!((h.header(Field::WebsocketKey), h.header(Field::WebsocketVersion)), (Some("k=="), Some("13")));
    }

    #[test]
    fn headers_of_interest_are_copied() {
        let raw = b"POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\
            X-Request-ID: abc-1\r\nAccept: text/event-stream\r\nContent-Type: application/json\r\n\
            Authorization: Bearer sk-1\r\n\r\n";
        let h = parse_head(raw, MAX).unwrap().unwrap();
        assert_eq!(h.body, BodyFraming::Chunked);
        assert!(h.expect_continue);
        assert_eq!(h.request_id(), Some("abc-1"));
        assert_eq!(h.accept(), Some("text/event-stream"));
        assert_eq!(h.content_type(), Some("application/json"));
        assert_eq!(h.header(Field::Authorization), Some("Bearer sk-1"));
        let odd =
            parse_head(b"GET /x HTTP/1.1\r\nX-Request-ID: \xff\xfe\r\nACCEPT: a/b\r\n\r\n", MAX).unwrap().unwrap();
        assert_eq!((odd.request_id(), odd.accept()), (None, Some("a/b")), "non-UTF-8 values are not kept");
        let synthetic = RequestHead::synthetic(Method::Post, "/v1/x?a=1").with(Field::ContentType, "application/json");
        assert_eq!(
            (synthetic.path(), synthetic.query(), synthetic.content_type()),
            ("/v1/x", "a=1", Some("application/json"))
        );
        assert_eq!(RequestHead::synthetic(Method::Get, "/plain").query(), "");
    }

    #[test]
    fn limits_and_malformed_input() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX));
        assert_eq!(parse_head(big.as_bytes(), MAX).unwrap_err().status(), 431);
        let endless = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX + 1));
        assert_eq!(parse_head(endless.as_bytes(), MAX).unwrap_err().status(), 431);
        let many: String = (0..70).map(|i| format!("H{i}: v\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(parse_head(many.as_bytes(), MAX).unwrap_err().status(), 431);
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", MAX).unwrap_err().status(), 400);
        assert_eq!(parse_head(b"\x01\x02 / HTTP/1.1\r\n\r\n", MAX).unwrap_err().status(), 400);
        let bad_len = b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n";
        assert_eq!(parse_head(bad_len, MAX).unwrap_err().status(), 400);
        let conflict = b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(parse_head(conflict, MAX).unwrap_err().status(), 400);
        let gzip = b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n";
        assert_eq!(parse_head(gzip, MAX).unwrap_err().status(), 400, "chunked must be the final coding");
    }

    /// Parses `head` whole and fed one byte at a time: a verdict only once the head is complete.
    fn verdict(head: &str) -> Result<BodyFraming, u16> {
        let bytes = head.as_bytes();
        for cut in 0..bytes.len() {
            assert_eq!(parse_head(&bytes[..cut], MAX), Ok(None), "{head:?} cut at {cut}");
        }
        parse_head(bytes, MAX).map(|h| h.unwrap().body).map_err(|e| e.status())
    }

    fn post(headers: &str) -> String {
        format!("POST /v1/completions HTTP/1.1\r\nHost: x\r\n{headers}\r\n")
    }

    #[test]
    fn content_length_is_digits_and_one_value() {
        assert_eq!(verdict(&post("Content-Length: 2\r\n")), Ok(BodyFraming::Length(2)));
        assert_eq!(verdict(&post("Content-Length: 007\r\n")), Ok(BodyFraming::Length(7)));
        assert_eq!(verdict(&post("Content-Length: 5\r\ncontent-length: 5\r\n")), Ok(BodyFraming::Length(5)));
        assert_eq!(verdict(&post("Content-Length: 5, 5\r\n")), Ok(BodyFraming::Length(5)));
        for bad in ["+2", "-1", "1 2", "0x10", "", "2,", "5, 6", "1e3", "18446744073709551616"] {
            assert_eq!(verdict(&post(&format!("Content-Length: {bad}\r\n"))), Err(400), "{bad:?}");
        }
        let differ = post("Content-Length: 2\r\nContent-Length: 3\r\n");
        assert_eq!(verdict(&differ), Err(400));
    }

    #[test]
    fn both_framings_or_faulty_transfer_encoding_are_refused() {
        let both = post("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n");
        assert_eq!(verdict(&both), Err(400));
        let both = post("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n");
        assert_eq!(verdict(&both), Err(400), "in either order");
        assert_eq!(verdict(&post("Transfer-Encoding: gzip, chunked\r\n")), Err(501));
        assert_eq!(verdict(&post("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n")), Err(501));
        for bad in ["chunked, gzip", "chunked, chunked", "identity", "", " , "] {
            assert_eq!(verdict(&post(&format!("Transfer-Encoding: {bad}\r\n"))), Err(400), "{bad:?}");
        }
        let split_last = post("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n");
        assert_eq!(verdict(&split_last), Err(400), "the codings of every field line count, in order");
        let http10 = "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(verdict(http10), Err(400));
        assert_eq!(verdict(&post("Transfer-Encoding: Chunked \r\n")), Ok(BodyFraming::Chunked));
    }
}
