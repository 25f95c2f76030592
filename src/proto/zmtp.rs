//! ZMTP 3.1, ZeroMQ's wire protocol (rfc.zeromq.org/spec/37), for a PUB socket with the NULL
//! mechanism: the greeting, the READY command, multipart messages, and the subscriptions a SUB
//! peer sends (3.1's SUBSCRIBE/CANCEL commands, or 3.0's `\x01topic` / `\x00topic` messages).
//! Pure functions over bytes; `crate::state::kv_events` drives them over TCP.

/// Length of a greeting.
pub const GREETING_LEN: usize = 64;

/// Frame flag: more frames of this message follow.
const MORE: u8 = 0x01;
/// Frame flag: the size is 8 bytes, not 1.
const LONG: u8 = 0x02;
/// Frame flag: a command, not a message frame.
const COMMAND: u8 = 0x04;

/// Our greeting: signature, version 3.1, mechanism NULL, not as-server (NULL has no roles).
pub fn greeting() -> [u8; GREETING_LEN] {
    let mut g = [0u8; GREETING_LEN];
    g[0] = 0xff;
    g[9] = 0x7f;
    g[10] = 3;
    g[11] = 1;
    g[12..16].copy_from_slice(b"NULL");
    g
}

/// The READY command announcing `socket_type` (`PUB`).
pub fn ready(socket_type: &str) -> Vec<u8> {
    let mut body = command_name("READY");
    property(&mut body, "Socket-Type", socket_type.as_bytes());
    let mut out = Vec::with_capacity(body.len() + 2);
    push_frame(&mut out, COMMAND, &body);
    out
}

/// The PONG answering a PING with `context`.
pub fn pong(context: &[u8]) -> Vec<u8> {
    let mut body = command_name("PONG");
    body.extend_from_slice(context);
    let mut out = Vec::with_capacity(body.len() + 2);
    push_frame(&mut out, COMMAND, &body);
    out
}

/// A multipart message: one frame per part, every one but the last flagged MORE.
pub fn message(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 9).sum());
    for (i, part) in parts.iter().enumerate() {
        let more = if i + 1 < parts.len() { MORE } else { 0 };
        push_frame(&mut out, more, part);
    }
    out
}

fn command_name(name: &str) -> Vec<u8> {
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name.as_bytes());
    body
}

fn property(body: &mut Vec<u8>, name: &str, value: &[u8]) {
    body.push(name.len() as u8);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(&(value.len() as u32).to_be_bytes());
    body.extend_from_slice(value);
}

