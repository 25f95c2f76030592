//! `multipart/form-data` (RFC 7578) over an already-buffered body: the parts' names, file
//! names, content types and byte ranges of the body — no copies, no I/O. The delimiter is
//! found with `memchr::memmem`, each part's headers with `httparse::parse_headers`.

use std::ops::Range;

use memchr::memmem;

/// Why a body is not a usable `multipart/form-data` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartError {
    /// The `Content-Type` is not `multipart/form-data` or has no `boundary`.
    MissingBoundary,
    /// A part's headers are malformed or lack `Content-Disposition: form-data; name=…`.
    MalformedPart,
    /// The body ends before the closing delimiter (`--boundary--`).
    Unterminated,
}

impl MultipartError {
    /// The reason in words, for a 400's message.
    pub fn message(&self) -> &'static str {
        match self {
            MultipartError::MissingBoundary => {
                "Invalid Content-Type: expected multipart/form-data with a boundary parameter."
            }
            MultipartError::MalformedPart => "Malformed multipart body: a part has invalid headers or no name.",
            MultipartError::Unterminated => "Malformed multipart body: the closing boundary is missing.",
        }
    }
}

impl From<MultipartError> for crate::error::Error {
    fn from(e: MultipartError) -> Self {
        crate::error::Error::bad_request(e.message())
    }
}

/// One part of the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// The field name (`name=` of `Content-Disposition`).
    pub name: &'a str,
    /// The file name, for a file field.
    pub filename: Option<&'a str>,
    /// The part's `Content-Type`, if sent.
    pub content_type: Option<&'a str>,
    /// Where the part's content is in the body.
    pub range: Range<usize>,
}

impl Part<'_> {
    /// The part's content within `body`.
    pub fn bytes<'b>(&self, body: &'b [u8]) -> &'b [u8] {
        &body[self.range.clone()]
    }
}

/// Most headers a part may carry.
const MAX_PART_HEADERS: usize = 16;

/// The `boundary` parameter of a `multipart/form-data` content type, quoted or not.
pub fn boundary(content_type: &str) -> Result<&str, MultipartError> {
    let mut params = content_type.split(';');
    let essence = params.next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return Err(MultipartError::MissingBoundary);
    }
    params
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| unquote(v.trim()))
        // RFC 2046: 1 to 70 characters.
        .filter(|b| (1..=70).contains(&b.len()))
        .ok_or(MultipartError::MissingBoundary)
}

/// `v` without surrounding double quotes.
fn unquote(v: &str) -> &str {
    v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v)
}

/// Parses `body` into its parts, delimited by `boundary` (see [`boundary`]). A preamble before
/// the first delimiter and an epilogue after the last are ignored; bare `\n` line ends are
/// accepted where `\r\n` is expected.
pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, MultipartError> {
    let dash = format!("--{boundary}");
    // Every delimiter after the first starts on a new line: "\n--boundary" (the "\r" before
    // it, if any, is trimmed off the content).
    let delimiter = format!("\n{dash}");
    let finder = memmem::Finder::new(delimiter.as_bytes());
    let mut pos = if body.starts_with(dash.as_bytes()) {
        dash.len()
    } else {
        finder.find(body).ok_or(MultipartError::Unterminated)? + delimiter.len()
    };
    let mut parts = Vec::new();
    loop {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        // Transport padding, then the line end after the delimiter.
        let line_end = memchr::memchr(b'\n', rest).ok_or(MultipartError::Unterminated)?;
        if !rest[..line_end].iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            return Err(MultipartError::MalformedPart);
        }
        let start = pos + line_end + 1;
        let end = finder.find(&body[start..]).ok_or(MultipartError::Unterminated)? + start;
        parts.push(part(body, start..end)?);
        pos = end + delimiter.len();
    }
}

