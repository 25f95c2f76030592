//! `/v1/realtime` over WebSocket: the socket side of [`crate::api::realtime`]. Client messages
//! go into the session as they arrive; its events go out at their due times on the core's
//! timer, like SSE tokens. A mid-stream fault (by header or rate, decided at the handshake)
//! strikes after `after=N` server events (default 1: right after `session.created`).

use std::time::Duration;

use monoio::time::Instant;

use super::{Conn, Fill};
use crate::{
    api::realtime::{self, session::Session},
    proto::{
        http1::RequestHead,
        query,
        websocket::{self, opcode},
    },
    state::faults::{At, Fault, Kind},
};

/// Largest client message accepted (audio appends are large: 1 s of pcm16 is 64 KiB of base64).
const MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// The loop wakes at least this often to notice a drain.
const DRAIN_CHECK: Duration = Duration::from_secs(1);

impl Conn {
    /// Serves a Realtime session (counted under `endpoint`); the connection ends with it.
    pub(super) async fn realtime(&mut self, head: &RequestHead, endpoint: usize, mut fault: Option<Fault>) {
        if !self.accept_websocket(head, endpoint).await {
            return;
        }
        let model = query::param(head.query(), "model").unwrap_or_else(|| realtime::DEFAULT_MODEL.to_owned());
        let seed = self.core.rng.borrow_mut().next_u64();
        let mut session = Session::new(realtime::config(&self.core.app), &model, seed, crate::clock::unix_now().0);
        let start = Instant::now();
        let mut message = Vec::new();
        // An open session has no length to take a fraction of: `at=F` strikes after the first event.
        let strike_after = fault.map_or(0, |f| match f.at {
            At::Event(n) => n,
            At::Fraction(_) => 1,
        });
        let mut sent = 0u64;
        loop {
            let now = start.elapsed();
            while let Some(event) = session.poll(now) {
                websocket::encode(opcode::TEXT, event.as_bytes(), &mut self.wbuf);
                sent += 1;
                if sent >= strike_after
                    && let Some(f) = fault.take()
                    && !self.realtime_fault(&f).await
                {
                    return;
                }
            }
            if !self.flush_unless_draining().await {
                return;
            }
            let wake = session.next_due().map_or(now + DRAIN_CHECK, |due| due.min(now + DRAIN_CHECK));
            match self.fill_or_wake(start + wake).await {
                Fill::Closed => return,
                Fill::TimedOut => {}
                Fill::Data => {
                    let read = self.read_messages(&mut message, MAX_MESSAGE, |text, _| {
                        session.receive(text, start.elapsed());
                    });
                    if let Err(code) = read {
                        websocket::encode_close(code, &mut self.wbuf);
                        self.flush().await;
                        return;
                    }
                }
            }
        }
    }
}

impl Conn {
    /// The planned fault strikes, after what is queued: false when the session ends with it
    /// (an `error` event and close 1011, a clean close 1000 cut short, or the TCP connection
    /// closed without a close frame); a stall or a broken message and the session goes on.
    async fn realtime_fault(&mut self, fault: &Fault) -> bool {
        self.core.app.state.faults.count(fault);
        match fault.kind {
            Kind::Stall => {
                let ok = self.flush().await;
                monoio::time::sleep(fault.delay).await;
                ok
            }
            Kind::Malformed => {
                websocket::encode(opcode::TEXT, b"{\"type\": \"response.", &mut self.wbuf);
                true
            }
            Kind::ErrorEvent => {
                let error = serde_json::json!({"type": "error", "event_id": "event_fault", "error": {
                    "type": "server_error",
                    "code": "server_error",
                    "message": "The server had an error while processing your request. Sorry about that!",
                    "param": null,
                    "event_id": null,
                }});
                websocket::encode(opcode::TEXT, error.to_string().as_bytes(), &mut self.wbuf);
                websocket::encode_close(1011, &mut self.wbuf);
                self.flush().await;
                false
            }
            Kind::Truncate => {
                websocket::encode_close(1000, &mut self.wbuf);
                self.flush().await;
                false
            }
            _ => {
                // Close: what was due goes out, then the socket closes with no close frame.
                self.flush().await;
                false
            }
        }
    }
}
