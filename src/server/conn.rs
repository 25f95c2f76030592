//! One client connection: read requests (keep-alive, pipelined), route them, write replies;
//! streams go out event by event at their absolute deadlines.

use std::{io::ErrorKind, os::fd::AsRawFd, rc::Rc, time::Duration};

use monoio::{
    io::AsyncWriteRentExt,
    net::TcpStream,
    time::{Instant, timeout_at},
};

mod realtime;
mod ws;

use super::core::Core;
use crate::{
    api::{Ctx, Full, Prepared, Reply, Request, events::TimedEvents},
    arrival,
    error::Error,
    generation::GenSummary,
    metrics::{Counter, model_stats::Finish},
    proto::http1::{
        BodyFraming, ChunkedDecoder, HttpError, Method, RequestHead, ResponseHead, frame_chunk, parse_head,
    },
    router::{
        self, BodyKind, Found, Route, Upgrade,
        faults::{self, ConnFault},
    },
    sse::{Step, TokenStream},
};

/// Read at least this much free space before each read.
const MIN_READ: usize = 1024;

/// What a read produced.
enum Fill {
    Data,
    Closed,
    TimedOut,
}

/// Serves one accepted connection to completion.
pub(crate) async fn serve(core: Rc<Core>, stream: TcpStream) {
    serve_on(core, stream, false).await;
}

/// Serves a connection to the DCGM port: only the exporter's paths
/// ([`crate::api::dcgm::exporter_path`]), every other path a 404.
pub(crate) async fn serve_dcgm(core: Rc<Core>, stream: TcpStream) {
    serve_on(core, stream, true).await;
}

async fn serve_on(core: Rc<Core>, stream: TcpStream, dcgm_port: bool) {
    let _ = stream.set_nodelay(true);
    if !core.app.args.send_timeout.is_zero() {
        let _ = crate::sockopt::abort_unacknowledged_after(stream.as_raw_fd(), core.app.args.send_timeout);
    }
    core.connections.set(core.connections.get() + 1);
    core.shard().add(Counter::ConnectionsAccepted, 1);
    core.shard().add(Counter::ConnectionsOpen, 1);
    let args = &core.app.args;
    let mut conn = Conn {
        rbuf: Vec::with_capacity(args.read_buffer as usize),
        wbuf: Vec::new(),
        core: core.clone(),
        stream,
        received: Instant::now(),
        dcgm_port,
    };
    conn.run().await;
    core.shard().sub(Counter::ConnectionsOpen, 1);
    core.connections.set(core.connections.get() - 1);
}

struct Conn {
    core: Rc<Core>,
    stream: TcpStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// When the kernel received the bytes of the latest read.
    received: Instant,
    /// A connection to the DCGM port.
    dcgm_port: bool,
}

impl Conn {
    async fn run(&mut self) {
        loop {
            let head = match self.read_head().await {
                Ok(Some(head)) => head,
                Ok(None) => break,
                Err(e) => {
                    self.core.shard().add(Counter::Requests, 1);
                    self.fail(e.into(), 1, router::table::router().other()).await;
                    break;
                }
            };
            self.core.shard().add(Counter::Requests, 1);
            // Boxed so that an idle connection's future holds only the reading state.
            if !Box::pin(self.handle(head)).await {
                break;
            }
        }
        self.flush().await;
    }

    /// Waits for a complete request head. `None` means the peer closed or idled out.
    async fn read_head(&mut self) -> Result<Option<RequestHead>, HttpError> {
        let args = &self.core.app.args;
        let (max_head, header_timeout, idle_timeout) =
            (args.max_header_size as usize, args.header_timeout, args.keepalive_timeout);
        let mut head_deadline = None;
        loop {
            if !self.rbuf.is_empty() {
                if let Some(head) = parse_head(&self.rbuf, max_head)? {
                    return Ok(Some(head));
                }
                head_deadline.get_or_insert_with(|| Instant::now() + header_timeout);
            } else if self.core.draining.get() {
                return Ok(None);
            } else {
                self.release_idle_buffers();
            }
            // Pipelined responses are batched until the input runs dry.
            if !self.flush().await {
                return Ok(None);
            }
            let deadline = head_deadline.unwrap_or_else(|| Instant::now() + idle_timeout);
            match self.fill(deadline).await {
                Fill::Data => {}
                Fill::Closed => return Ok(None),
                Fill::TimedOut if head_deadline.is_some() => return Err(HttpError::Timeout("header")),
                Fill::TimedOut => return Ok(None),
            }
        }
    }

