//! Incremental decoder for `Transfer-Encoding: chunked` request bodies.

use super::HttpError;

/// Longest chunk-size line (hex digits plus extensions) we accept.
const MAX_SIZE_LINE: usize = 4096;

/// Most bytes of trailer fields (after the last chunk) we read: without a bound a client
/// could hold a connection and its worker busy with an endless trailer section.
pub(super) const MAX_TRAILERS: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size { value: u64, digits: u32, in_ext: bool, line: usize },
    SizeLf { value: u64 },
    Data { left: u64 },
    DataCr,
    DataLf,
    TrailerStart,
    TrailerLine,
    TrailerLf { empty: bool },
    Done,
}

/// A resumable chunked-body decoder: feed it bytes as they arrive.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    limit: u64,
    total: u64,
    /// Trailer bytes read so far.
    trailers: usize,
}

impl ChunkedDecoder {
    /// A decoder that refuses bodies longer than `limit` bytes with 413.
    pub fn new(limit: u64) -> Self {
        ChunkedDecoder { state: Self::size_state(), limit, total: 0, trailers: 0 }
    }

    fn size_state() -> State {
        State::Size { value: 0, digits: 0, in_ext: false, line: 0 }
    }

    /// True once the terminating zero-size chunk and trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input`, appending body bytes to `out`; returns how many input bytes were
    /// consumed. Stops at the end of the body, leaving any pipelined bytes unconsumed.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, HttpError> {
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            if let State::Data { left } = self.state {
                let take = (left as usize).min(input.len() - i);
                out.extend_from_slice(&input[i..i + take]);
                i += take;
                let left = left - take as u64;
                self.state = if left == 0 { State::DataCr } else { State::Data { left } };
                continue;
            }
            self.step(input[i])?;
            i += 1;
        }
        Ok(i)
    }

    fn step(&mut self, b: u8) -> Result<(), HttpError> {
        if matches!(self.state, State::TrailerStart | State::TrailerLine | State::TrailerLf { .. }) {
            self.trailers += 1;
            if self.trailers > MAX_TRAILERS {
                return Err(HttpError::TrailersTooLarge);
            }
        }
        self.state = match self.state {
            State::Size { value, digits, in_ext, line } => {
                if line >= MAX_SIZE_LINE {
                    return Err(HttpError::BadChunk);
                }
                match b {
                    b'\r' if digits > 0 => State::SizeLf { value },
                    b'\n' if digits > 0 => self.after_size(value)?,
                    _ if in_ext => State::Size { value, digits, in_ext, line: line + 1 },
                    b';' | b' ' | b'\t' if digits > 0 => State::Size { value, digits, in_ext: true, line: line + 1 },
                    _ => {
                        let d = (b as char).to_digit(16).ok_or(HttpError::BadChunk)?;
                        if digits >= 15 {
                            return Err(HttpError::BadChunk);
                        }
                        State::Size { value: value * 16 + d as u64, digits: digits + 1, in_ext, line: line + 1 }
                    }
                }
            }
            State::SizeLf { value } if b == b'\n' => self.after_size(value)?,
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataCr | State::DataLf if b == b'\n' => Self::size_state(),
            State::TrailerStart => match b {
                b'\r' => State::TrailerLf { empty: true },
                b'\n' => State::Done,
                _ => State::TrailerLine,
            },
            State::TrailerLine => match b {
                b'\r' => State::TrailerLf { empty: false },
                b'\n' => State::TrailerStart,
                _ => State::TrailerLine,
            },
            State::TrailerLf { empty } if b == b'\n' => {
                if empty {
                    State::Done
                } else {
                    State::TrailerStart
                }
            }
            _ => return Err(HttpError::BadChunk),
        };
        Ok(())
    }

    fn after_size(&mut self, size: u64) -> Result<State, HttpError> {
        if size == 0 {
            return Ok(State::TrailerStart);
        }
        self.total += size;
        if self.total > self.limit {
            return Err(HttpError::BodyTooLarge(self.limit));
        }
        Ok(State::Data { left: size })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], step: usize) -> Result<(Vec<u8>, usize), HttpError> {
        let mut d = ChunkedDecoder::new(1 << 20);
        let mut out = Vec::new();
        let mut used = 0;
        while used < input.len() && !d.is_done() {
            let end = (used + step).min(input.len());
            used += d.decode(&input[used..end], &mut out)?;
        }
        assert!(d.is_done());
        Ok((out, used))
    }

    #[test]
    fn decodes_in_any_split_and_stops_at_the_end() {
        let body = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\nGET / HTTP/1.1";
        for step in 1..body.len() {
            let (out, used) = decode_all(body, step).unwrap();
            assert_eq!(out, b"hello, world");
            assert_eq!(&body[used..], b"GET / HTTP/1.1", "step {step}");
        }
    }

    #[test]
    fn bare_lf_and_uppercase_hex() {
        let (out, _) = decode_all(b"A\nabcdefghij\n0\n\n", 3).unwrap();
        assert_eq!(out, b"abcdefghij");
    }

    #[test]
    fn rejects_garbage_and_oversize() {
        assert_eq!(decode_all(b"zz\r\n", 4).unwrap_err().status(), 400);
        assert_eq!(decode_all(b"3\r\nabcX\r\n", 4).unwrap_err().status(), 400);
        assert_eq!(decode_all(b"\r\n", 4).unwrap_err().status(), 400);
        assert_eq!(decode_all(b"ffffffffffffffff\r\n", 64).unwrap_err().status(), 400);
        let mut d = ChunkedDecoder::new(4);
        assert_eq!(d.decode(b"5\r\nhello\r\n", &mut Vec::new()).unwrap_err().status(), 413);
    }

    /// Feeds `parts` one after another, as a socket delivers them.
    fn feed(parts: &[&[u8]]) -> Result<ChunkedDecoder, HttpError> {
        let mut d = ChunkedDecoder::new(1 << 20);
        let mut out = Vec::new();
        for part in parts {
            d.decode(part, &mut out)?;
        }
        Ok(d)
    }

    #[test]
    fn trailers_are_bounded_however_they_arrive() {
        // Just under the bound, in many small trailer lines split across reads: accepted.
        let line = b"X-T: 0123456789\r\n"; // 17 bytes
        let lines = (MAX_TRAILERS - 2) / line.len();
        let mut body = b"3\r\nabc\r\n0\r\n".to_vec();
        (0..lines).for_each(|_| body.extend_from_slice(line));
        body.extend_from_slice(b"\r\n");
        for step in [1, 7, 4096] {
            let parts: Vec<&[u8]> = body.chunks(step).collect();
            assert!(feed(&parts).unwrap().is_done(), "step {step}");
        }
        // An endless trailer section (many lines, or one line without an end) is refused with
        // 431 as soon as it passes the bound, whatever the split.
        let mut endless = b"3\r\nabc\r\n0\r\n".to_vec();
        (0..=lines).for_each(|_| endless.extend_from_slice(line));
        let mut one_line = b"0\r\nX-Long: ".to_vec();
        one_line.resize(MAX_TRAILERS + 16, b'a');
        for input in [endless, one_line] {
            for step in [1, 5, 1000, input.len()] {
                let parts: Vec<&[u8]> = input.chunks(step).collect();
                let e = feed(&parts).unwrap_err();
                assert_eq!((e.status(), e.clone()), (431, HttpError::TrailersTooLarge), "step {step}");
            }
        }
        let e: crate::error::Error = HttpError::TrailersTooLarge.into();
        assert_eq!(e.code, Some("request_header_fields_too_large"));
    }
}
