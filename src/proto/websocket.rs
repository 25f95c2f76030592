//! WebSocket (RFC 6455) framing, sans-IO: the handshake's accept key, and frames decoded from
//! and encoded into byte buffers. Enough for a server that talks JSON text messages.

/// Frame opcodes.
pub mod opcode {
    /// Continuation of a fragmented message.
    pub const CONTINUATION: u8 = 0x0;
    /// UTF-8 text.
    pub const TEXT: u8 = 0x1;
    /// Binary data.
    pub const BINARY: u8 = 0x2;
    /// Close, with an optional status code and reason.
    pub const CLOSE: u8 = 0x8;
    /// Ping; answered with a pong of the same payload.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xA;
}

/// Close status codes.
pub mod close {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The server is going away (shutting down).
    pub const GOING_AWAY: u16 = 1001;
    /// The peer broke the protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A data type this endpoint does not accept.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A text message that is not UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A message larger than this endpoint accepts.
    pub const TOO_BIG: u16 = 1009;
}

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    use base64::Engine as _;
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(key.trim().as_bytes());
    sha1.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha1.digest().bytes())
}

/// One decoded frame, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Last frame of its message.
    pub fin: bool,
    /// See [`opcode`].
    pub opcode: u8,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

/// Decodes one client frame from the start of `buf`: `Ok(None)` when more bytes are needed,
/// otherwise the frame and the bytes it used. Errors are close codes: client frames must be
/// masked, control frames short and whole, payloads at most `max_payload` bytes.
pub fn decode(buf: &[u8], max_payload: usize) -> Result<Option<(Frame, usize)>, u16> {
    let [b0, b1, ..] = *buf else { return Ok(None) };
    let (fin, opcode) = (b0 & 0x80 != 0, b0 & 0x0F);
    if b0 & 0x70 != 0 || b1 & 0x80 == 0 || matches!(opcode, 0x3..=0x7 | 0xB..=0xF) {
        return Err(close::PROTOCOL_ERROR);
    }
    let (len, mut at) = match b1 & 0x7F {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes")), 10),
        126 | 127 => return Ok(None),
        n => (n as u64, 2),
    };
    if opcode >= opcode::CLOSE && (len > 125 || !fin) {
        return Err(close::PROTOCOL_ERROR);
    }
    if len > max_payload as u64 {
        return Err(close::TOO_BIG);
    }
    let len = len as usize;
    if buf.len() < at + 4 + len {
        return Ok(None);
    }
    let mask = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
    at += 4;
    let payload: Vec<u8> = buf[at..at + len].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
    if opcode == opcode::CLOSE {
        check_close(&payload)?;
    }
    Ok(Some((Frame { fin, opcode, payload }, at + len)))
}

/// A close frame's body is empty, or a status code a peer may send followed by a UTF-8 reason
/// (RFC 6455 §5.5.1, §7.4): a lone byte or a reserved code (1005, 1006, 1015, below 1000, …)
/// is a protocol error, a reason that is not UTF-8 an invalid payload.
fn check_close(payload: &[u8]) -> Result<(), u16> {
    let [hi, lo, reason @ ..] = payload else {
        return if payload.is_empty() { Ok(()) } else { Err(close::PROTOCOL_ERROR) };
    };
    let sendable = matches!(u16::from_be_bytes([*hi, *lo]), 1000..=1003 | 1007..=1014 | 3000..=4999);
    if !sendable {
        return Err(close::PROTOCOL_ERROR);
    }
    std::str::from_utf8(reason).map(|_| ()).map_err(|_| close::INVALID_PAYLOAD)
}

/// Appends an unmasked, unfragmented server frame.
pub fn encode(opcode: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.push(0x80 | opcode);
    match payload.len() {
        n @ 0..=125 => out.push(n as u8),
        n @ 126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// Appends a close frame with `code`.
pub fn encode_close(code: u16, out: &mut Vec<u8>) {
    encode(opcode::CLOSE, &code.to_be_bytes(), out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame, as a browser sends it.
    fn client_frame(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = vec![(fin as u8) << 7 | op];
        match payload.len() {
            n @ 0..=125 => out.push(0x80 | n as u8),
            n => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    #[test]
    fn accept_key_matches_rfc_6455() {
        // The example of RFC 6455 section 1.3.
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(accept_key(" dGhlIHNhbXBsZSBub25jZQ== "), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "header whitespace");
        // A second key, its accept value computed with Python's hashlib and base64.
        assert_eq!(accept_key("x3JJHMbDL1EzLkh9GBhXDw=="), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    }

    #[test]
    fn decodes_masked_frames_byte_by_byte() {
        let text = br#"{"type":"ping"}"#;
        let bytes = client_frame(true, opcode::TEXT, text);
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut], 1024), Ok(None), "partial at {cut}");
        }
        let (frame, used) = decode(&bytes, 1024).unwrap().unwrap();
        assert_eq!((frame.fin, frame.opcode, frame.payload.as_slice(), used), (true, 1, &text[..], bytes.len()));
        let long = vec![b'x'; 300];
        let bytes = client_frame(true, opcode::TEXT, &long);
        assert_eq!(decode(&bytes, 1024).unwrap().unwrap().0.payload, long, "16-bit length");
        assert_eq!(decode(&bytes, 200), Err(close::TOO_BIG));
    }

    #[test]
    fn rejects_what_the_protocol_forbids() {
        assert_eq!(decode(&[0x81, 0x00], 1024), Err(close::PROTOCOL_ERROR), "unmasked client frame");
        assert_eq!(decode(&client_frame(false, opcode::PING, b""), 1024), Err(close::PROTOCOL_ERROR));
        assert_eq!(decode(&client_frame(true, 0x3, b""), 1024), Err(close::PROTOCOL_ERROR), "reserved opcode");
        assert_eq!(decode(&client_frame(true, opcode::PING, &[0; 126]), 1024), Err(close::PROTOCOL_ERROR));
    }

    #[test]
    fn close_frames_carry_nothing_or_a_sendable_code() {
        let close = |payload: &[u8]| decode(&client_frame(true, opcode::CLOSE, payload), 1024).map(|f| f.is_some());
        assert_eq!(close(b""), Ok(true));
        assert_eq!(close(&[0x03, 0xE8]), Ok(true), "1000");
        assert_eq!(close(b"\x0f\xa0bye"), Ok(true), "4000 with a reason");
        assert_eq!(close(&[0x03]), Err(close::PROTOCOL_ERROR), "one byte cannot be a code");
        for reserved in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            assert_eq!(close(&reserved.to_be_bytes()), Err(close::PROTOCOL_ERROR), "{reserved}");
        }
        assert_eq!(close(&[0x03, 0xE8, 0xff, 0xfe]), Err(close::INVALID_PAYLOAD), "a reason that is not UTF-8");
    }

    #[test]
    fn encodes_server_frames() {
        let mut out = Vec::new();
        encode(opcode::TEXT, b"hi", &mut out);
        assert_eq!(out, [0x81, 2, b'h', b'i']);
        out.clear();
        encode(opcode::TEXT, &[b'a'; 70_000], &mut out);
        assert_eq!(&out[..10], &[0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
        out.clear();
        encode_close(close::GOING_AWAY, &mut out);
        assert_eq!(out, [0x88, 2, 0x03, 0xE9]);
    }
}