    /// Reads more bytes into `rbuf` until `deadline`, noting when the kernel received them.
    async fn fill(&mut self, deadline: Instant) -> Fill {
        self.make_room();
        loop {
            // Waiting first: the next request is rarely there yet, and a read that finds nothing
            // would be a wasted syscall. The strict wait re-checks readiness that our own reads
            // may have left stale on the epoll driver.
            match timeout_at(deadline, self.stream.readable(false)).await {
                Err(_) => return Fill::TimedOut,
                Ok(Err(e)) => return self.took(Err(e)),
                Ok(Ok(())) => {}
            }
            match arrival::recv(self.stream.as_raw_fd(), &mut self.rbuf) {
                Ok((n, received)) => {
                    self.received = Instant::from_std(received);
                    return self.took(Ok(n));
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(e) => return self.took(Err(e)),
            }
        }
    }

    /// Ensures `rbuf` has room for a read of at least `MIN_READ` bytes.
    fn make_room(&mut self) {
        if self.rbuf.capacity() - self.rbuf.len() < MIN_READ {
            self.rbuf.reserve(self.rbuf.capacity().max(MIN_READ * 4));
        }
    }

    /// What a finished read means for the connection; counts the bytes it brought.
    fn took(&self, res: std::io::Result<usize>) -> Fill {
        match res {
            // Aborted by `--send-timeout` while this side was reading (the reply sat unread).
            Err(e) if e.raw_os_error() == Some(libc::ETIMEDOUT) => {
                self.core.shard().add(Counter::SendTimeouts, 1);
                Fill::Closed
            }
            Ok(0) | Err(_) => Fill::Closed,
            Ok(n) => {
                self.core.shard().add(Counter::BytesIn, n as u64);
                Fill::Data
            }
        }
    }

    /// Handles one request; false when the connection must close.
    async fn handle(&mut self, head: RequestHead) -> bool {
        self.rbuf.drain(..head.head_len);
        let router = router::table::router();
        let path = if self.dcgm_port { crate::api::dcgm::exporter_path(head.path()) } else { Some(head.path()) };
        let found = path.map_or(Found::NotFound, |path| router.find(head.method, path));
        let label = found.label(router);
        if head.expect_continue && head.body != BodyFraming::None {
            self.wbuf.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            if !self.flush().await {
                return false;
            }
        }
        let limit = match &found {
            Found::Route { route, .. } => route.body_limit(&self.core.app.args),
            _ => self.core.app.args.max_body_size,
        };
        let mut body = match self.read_body(&head, limit).await {
            Ok(body) => body,
            Err(e) => {
                self.fail(e.into(), head.minor_version, label).await;
                return false;
            }
        };
        if let Found::Route { route, params, .. } = &found
            && let BodyKind::Upgrade(protocol) = route.body
            && head.websocket
        {
            // A keyed WebSocket needs its key (and room in its limits) before the handshake.
            let request = Request { head: &head, body: &[], params, prepared: Default::default() };
            let fault = match router::admit(&self.core.app, route, &request, super::signals::hangups()) {
                Ok(admitted) => admitted.fault,
                Err(refused) => {
                    self.queue(Framing::of(&head, false, label), &refused);
                    self.flush().await;
                    return false;
                }
            };
            match protocol {
                Upgrade::MetricsStream => self.metrics_stream(&head, label).await,
                Upgrade::Realtime => self.realtime(&head, label, fault.filter(|f| f.kind.mid_stream())).await,
            }
            return false;
        }
        // Deadlines count from when the request reached the socket, not from when this core read it.
        let arrival = self.received;
        self.core.recorder.borrow_mut().record_read_delay(arrival.elapsed());
        let keep_alive = head.keep_alive && !self.core.draining.get();
        let core = self.core.clone();
        // Headers every response to an admitted request carries (the rate limits).
        let (mut granted, mut charge) = (router::Granted::new(), None);
        let mut conn_fault = None;
        let reply = match found {
            Found::Route { route, params, .. } => {
                let unprepared = Request {
                    head: &head,
                    body: body.bytes(&self.rbuf),
                    params: &params,
                    prepared: Default::default(),
                };
                match router::admit(&core.app, route, &unprepared, super::signals::hangups()) {
                    Ok(admitted) => {
                        (granted, charge) = (admitted.headers, admitted.charge);
                        let prepared = self.prepare(route, &mut body).await;
                        let request = Request { head: &head, body: body.bytes(&self.rbuf), params: &params, prepared };
                        let reply;
                        (reply, conn_fault) =
                            faults::shape(&core.app, admitted.fault, serve_route(&core, route, &request));
                        reply
                    }
                    Err(refused) => Reply::Now(refused),
                }
            }
            Found::Preflight { allow, .. } => Reply::Now(router::preflight(allow)),
            Found::NotAllowed { allow, dialect, .. } => Reply::Now(router::not_allowed(head.path(), allow, dialect)),
            Found::NotFound => Reply::Now(router::not_found(head.path())),
        };
        if let Some(charge) = charge {
            router::settle(&core.app, charge, &reply);
        }
        if let Body::Buffered(n) = body {
            self.rbuf.drain(..n);
        }
        let reply = match conn_fault {
            Some(fault) => match self.connection_fault(fault, &head, reply, label, &granted).await {
                Some(reply) => reply,
                None => return false,
            },
            None => reply,
        };
        core.in_flight.set(core.in_flight.get() + 1);
        let ok = match reply {
            Reply::Now(mut full) => {
                full.extra.append(&mut granted);
                self.queue(Framing::of(&head, keep_alive, label), &full);
                true
            }
            Reply::Generated { after, mut full, summary } => {
                full.extra.append(&mut granted);
                let to = Framing::of(&head, keep_alive, label);
                self.generated(to, full, summary, arrival, after).await
            }
            Reply::Stream(stream) => self.stream(&head, stream, arrival, keep_alive, label, &granted).await,
            Reply::Events(events) => self.events(&head, events, arrival, keep_alive, label, &granted).await,
            Reply::AfterDurable { ack, mut full } => {
                // Awaited here, so this core serves its other connections while the writer commits.
                ack.wait().await;
                full.extra.append(&mut granted);
                self.queue(Framing::of(&head, keep_alive, label), &full);
                true
            }
        };
        core.in_flight.set(core.in_flight.get() - 1);
        let latency = arrival.elapsed().as_secs_f64();
        core.recorder.borrow_mut().record_latency(label, latency);
        ok && keep_alive
    }

    /// The route's parse of a large body, made on the offload pool while this core serves its
    /// other connections; nothing for a small body (the handler parses it inline: a hand-over
    /// costs more than the parse).
    async fn prepare(&mut self, route: &Route, body: &mut Body) -> Prepared {
        let Some(prepare) = route.prepare else {
            return Prepared::default();
        };
        let len = body.bytes(&self.rbuf).len();
        if len < OFFLOAD_FROM {
            return Prepared::default();
        }
        // The buffer travels to the pool and back (pipelined bytes after the body included).
        let held = match body {
            Body::Buffered(_) => std::mem::take(&mut self.rbuf),
            Body::Decoded(bytes) => std::mem::take(bytes),
        };
        let app = self.core.app.clone();
        let (held, parsed) = super::offload::run(move || {
            let parse = || prepare(&app, &held[..len]);
            // A panic leaves the parse to the handler, which answers it with a 500.
            let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)).ok();
            (held, parsed)
        })
        .await;
        match body {
            Body::Buffered(_) => self.rbuf = held,
            Body::Decoded(bytes) => *bytes = held,
        }
        parsed.map_or_else(Prepared::default, Prepared::new)
    }

    /// Acts on an injected connection fault before `reply` is sent: `None` when the connection
    /// is to close now (reset, or closed after the response head).
    async fn connection_fault(
        &mut self,
        fault: ConnFault,
        head: &RequestHead,
        reply: Reply,
        label: usize,
        granted: &router::Granted,
    ) -> Option<Reply> {
        match fault {
            ConnFault::SlowFirstByte(delay) => {
                self.flush().await;
                self.core.timer.sleep_until((Instant::now() + delay).into_std()).await;
                return Some(reply);
            }
            ConnFault::Reset => {
                self.flush().await;
                let _ = crate::sockopt::reset_on_close(self.stream.as_raw_fd());
            }
            ConnFault::CloseAfterHeaders => {
                match reply {
                    Reply::Now(full) | Reply::Generated { full, .. } | Reply::AfterDurable { full, .. } => {
                        let start = self.wbuf.len();
                        self.queue(Framing::of(head, false, label), &full);
                        let head_end = memchr::memmem::find(&self.wbuf[start..], b"\r\n\r\n").map(|at| start + at + 4);
                        self.wbuf.truncate(head_end.unwrap_or(start));
                    }
                    Reply::Stream(_) | Reply::Events(_) => self.sse_head(head, false, granted),
                }
                self.flush().await;
            }
        }
        None
    }

    /// Reads the request body per its framing, enforcing the route's size `limit` and the time limit.
    async fn read_body(&mut self, head: &RequestHead, limit: u64) -> Result<Body, HttpError> {
        let deadline = Instant::now() + self.core.app.args.body_timeout;
        match head.body {
            BodyFraming::None => Ok(Body::Buffered(0)),
            BodyFraming::Length(n) if n > limit => Err(HttpError::BodyTooLarge(limit)),
            BodyFraming::Length(n) => {
                let n = n as usize;
                while self.rbuf.len() < n {
                    // Grown as bytes arrive: a declared length costs nothing until it is sent.
                    let grow = body_growth(self.rbuf.len(), self.rbuf.capacity(), n);
                    self.rbuf.reserve_exact(grow);
                    match self.fill(deadline).await {
                        Fill::Data => {}
                        Fill::Closed => return Err(HttpError::Truncated),
                        Fill::TimedOut => return Err(HttpError::Timeout("body")),
                    }
                }
                Ok(Body::Buffered(n))
            }
            BodyFraming::Chunked => {
                let mut decoder = ChunkedDecoder::new(limit);
                let mut out = Vec::new();
                loop {
                    let used = decoder.decode(&self.rbuf, &mut out)?;
                    self.rbuf.drain(..used);
                    if decoder.is_done() {
                        return Ok(Body::Decoded(out));
                    }
                    match self.fill(deadline).await {
                        Fill::Data => {}
                        Fill::Closed => return Err(HttpError::Truncated),
                        Fill::TimedOut => return Err(HttpError::Timeout("body")),
                    }
                }
            }
        }
    }

    /// Between requests a connection holds only its configured read buffer: thousands of idle
    /// keep-alive connections are the common case. Costs an allocation per request, never per token.
    fn release_idle_buffers(&mut self) {
        if self.wbuf.is_empty() && self.wbuf.capacity() > 0 {
            self.wbuf = Vec::new();
        }
        let keep = self.core.app.args.read_buffer as usize;
        if self.rbuf.is_empty() && self.rbuf.capacity() > keep {
            self.rbuf = Vec::with_capacity(keep);
        }
    }

    /// Gives an empty write buffer its configured starting capacity.
    fn reserve_write_buffer(&mut self) {
        if self.wbuf.capacity() == 0 {
            self.wbuf.reserve(self.core.app.args.write_buffer as usize);
        }
    }

    /// Appends a complete response to the write buffer.
    fn queue(&mut self, to: Framing<'_>, full: &Full) {
        self.reserve_write_buffer();
        self.core.shard().count_response(to.endpoint, full.status);
        if full.status >= 400 {
            self.core.shard().add(Counter::ErrorResponses, 1);
            let by_status = if full.status >= 500 { "server_error" } else { "invalid_request_error" };
            self.core.shard().count_error(full.error_type.unwrap_or(by_status));
        }
        let extra: Vec<(&str, &str)> = full.extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        ResponseHead {
            status: full.status,
            content_type: full.content_type,
            content_length: Some(full.body.as_slice().len()),
            keep_alive: to.keep_alive,
            minor_version: to.minor_version,
            date: &self.core.date(),
            request_id: to.request_id,
            extra: &extra,
        }
        .encode(&mut self.wbuf);
        if !to.head_only {
            self.wbuf.extend_from_slice(full.body.as_slice());
        }
    }

    /// A non-streaming generation: wait until it is due, then send it.
    async fn generated(
        &mut self,
        to: Framing<'_>,
        full: Full,
        summary: GenSummary,
        arrival: Instant,
        after: Duration,
    ) -> bool {
        let slot = self.core.admit(&summary, to.endpoint);
        if arrival + after > Instant::now() {
            if !self.flush().await {
                self.bill(&summary, 0, false);
                self.finish_generation(slot, &summary, 0, false, None, arrival);
                return false;
            }
            self.core.timer.sleep_until_first((arrival + after).into_std()).await;
        }
        // With an engine, `after` was a lower bound: wait for the step that samples the last token.
        let mut after = after;
        while let Some(later) =
            summary.engine.as_ref().filter(|_| !after.is_zero()).and_then(|e| e.pending(arrival.elapsed()))
        {
            self.core.timer.sleep_until((arrival + later).into_std()).await;
            after = later;
        }
        self.queue(to, &full);
        self.bill(&summary, summary.generated, true);
        let ok = self.flush().await;
        let n = summary.generated;
        if ok {
            self.core.shard().add(Counter::CompletionTokens, n);
        }
        let ttft = summary.first_token.min(after).as_secs_f64();
        let steps = summary.longest.saturating_sub(1).max(1) as f64;
        let gap = (after.as_secs_f64() - ttft).max(0.0) / steps;
        self.core.recorder.borrow_mut().model(slot).generated_at_once(n, ttft, gap);
        self.finish_generation(slot, &summary, n, ok, Some(ttft), arrival);
        ok
    }

    /// Bills a generation in the usage ledger. Called before a reply's last bytes are written, so
    /// that a client that has read the whole reply finds it in `/v1/organization/usage` at once.
    fn bill(&self, s: &GenSummary, sent: u64, ok: bool) {
        crate::state::usage::record_generation(&self.core.app.state.usage, s, sent, ok, crate::clock::unix_now().0);
    }

    /// Records the end of a generation in the counters and the model's statistics.
    fn finish_generation(&self, slot: usize, s: &GenSummary, sent: u64, ok: bool, ttft: Option<f64>, arrival: Instant) {
        let shard = self.core.shard();
        let how = match (ok, s.finish_reason) {
            (false, _) => Finish::Abort,
            (true, "length") => Finish::Length,
            (true, _) => Finish::Stop,
        };
        if ok {
            shard.add(Counter::GenerationsCompleted, 1);
            shard.add(Counter::PromptTokens, s.usage.prompt_tokens);
        }
        let e2e = arrival.elapsed().as_secs_f64();
        self.core.recorder.borrow_mut().model(slot).finish(how, s.usage.prompt_tokens, sent, ttft, e2e);
    }

    /// Writes the head of an SSE response, with `granted`'s headers.
    fn sse_head(&mut self, head: &RequestHead, keep_alive: bool, granted: &router::Granted) {
        self.reserve_write_buffer();
        const SSE: [(&str, &str); 2] = [("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no")];
        let with_limits: Vec<(&str, &str)>;
        let extra: &[(&str, &str)] = if granted.is_empty() {
            &SSE
        } else {
            with_limits = SSE.into_iter().chain(granted.iter().map(|(k, v)| (*k, v.as_str()))).collect();
            &with_limits
        };
        ResponseHead {
            status: 200,
            content_type: "text/event-stream; charset=utf-8",
            content_length: None,
            keep_alive: keep_alive && head.minor_version == 1,
            minor_version: head.minor_version,
            date: &self.core.date(),
            request_id: head.request_id(),
            extra,
        }
        .encode(&mut self.wbuf);
    }

    /// Streams pre-rendered events (not tokens), each at its offset from arrival.
    async fn events(
        &mut self,
        head: &RequestHead,
        mut events: Box<TimedEvents>,
        arrival: Instant,
        keep_alive: bool,
        endpoint: usize,
        granted: &router::Granted,
    ) -> bool {
        let chunked = head.minor_version == 1;
        self.sse_head(head, keep_alive, granted);
        let slot = self.core.admit(events.summary(), endpoint);
        self.core.shard().count_response(endpoint, 200);
        let (mut ok, mut billed) = (self.flush().await, false);
        while ok {
            let start = self.wbuf.len();
            let step = events.emit_due(arrival.elapsed(), &mut self.wbuf);
            if chunked {
                frame_chunk(&mut self.wbuf, start);
            }
            if step == Step::Finished {
                if chunked {
                    self.wbuf.extend_from_slice(b"0\r\n\r\n");
                }
                self.bill(events.summary(), 0, true);
                billed = true;
            }
            ok = self.flush().await;
            match step {
                Step::WaitUntil(offset) => self.core.timer.sleep_until((arrival + offset).into_std()).await,
                Step::Finished => break,
                // An injected close: what was due is out; the connection closes mid-response.
                Step::Abort => {
                    ok = false;
                    break;
                }
            }
        }
        let summary = events.summary().clone();
        if !billed {
            self.bill(&summary, 0, false);
        }
        let ttft = Some(summary.first_token.as_secs_f64()).filter(|_| ok);
        self.finish_generation(slot, &summary, 0, ok, ttft, arrival);
        ok && chunked
    }

    /// Streams SSE events, each due batch in one write at its absolute deadline.
    async fn stream(
        &mut self,
        head: &RequestHead,
        mut stream: Box<TokenStream>,
        arrival: Instant,
        keep_alive: bool,
        endpoint: usize,
        granted: &router::Granted,
    ) -> bool {
        let chunked = head.minor_version == 1;
        self.sse_head(head, keep_alive, granted);
        let start = self.wbuf.len();
        stream.open(&mut self.wbuf);
        if chunked {
            frame_chunk(&mut self.wbuf, start);
        }
        let summary = stream.summary();
        let slot = self.core.admit(&summary, endpoint);
        self.core.shard().count_response(endpoint, 200);
        let core = self.core.clone();
        let shard = core.shard();
        shard.add(Counter::StreamsActive, 1);
        let (mut first, mut last, mut billed) = (None, 0.0, false);
        let mut ok = self.flush().await;
        // Until the stream ends its events go through the core's shared buffers, not this one.
        core.recycle_event_buf(std::mem::take(&mut self.wbuf));
        while ok {
            self.wbuf = core.event_buf();
            let before = stream.remaining();
            let elapsed = arrival.elapsed();
            let step = {
                let mut recorder = core.recorder.borrow_mut();
                let step = stream.emit_due(elapsed, &mut self.wbuf, |late| recorder.record_lateness(late));
                let sent = before - stream.remaining();
                if sent > 0 {
                    let now = elapsed.as_secs_f64();
                    let model = recorder.model(slot);
                    if first.is_none() {
                        model.first_token(now);
                        first = Some(now);
                    }
                    model.tokens(sent, (before < summary.generated).then_some(now - last));
                    last = now;
                }
                step
            };
            let sent = before - stream.remaining();
            if chunked {
                frame_chunk(&mut self.wbuf, 0);
            }
            if step == Step::Finished {
                if chunked {
                    self.wbuf.extend_from_slice(b"0\r\n\r\n");
                }
                self.bill(&summary, summary.generated - stream.remaining(), true);
                billed = true;
            }
            ok = self.flush().await;
            core.recycle_event_buf(std::mem::take(&mut self.wbuf));
            if ok {
                shard.add(Counter::CompletionTokens, sent);
                shard.add(Counter::SseEvents, sent);
            }
            match step {
                Step::WaitUntil(offset) if first.is_none() => {
                    self.core.timer.sleep_until_first((arrival + offset).into_std()).await
                }
                Step::WaitUntil(offset) => self.core.timer.sleep_until((arrival + offset).into_std()).await,
                Step::Finished => break,
                // An injected close: what was due is out; the connection closes mid-response.
                Step::Abort => {
                    ok = false;
                    break;
                }
            }
        }
        shard.sub(Counter::StreamsActive, 1);
        if !ok {
            shard.add(Counter::StreamsCancelled, 1);
        }
        let sent = summary.generated - stream.remaining();
        if !billed {
            self.bill(&summary, sent, false);
        }
        self.finish_generation(slot, &summary, sent, ok, first, arrival);
        ok && chunked
    }

    /// Sends an error and leaves the connection to close.
    async fn fail(&mut self, e: Error, minor_version: u8, endpoint: usize) {
        let to = Framing { minor_version, keep_alive: false, request_id: None, head_only: false, endpoint };
        self.queue(to, &Full::from(e));
        self.flush().await;
    }

    /// Writes out the write buffer; false if the peer is gone.
    async fn flush(&mut self) -> bool {
        if self.wbuf.is_empty() {
            return true;
        }
        let buf = std::mem::take(&mut self.wbuf);
        let len = buf.len() as u64;
        let (res, mut buf) = self.stream.write_all(buf).await;
        buf.clear();
        self.wbuf = buf;
        match &res {
            Ok(_) => self.core.shard().add(Counter::BytesOut, len),
            // The kernel aborted the connection after `--send-timeout` without the client reading.
            Err(e) if e.raw_os_error() == Some(libc::ETIMEDOUT) => self.core.shard().add(Counter::SendTimeouts, 1),
            Err(_) => {}
        }
        res.is_ok()
    }
}