/// One part between two delimiters: its headers, then its content (without the line end
/// that belongs to the next delimiter).
fn part(body: &[u8], span: Range<usize>) -> Result<Part<'_>, MultipartError> {
    let raw = &body[span.clone()];
    let mut headers = [httparse::EMPTY_HEADER; MAX_PART_HEADERS];
    let (head_len, headers) = match httparse::parse_headers(raw, &mut headers) {
        Ok(httparse::Status::Complete((n, h))) => (n, h),
        _ => return Err(MultipartError::MalformedPart),
    };
    let (mut name, mut filename, mut content_type) = (None, None, None);
    for h in headers.iter() {
        let value = std::str::from_utf8(h.value).map_err(|_| MultipartError::MalformedPart)?.trim();
        if h.name.eq_ignore_ascii_case("content-disposition") {
            (name, filename) = disposition(value)?;
        } else if h.name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value);
        }
    }
    let mut end = span.end;
    if end > span.start + head_len && body[end - 1] == b'\r' {
        end -= 1;
    }
    Ok(Part {
        name: name.ok_or(MultipartError::MalformedPart)?,
        filename,
        content_type,
        range: span.start + head_len..end,
    })
}

/// `name` and `filename` of a `form-data` disposition.
fn disposition(value: &str) -> Result<(Option<&str>, Option<&str>), MultipartError> {
    let mut params = value.split(';');
    if !params.next().unwrap_or("").trim().eq_ignore_ascii_case("form-data") {
        return Err(MultipartError::MalformedPart);
    }
    let (mut name, mut filename) = (None, None);
    for (k, v) in params.filter_map(|p| p.split_once('=')) {
        match k.trim() {
            k if k.eq_ignore_ascii_case("name") => name = Some(unquote(v.trim())),
            k if k.eq_ignore_ascii_case("filename") => filename = Some(unquote(v.trim())),
            _ => {}
        }
    }
    Ok((name, filename))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_and_contents<'a>(body: &'a [u8], parts: &[Part<'a>]) -> Vec<(&'a str, &'a [u8])> {
        parts.iter().map(|p| (p.name, p.bytes(body))).collect()
    }

    #[test]
    fn boundary_quoted_or_not_and_only_for_form_data() {
        assert_eq!(boundary("multipart/form-data; boundary=abc"), Ok("abc"));
        assert_eq!(boundary("Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b:c\""), Ok("a b:c"));
        assert_eq!(boundary("multipart/form-data; boundary=\"x=y\""), Ok("x=y"));
        assert_eq!(boundary("multipart/form-data"), Err(MultipartError::MissingBoundary));
        assert_eq!(boundary("multipart/form-data; boundary="), Err(MultipartError::MissingBoundary));
        assert_eq!(boundary("application/json; boundary=x"), Err(MultipartError::MissingBoundary));
        assert_eq!(
            boundary(&format!("multipart/form-data; boundary={}", "b".repeat(71))),
            Err(MultipartError::MissingBoundary)
        );
    }

    #[test]
    fn fields_and_files_with_their_headers() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na red fox\r\n\
--XyZ\r\ncontent-disposition: form-data; name=\"image\"; filename=\"fox.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n\0\r\n\
--XyZ--\r\n";
        let parts = parse(body, "XyZ").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].name, parts[0].filename, parts[0].bytes(body)), ("prompt", None, &b"a red fox"[..]));
        assert_eq!(parts[1].filename, Some("fox.png"));
        assert_eq!(parts[1].content_type, Some("image/png"));
        assert_eq!(parts[1].bytes(body), b"\x89PNG\r\n\x1a\n\0", "binary content keeps its CR LF bytes");
    }

    #[test]
    fn preamble_epilogue_bare_newlines_and_padding() {
        let body = b"this is a preamble\r\n--b\t \nContent-Disposition: form-data; name=a\n\n1\n--b\r\n\
Content-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n--b--trailing epilogue --b\r\n";
        let parts = parse(body, "b").unwrap();
        assert_eq!(names_and_contents(body, &parts), vec![("a", &b"1"[..]), ("empty", &b""[..])]);
    }

    #[test]
    fn boundary_like_bytes_inside_content_are_content() {
        let body = b"--bnd\r\nContent-Disposition: form-data; name=f\r\n\r\nx--bnd is not at a line start; \
\r\n--bn almost\r\n-bnd\r\n--bnd--";
        let parts = parse(body, "bnd").unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].bytes(body), b"x--bnd is not at a line start; \r\n--bn almost\r\n-bnd");
        // "\r\n--bndX" is a delimiter followed by junk: RFC 2046 allows only padding there.
        let body = b"--bnd\r\nContent-Disposition: form-data; name=f\r\n\r\nx\r\n--bndX\r\n\r\n--bnd--";
        assert_eq!(parse(body, "bnd"), Err(MultipartError::MalformedPart));
    }

    #[test]
    fn typed_errors_for_broken_bodies() {
        let ok = b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--b--".to_vec();
        assert!(parse(&ok, "b").is_ok());
        for cut in [0, 3, 10, 40, ok.len() - 6, ok.len() - 2] {
            assert!(parse(&ok[..cut], "b").is_err(), "cut at {cut}");
        }
        assert_eq!(parse(&ok[..ok.len() - 6], "b"), Err(MultipartError::Unterminated));
        assert_eq!(parse(b"no delimiter at all", "b"), Err(MultipartError::Unterminated));
        let no_name = b"--b\r\nContent-Disposition: form-data\r\n\r\n1\r\n--b--";
        assert_eq!(parse(no_name, "b"), Err(MultipartError::MalformedPart));
        let attachment = b"--b\r\nContent-Disposition: attachment; name=a\r\n\r\n1\r\n--b--";
        assert_eq!(parse(attachment, "b"), Err(MultipartError::MalformedPart));
        let bad_header = b"--b\r\nContent Disposition form-data\r\n\r\n1\r\n--b--";
        assert_eq!(parse(bad_header, "b"), Err(MultipartError::MalformedPart));
        assert_eq!(parse(b"--b--", "b"), Ok(vec![]), "an empty form is a form");
    }

    /// `multer` (an async, streaming parser) as an oracle: the same names, file names and
    /// contents for bodies split into odd chunks.
    #[test]
    fn agrees_with_multer() {
        let bodies: [&[u8]; 3] = [
            b"--XyZ\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na red fox\r\n--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"f.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n\r\n--XyZ--\r\n",
            b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n2\r\n--XyZ\r\nContent-Disposition: form-data; name=\"image[]\"; filename=\"a.png\"\r\n\r\nx--XyZ is inside\r\n\r\n--XyZ--\r\nepilogue",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"e\"\r\n\r\n\r\n--XyZ--",
        ];
        for body in bodies {
            let ours: Vec<(String, Option<String>, Vec<u8>)> = parse(body, "XyZ")
                .unwrap()
                .iter()
                .map(|p| (p.name.to_owned(), p.filename.map(str::to_owned), p.bytes(body).to_vec()))
                .collect();
            assert_eq!(ours, multer_parts(body, "XyZ"), "{}", String::from_utf8_lossy(body));
        }
    }

    fn multer_parts(body: &[u8], boundary: &str) -> Vec<(String, Option<String>, Vec<u8>)> {
        // Chunks of 7 bytes, so that delimiters straddle chunk edges.
        let chunks: Vec<Result<bytes::Bytes, std::convert::Infallible>> =
            body.chunks(7).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
        let mut form = multer::Multipart::new(futures_util::stream::iter(chunks), boundary);
        let mut out = Vec::new();
        while let Some(field) = ready(form.next_field()).unwrap() {
            let (name, file) = (field.name().unwrap().to_owned(), field.file_name().map(str::to_owned));
            out.push((name, file, ready(field.bytes()).unwrap().to_vec()));
        }
        out
    }

    /// Polls `f` to completion: every chunk is ready at once, so it never waits.
    fn ready<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }
}
