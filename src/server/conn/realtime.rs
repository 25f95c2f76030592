//! `/v1/realtime` over WebSocket: the socket side of [`crate::api::realtime`]. Client messages
//! go into the session as they arrive; its events go out at their due times on the core's
//! timer, like SSE tokens.

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
};

/// Largest client message accepted (audio appends are large: 1 s of pcm16 is 64 KiB of base64).
const MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// The loop wakes at least this often to notice a drain.
const DRAIN_CHECK: Duration = Duration::from_secs(1);

impl Conn {
    /// Serves a Realtime session (counted under `endpoint`); the connection ends with it.
    pub(super) async fn realtime(&mut self, head: &RequestHead, endpoint: usize) {
        if !self.accept_websocket(head, endpoint).await {
            return;
        }
        let model = query::param(head.query(), "model").unwrap_or_else(|| realtime::DEFAULT_MODEL.to_owned());
        let seed = self.core.rng.borrow_mut().next_u64();
        let mut session = Session::new(realtime::config(&self.core.app), &model, seed, crate::clock::unix_now().0);
        let start = Instant::now();
        let mut message = Vec::new();
        loop {
            let now = start.elapsed();
            while let Some(event) = session.poll(now) {
                websocket::encode(opcode::TEXT, event.as_bytes(), &mut self.wbuf);
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