/// How a complete response is framed for its request.
#[derive(Clone, Copy)]
struct Framing<'a> {
    minor_version: u8,
    keep_alive: bool,
    request_id: Option<&'a str>,
    head_only: bool,
    /// The route, for per-endpoint counts.
    endpoint: usize,
}

impl<'a> Framing<'a> {
    fn of(head: &'a RequestHead, keep_alive: bool, endpoint: usize) -> Self {
        Framing {
            minor_version: head.minor_version,
            keep_alive,
            request_id: head.request_id(),
            head_only: head.method == Method::Head,
            endpoint,
        }
    }
}

/// Runs `route`'s handler: metrics routes publish this core's figures first (other cores
/// publish every `PUBLISH_EVERY`), errors render in the route's dialect, and a bug in a
/// handler answers 500 on this request instead of taking the worker down.
fn serve_route(core: &Core, route: &Route, request: &Request<'_>) -> Reply {
    if route.scrape {
        core.publish_metrics();
    }
    let mut rng = core.rng.borrow_mut();
    let ctx = &mut Ctx { rng: &mut rng, unix_now: crate::clock::unix_now() };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (route.handler)(&core.app, ctx, request)))
        .unwrap_or_else(|_| Err(Error::new(500, "server_error", "Internal error while handling the request")));
    outcome.unwrap_or_else(|e| Reply::Now(Full::error(&e, route.dialect))).once_durable()
}

