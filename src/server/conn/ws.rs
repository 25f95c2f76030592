//! `/metrics/stream` over WebSocket: the handshake, then client messages answered as they
//! arrive and `metrics_update`s sent every subscription interval until either side closes
//! or the server drains.

use std::time::Duration;

use monoio::{
    buf::IoBufMut,
    io::{CancelableAsyncReadRent, Canceller},
    time::Instant,
};

use super::{Conn, Fill};
use crate::{
    error::Error,
    metrics::{Snapshot, stream::Subscription, window::Totals},
    proto::{
        http1::RequestHead,
        websocket::{self, close, opcode},
    },
};

/// Largest client message accepted.
const MAX_MESSAGE: usize = 64 * 1024;

impl Conn {
    /// Answers a WebSocket handshake with 101 (counted under `endpoint`); false when the
    /// request is not a valid upgrade (a 400 was sent).
    pub(super) async fn accept_websocket(&mut self, head: &RequestHead, endpoint: usize) -> bool {
        let key = match (
            head.header(crate::proto::http1::Field::WebsocketKey),
            head.header(crate::proto::http1::Field::WebsocketVersion),
        ) {
            (Some(key), Some("13")) => key,
            _ => {
                let e = Error::bad_request("WebSocket upgrade needs Sec-WebSocket-Key and Sec-WebSocket-Version: 13");
                self.fail(e, head.minor_version, endpoint).await;
                return false;
            }
        };
        self.core.shard().count_response(endpoint, 101);
        self.wbuf
            .extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
        self.wbuf.extend_from_slice(format!("Sec-WebSocket-Accept: {}\r\n\r\n", websocket::accept_key(key)).as_bytes());
        true
    }

    /// Serves a `/metrics/stream` WebSocket upgrade (counted under `endpoint`); the connection
    /// ends with it.
    pub(super) async fn metrics_stream(&mut self, head: &RequestHead, endpoint: usize) {
        if !self.accept_websocket(head, endpoint).await {
            return;
        }
        let mut sub = Subscription::default();
        self.send_update(&mut sub, "historical_data");
        let mut next = Instant::now() + sub.interval;
        let mut message = Vec::new();
        loop {
            let interval = sub.interval;
            if let Err(code) = self.answer_frames(&mut sub, &mut message) {
                websocket::encode_close(code, &mut self.wbuf);
                self.flush().await;
                return;
            }
            if sub.interval != interval {
                next = Instant::now() + sub.interval;
            }
            if !self.flush_unless_draining().await {
                return;
            }
            // Wake at least once a second to notice a drain.
            let wake = next.min(Instant::now() + Duration::from_secs(1));
            match self.fill_or_wake(wake).await {
                Fill::Data => {}
                Fill::Closed => return,
                Fill::TimedOut if Instant::now() < next => {}
                Fill::TimedOut => {
                    if sub.active {
                        self.send_update(&mut sub, "metrics_update");
                    }
                    next = (next + sub.interval).max(Instant::now());
                }
            }
        }
    }

    /// Answers every complete frame in the read buffer; `Err` is a close code to end with.
    fn answer_frames(&mut self, sub: &mut Subscription, message: &mut Vec<u8>) -> Result<(), u16> {
        self.read_messages(message, MAX_MESSAGE, |text, wbuf| {
            let reply = sub.on_message(text, unix_seconds());
            websocket::encode(opcode::TEXT, reply.to_string().as_bytes(), wbuf);
        })
    }

    /// Takes every complete frame from the read buffer: pings answered, each whole text message
    /// (of at most `max` bytes) handed to `on_text` with the write buffer. `Err` is a close code
    /// to end with.
    pub(super) fn read_messages(
        &mut self,
        message: &mut Vec<u8>,
        max: usize,
        mut on_text: impl FnMut(&str, &mut Vec<u8>),
    ) -> Result<(), u16> {
        while let Some((frame, used)) = websocket::decode(&self.rbuf, max)? {
            self.rbuf.drain(..used);
            match frame.opcode {
                opcode::PING => websocket::encode(opcode::PONG, &frame.payload, &mut self.wbuf),
                opcode::PONG => {}
                opcode::CLOSE => return Err(close::NORMAL),
                opcode::BINARY => return Err(close::UNSUPPORTED_DATA),
                op => {
                    if (op == opcode::TEXT) != message.is_empty() {
                        return Err(close::PROTOCOL_ERROR);
                    }
                    message.extend_from_slice(&frame.payload);
                    if message.len() > max {
                        return Err(close::TOO_BIG);
                    }
                    if frame.fin {
                        let text = std::str::from_utf8(message).map_err(|_| close::INVALID_PAYLOAD)?;
                        on_text(text, &mut self.wbuf);
                        message.clear();
                    }
                }
            }
        }
        Ok(())
    }

    /// Sends what is queued; false when the session is over: the peer is gone, or the server
    /// drains (then a 1001 close goes out first).
    pub(super) async fn flush_unless_draining(&mut self) -> bool {
        if !self.flush().await {
            return false;
        }
        if self.core.draining.get() {
            websocket::encode_close(close::GOING_AWAY, &mut self.wbuf);
            self.flush().await;
            return false;
        }
        true
    }

    /// Queues one update frame of `kind` from all shards merged now.
    fn send_update(&mut self, sub: &mut Subscription, kind: &str) {
        let app = &self.core.app;
        self.core.publish_metrics();
        let snap = Snapshot::merge(&app.shards);
        let rates = app.window.rates(std::time::Instant::now(), &Totals::of(&snap));
        let update = sub.update(kind, &snap, &rates, unix_seconds());
        websocket::encode(opcode::TEXT, update.to_string().as_bytes(), &mut self.wbuf);
    }

    /// Reads more bytes until `deadline`, keeping whatever a cancelled read already got.
    pub(super) async fn fill_or_wake(&mut self, deadline: Instant) -> Fill {
        self.make_room();
        let buf = std::mem::take(&mut self.rbuf);
        let len = buf.len();
        let canceller = Canceller::new();
        let timer = self.core.timer.clone();
        let (timed_out, (res, slice)) = {
            let read = self.stream.cancelable_read(buf.slice_mut(len..), canceller.handle());
            let mut read = std::pin::pin!(read);
            let done = monoio::select! {
                r = &mut read => Some(r),
                _ = timer.sleep_until(deadline.into_std()) => None,
            };
            match done {
                Some(r) => (false, r),
                None => {
                    canceller.cancel();
                    (true, read.await)
                }
            }
        };
        self.rbuf = slice.into_inner();
        match res {
            Err(_) if timed_out => Fill::TimedOut,
            res => self.took(res),
        }
    }
}

fn unix_seconds() -> f64 {
    let (secs, micros) = crate::clock::unix_now();
    secs as f64 + micros as f64 / 1e6
}