fn push_frame(out: &mut Vec<u8>, flags: u8, body: &[u8]) {
    match u8::try_from(body.len()) {
        Ok(n) => out.extend_from_slice(&[flags, n]),
        Err(_) => {
            out.push(flags | LONG);
            out.extend_from_slice(&(body.len() as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(body);
}

/// What a SUB peer said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// Its greeting, valid for NULL.
    Greeting,
    /// Its READY command (its metadata is not needed).
    Ready,
    /// A subscription to messages whose first frame starts with this prefix.
    Subscribe(Vec<u8>),
    /// A subscription withdrawn.
    Cancel(Vec<u8>),
    /// A heartbeat PING with the context to echo in the PONG.
    Ping(Vec<u8>),
    /// Anything else (ignored).
    Other,
}

/// The bytes a peer sends, split into [`Inbound`] items as they arrive.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    greeted: bool,
}

impl Decoder {
    /// Appends bytes read from the peer.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete item, `None` until more bytes arrive; an error closes the connection.
    pub fn next_item(&mut self) -> Result<Option<Inbound>, String> {
        if !self.greeted {
            if self.buf.len() < GREETING_LEN {
                return Ok(None);
            }
            let g: Vec<u8> = self.buf.drain(..GREETING_LEN).collect();
            if g[0] != 0xff || g[9] & 1 != 1 || g[10] < 3 {
                return Err("not a ZMTP 3 greeting".to_owned());
            }
            if &g[12..16] != b"NULL" || g[16..32].iter().any(|&b| b != 0) {
                return Err("only the NULL security mechanism is served".to_owned());
            }
            self.greeted = true;
            return Ok(Some(Inbound::Greeting));
        }
        let Some(&flags) = self.buf.first() else { return Ok(None) };
        let (size, head) = if flags & LONG != 0 {
            let Some(size) = self.buf.get(1..9) else { return Ok(None) };
            (u64::from_be_bytes(size.try_into().expect("8 bytes")), 9)
        } else {
            let Some(&size) = self.buf.get(1) else { return Ok(None) };
            (u64::from(size), 2)
        };
        // Peers send subscriptions and commands, all small; a huge frame is not a SUB peer.
        if size > 1 << 20 {
            return Err(format!("frame of {size} bytes from a subscriber"));
        }
        let end = head + size as usize;
        if self.buf.len() < end {
            return Ok(None);
        }
        let body: Vec<u8> = self.buf.drain(..end).skip(head).collect();
        Ok(Some(if flags & COMMAND != 0 { command(&body) } else { legacy_subscription(&body) }))
    }
}

/// A command frame's meaning.
fn command(body: &[u8]) -> Inbound {
    let Some((&n, rest)) = body.split_first() else { return Inbound::Other };
    let Some(name) = rest.get(..usize::from(n)) else { return Inbound::Other };
    let data = &rest[usize::from(n)..];
    match name {
        b"READY" => Inbound::Ready,
        b"SUBSCRIBE" => Inbound::Subscribe(data.to_vec()),
        b"CANCEL" => Inbound::Cancel(data.to_vec()),
        // PING: a 2-byte TTL, then the context to echo.
        b"PING" => Inbound::Ping(data.get(2..).unwrap_or_default().to_vec()),
        _ => Inbound::Other,
    }
}

/// ZMTP 3.0's subscriptions: a message whose first byte is 1 (subscribe) or 0 (cancel).
fn legacy_subscription(body: &[u8]) -> Inbound {
    match body.split_first() {
        Some((1, topic)) => Inbound::Subscribe(topic.to_vec()),
        Some((0, topic)) => Inbound::Cancel(topic.to_vec()),
        _ => Inbound::Other,
    }
}

/// A peer's subscriptions: prefixes of the first frame, counted (a prefix subscribed twice
/// needs two cancels, as in libzmq).
#[derive(Debug, Default)]
pub struct Subscriptions(Vec<Vec<u8>>);

impl Subscriptions {
    /// Applies a subscribe or cancel.
    pub fn apply(&mut self, item: &Inbound) {
        match item {
            Inbound::Subscribe(prefix) => self.0.push(prefix.clone()),
            Inbound::Cancel(prefix) => {
                if let Some(i) = self.0.iter().position(|p| p == prefix) {
                    self.0.swap_remove(i);
                }
            }
            _ => {}
        }
    }

    /// Whether a message with this first frame goes to the peer.
    pub fn matches(&self, topic: &[u8]) -> bool {
        self.0.iter().any(|p| topic.starts_with(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_and_ready_are_what_libzmq_expects() {
        let g = greeting();
        assert_eq!((g[0], g[9], g[10], g[11], &g[12..17], g[32]), (0xff, 0x7f, 3, 1, &b"NULL\0"[..], 0));
        let r = ready("PUB");
        assert_eq!(r[0], COMMAND);
        assert_eq!(usize::from(r[1]), r.len() - 2);
        assert_eq!(&r[2..8], b"\x05READY");
        assert_eq!(&r[8..], b"\x0bSocket-Type\0\0\0\x03PUB");
    }

    #[test]
    fn messages_flag_more_and_long_frames() {
        let long = vec![7u8; 300];
        let m = message(&[b"kv", &[0, 0, 0, 0, 0, 0, 0, 5], &long]);
        assert_eq!(&m[..4], b"\x01\x02kv");
        assert_eq!(&m[4..6], &[MORE, 8]);
        assert_eq!(m[14], LONG, "the last frame has no MORE and an 8-byte size");
        assert_eq!(&m[15..23], &300u64.to_be_bytes());
        assert_eq!(m.len(), 23 + 300);
    }

    #[test]
    fn decodes_a_sub_peer_byte_by_byte() {
        let mut peer = greeting().to_vec();
        let mut ready_sub = command_name("READY");
        property(&mut ready_sub, "Socket-Type", b"SUB");
        push_frame(&mut peer, COMMAND, &ready_sub);
        let mut sub = command_name("SUBSCRIBE");
        sub.extend_from_slice(b"kv@");
        push_frame(&mut peer, COMMAND, &sub);
        push_frame(&mut peer, 0, b"\x01");
        push_frame(&mut peer, 0, b"\x00kv@");
        let mut ping = command_name("PING");
        ping.extend_from_slice(b"\0\x10ctx");
        push_frame(&mut peer, COMMAND, &ping);
        let mut d = Decoder::default();
        let mut items = Vec::new();
        for b in peer {
            d.feed(&[b]);
            while let Some(item) = d.next_item().unwrap() {
                items.push(item);
            }
        }
        assert_eq!(
            items,
            vec![
                Inbound::Greeting,
                Inbound::Ready,
                Inbound::Subscribe(b"kv@".to_vec()),
                Inbound::Subscribe(Vec::new()),
                Inbound::Cancel(b"kv@".to_vec()),
                Inbound::Ping(b"ctx".to_vec()),
            ]
        );
        let mut subs = Subscriptions::default();
        items.iter().for_each(|i| subs.apply(i));
        assert!(subs.matches(b"anything"), "the empty prefix matches every topic");
    }

    #[test]
    fn refuses_other_mechanisms_and_protocols() {
        let mut plain = greeting();
        plain[12..17].copy_from_slice(b"PLAIN");
        let mut d = Decoder::default();
        d.feed(&plain);
        assert!(d.next_item().is_err());
        let mut d = Decoder::default();
        d.feed(&[b'G'; 64]);
        assert!(d.next_item().is_err(), "HTTP is not ZMTP");
    }

    #[test]
    fn subscriptions_match_prefixes_and_cancel_one_at_a_time() {
        let mut s = Subscriptions::default();
        assert!(!s.matches(b"kv"), "no subscription, no messages");
        s.apply(&Inbound::Subscribe(b"kv".to_vec()));
        s.apply(&Inbound::Subscribe(b"kv".to_vec()));
        assert!(s.matches(b"kv@model") && !s.matches(b"k"));
        s.apply(&Inbound::Cancel(b"kv".to_vec()));
        assert!(s.matches(b"kv"));
        s.apply(&Inbound::Cancel(b"kv".to_vec()));
        assert!(!s.matches(b"kv"));
    }
}