/// A body is given its whole declared length once this share of it has arrived: the address
/// space reserved is then at most this many times what the client really sent.
const RESERVE_WHOLE_AFTER: usize = 8;

/// How many bytes to add to a read buffer holding `len` of `capacity` bytes while it receives a
/// body that ends at `body_end`: none while a read still fits; the rest of the body once an
/// eighth of it is here (the kernel then fills fresh pages read by read, where a growing
/// buffer would copy and fault them in all at once: ~70 ms per doubling past 10 MB on a VM);
/// else double, never past the body's end plus one read. Reserving the declared length up
/// front let a client hold 64 MiB of address space per connection with one byte sent.
fn body_growth(len: usize, capacity: usize, body_end: usize) -> usize {
    if capacity - len >= MIN_READ {
        return 0;
    }
    let whole = body_end.max(len) + MIN_READ;
    let target = if len.saturating_mul(RESERVE_WHOLE_AFTER) >= body_end {
        whole
    } else {
        (capacity * 2).max(len + MIN_READ * 4).min(whole)
    };
    target - len
}

/// Where a request's body is.
enum Body {
    /// The first `n` bytes of the read buffer.
    Buffered(usize),
    /// Decoded from chunked encoding.
    Decoded(Vec<u8>),
}

impl Body {
    /// The body's bytes, given the connection's read buffer.
    fn bytes<'a>(&'a self, rbuf: &'a [u8]) -> &'a [u8] {
        match self {
            Body::Buffered(n) => &rbuf[..*n],
            Body::Decoded(bytes) => bytes,
        }
    }
}

/// Bodies from this size on are parsed on the offload pool when their route can prepare them.
/// Measured in a debug build with one 5 ms stream on the same worker, parsing inline delayed
/// the stream by ~20 ms for a 250 KB chat prompt, ~100 ms for 5 MB, ~200 ms for 60 MB (counted
/// only up to the window) and ~380 ms for 1 MB of embeddings inputs; offloaded, none of them
/// moved the stream beyond the machine's noise. At 64 KiB an inline parse costs a few ms
/// unoptimized (well under one in a release build), while the hand-over (a socket pair and a
/// thread wake-up, tens of µs) stays small beside it.
const OFFLOAD_FROM: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    /// Grows a buffer from `start` capacity to take a body of `body_end` bytes arriving `read`
    /// bytes at a time; returns the capacities it went through.
    fn grow(start: usize, body_end: usize, read: usize) -> Vec<usize> {
        let (mut len, mut capacity, mut seen) = (0, start, vec![start]);
        while len < body_end {
            // As `Vec::reserve_exact`: room for `len` plus the growth.
            capacity = capacity.max(len + body_growth(len, capacity, body_end));
            assert!(capacity - len >= MIN_READ.min(body_end - len), "room for a read");
            len = (len + read).min(capacity);
            if seen.last() != Some(&capacity) {
                seen.push(capacity);
            }
        }
        seen
    }

    #[test]
    fn a_declared_length_is_not_reserved_before_its_bytes_arrive() {
        let declared = 64 << 20;
        assert_eq!(body_growth(1, 3072, declared), 0, "the idle buffer takes the first read");
        assert!(body_growth(2500, 3072, declared) <= 8 * 1024, "one byte short of room grows by little");
        let steps = grow(3072, declared, 64 * 1024);
        assert!(steps.len() < 16, "doubling: {} reallocations", steps.len());
        assert_eq!(*steps.last().unwrap(), declared + MIN_READ, "the body and one read, no more");
        for pair in steps.windows(2) {
            let reserved_for = pair[1] - MIN_READ;
            assert!(reserved_for <= 2 * pair[0] || pair[0] * RESERVE_WHOLE_AFTER >= declared, "{pair:?}");
        }
        let small = grow(3072, 10_000, 1500);
        assert_eq!(*small.last().unwrap(), 10_000 + MIN_READ);
    }
}
