//! KV events as vLLM publishes them for KV-aware routers (`--kv-events`, vLLM's
//! `--kv-events-config`): every change to the cached blocks — `BlockStored`, `BlockRemoved`,
//! `AllBlocksCleared` — in a msgpack `KVEventBatch` `[ts, [events…], data_parallel_rank]`, sent
//! on a ZeroMQ PUB socket as `[topic, seq (8-byte big-endian), payload]`.
//!
//! Workers never wait on it: the cache hands each batch to a bounded channel (`try_send`, a full
//! channel counts a drop) and one background thread encodes and writes. A subscriber that stops
//! reading loses messages once its backlog passes [`PEER_BACKLOG`] bytes (ZeroMQ's high-water
//! mark), counted too.

use std::{
    io::{self, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
        mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::{
    proto::zmtp::{self, Decoder, Inbound, Subscriptions},
    sim::kv::{BlockHash, Change},
};

/// Batches waiting for the publisher thread before new ones are dropped.
const CHANNEL_BATCHES: usize = 8192;
/// Bytes queued for one subscriber before its messages are dropped.
pub const PEER_BACKLOG: usize = 16 << 20;
/// How often the publisher looks for new subscribers and their subscriptions when idle.
const POLL: Duration = Duration::from_millis(10);

/// `--kv-events`: `tcp://HOST:PORT` to bind the PUB socket on (`*` for every interface).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host as written (`*` → every interface).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl std::str::FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid --kv-events endpoint {s:?}: expected tcp://HOST:PORT, e.g. tcp://*:5557");
        let rest = s.trim().strip_prefix("tcp://").ok_or_else(bad)?;
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let port = port.parse().map_err(|_| bad())?;
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Endpoint { host: host.trim_matches(['[', ']']).to_owned(), port })
    }
}

impl Endpoint {
    /// The address to bind.
    fn addr(&self) -> io::Result<SocketAddr> {
        let host = if self.host == "*" { "0.0.0.0" } else { &self.host };
        (host, self.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))
    }
}

/// How events are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EventFormat {
    /// Tagged maps (`{"type": "BlockStored", "block_hashes": …}`), as vLLM encodes them since
    /// its PR #42892 (2026-06).
    #[default]
    Map,
    /// Positional arrays (`["BlockStored", [hashes], parent, …]`), msgspec's `array_like`
    /// encoding of older vLLM.
    Array,
}

/// One change to the cached blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A run of whole blocks became cached.
    Stored {
        /// Their hashes, in prompt order.
        hashes: Vec<BlockHash>,
        /// The hash of the block before them (none for a prompt's first).
        parent: Option<BlockHash>,
        /// Their tokens, `block_size` per block.
        token_ids: Vec<u32>,
    },
    /// Cached blocks were evicted.
    Removed(Vec<BlockHash>),
    /// Every cached block was forgotten.
    Cleared,
}

/// The events of one admission, from the pool's changes and the request's hashes and tokens:
/// evictions first (vLLM allocates before it caches), then each run of newly cached blocks.
pub fn events_of(changes: &[Change], hashes: &[BlockHash], token_ids: &[u32], block_size: usize) -> Vec<Event> {
    let mut events: Vec<Event> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Removed(h) => Some(Event::Removed(vec![*h])),
            Change::Cleared => Some(Event::Cleared),
            Change::Stored(_) => None,
        })
        .collect();
    let mut stored = changes.iter().filter_map(|c| if let Change::Stored(i) = c { Some(*i) } else { None }).peekable();
    while let Some(start) = stored.next() {
        let mut end = start + 1;
        while stored.next_if_eq(&end).is_some() {
            end += 1;
        }
        let tokens = token_ids.get(start * block_size..end * block_size).unwrap_or_default();
        events.push(Event::Stored {
            hashes: hashes[start..end].to_vec(),
            parent: start.checked_sub(1).map(|p| hashes[p]),
            token_ids: tokens.to_vec(),
        });
    }
    events
}

/// The msgspec-compatible msgpack of a `KVEventBatch` at unix time `ts`.
pub fn encode_batch(events: &[Event], ts: f64, block_size: u64, format: EventFormat) -> Vec<u8> {
    use rmp::encode::{write_array_len, write_f64, write_uint};
    let mut out = Vec::with_capacity(64 + events.len() * 32);
    let _ = write_array_len(&mut out, 3);
    let _ = write_f64(&mut out, ts);
    let _ = write_array_len(&mut out, events.len() as u32);
    for event in events {
        encode_event(&mut out, event, block_size, format);
    }
    let _ = write_uint(&mut out, 0); // data_parallel_rank
    out
}

fn encode_event(out: &mut Vec<u8>, event: &Event, block_size: u64, format: EventFormat) {
    use rmp::encode::{write_array_len, write_map_len, write_nil, write_str, write_uint};
    let hashes = |out: &mut Vec<u8>, hashes: &[BlockHash]| {
        let _ = write_array_len(out, hashes.len() as u32);
        hashes.iter().for_each(|h| drop(write_uint(out, *h)));
    };
    // Each field in order, named in the map format; the array format is the same values.
    let field = |out: &mut Vec<u8>, name: &str| {
        if format == EventFormat::Map {
            let _ = write_str(out, name);
        }
    };
    let (tag, len) = match event {
        Event::Stored { .. } => ("BlockStored", if format == EventFormat::Map { 9 } else { 7 }),
        Event::Removed(_) => ("BlockRemoved", 2),
        Event::Cleared => ("AllBlocksCleared", 0),
    };
    match format {
        EventFormat::Map => {
            let _ = write_map_len(out, len + 1);
            let _ = write_str(out, "type");
        }
        EventFormat::Array => drop(write_array_len(out, len + 1)),
    }
    let _ = write_str(out, tag);
    match event {
        Event::Stored { hashes: h, parent, token_ids } => {
            field(out, "block_hashes");
            hashes(out, h);
            field(out, "parent_block_hash");
            match parent {
                Some(p) => drop(write_uint(out, *p)),
                None => drop(write_nil(out)),
            }
            field(out, "token_ids");
            let _ = write_array_len(out, token_ids.len() as u32);
            token_ids.iter().for_each(|t| drop(write_uint(out, u64::from(*t))));
            field(out, "block_size");
            let _ = write_uint(out, block_size);
            field(out, "lora_id");
            let _ = write_nil(out);
            field(out, "medium");
            let _ = write_str(out, "GPU");
            field(out, "lora_name");
            let _ = write_nil(out);
            // vLLM ≥ 0.26 also names the KV-cache group (one full-attention group here); the
            // array format stops before them, where older decoders stop.
            if format == EventFormat::Map {
                field(out, "group_idx");
                let _ = write_uint(out, 0);
                field(out, "kv_cache_spec_kind");
                let _ = write_str(out, "full_attention");
            }
        }
        Event::Removed(h) => {
            field(out, "block_hashes");
            hashes(out, h);
            field(out, "medium");
            let _ = write_str(out, "GPU");
        }
        Event::Cleared => {}
    }
}

/// Counters of the publisher.
#[derive(Debug, Default)]
pub struct Counters {
    /// Batches published (the next sequence number).
    pub published: AtomicU64,
    /// Batches dropped because the channel was full.
    pub dropped: AtomicU64,
    /// Messages not sent to a subscriber that fell [`PEER_BACKLOG`] bytes behind.
    pub dropped_for_slow_subscribers: AtomicU64,
    /// Subscribers connected now.
    pub subscribers: AtomicU64,
}

/// The workers' side: a bounded channel to the publisher thread.
#[derive(Debug)]
pub struct KvEvents {
    tx: SyncSender<(f64, Vec<Event>)>,
    /// What the publisher has done.
    pub counters: Arc<Counters>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl KvEvents {
    /// Binds `endpoint` and starts the publisher thread.
    pub fn start(endpoint: &Endpoint, topic: &str, format: EventFormat, block_size: u64) -> io::Result<Self> {
        let listener = TcpListener::bind(endpoint.addr()?)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = sync_channel(CHANNEL_BATCHES);
        let counters = Arc::new(Counters::default());
        let publisher = Publisher {
            listener,
            peers: Vec::new(),
            topic: topic.as_bytes().to_vec(),
            format,
            block_size,
            counters: counters.clone(),
        };
        std::thread::Builder::new().name("fakeai-kv-events".into()).spawn(move || publisher.run(rx))?;
        Ok(KvEvents { tx, counters, addr })
    }

    /// The publisher's counters, for `/kv-cache/metrics`.
    pub fn json(&self) -> serde_json::Value {
        let c = &self.counters;
        serde_json::json!({
            "endpoint": format!("tcp://{}", self.addr),
            "published_batches": c.published.load(Relaxed),
            "dropped_batches": c.dropped.load(Relaxed),
            "dropped_for_slow_subscribers": c.dropped_for_slow_subscribers.load(Relaxed),
            "subscribers": c.subscribers.load(Relaxed),
        })
    }

    /// Hands `events` to the publisher without waiting; counts a drop when it is behind.
    pub fn send(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let ts = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        if let Err(TrySendError::Full(_)) = self.tx.try_send((ts, events)) {
            self.counters.dropped.fetch_add(1, Relaxed);
        }
    }
}

/// One subscriber connection.
struct Peer {
    stream: TcpStream,
    decoder: Decoder,
    subscriptions: Subscriptions,
    outbox: Vec<u8>,
}

impl Peer {
    /// Reads what it sent; false when it is gone or broke the protocol.
    fn read(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => self.decoder.feed(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        loop {
            match self.decoder.next_item() {
                Ok(Some(Inbound::Ping(context))) => self.outbox.extend_from_slice(&zmtp::pong(&context)),
                Ok(Some(item)) => self.subscriptions.apply(&item),
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    }

    /// Writes what the socket takes now; false when it is gone.
    fn flush(&mut self) -> bool {
        while !self.outbox.is_empty() {
            match self.stream.write(&self.outbox) {
                Ok(0) => return false,
                Ok(n) => drop(self.outbox.drain(..n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }
}

/// The publisher thread's state.
struct Publisher {
    listener: TcpListener,
    peers: Vec<Peer>,
    topic: Vec<u8>,
    format: EventFormat,
    block_size: u64,
    counters: Arc<Counters>,
}

impl Publisher {
    fn run(mut self, rx: Receiver<(f64, Vec<Event>)>) {
        loop {
            self.accept();
            self.peers.retain_mut(|p| p.read() && p.flush());
            self.counters.subscribers.store(self.peers.len() as u64, Relaxed);
            match rx.recv_timeout(POLL) {
                Ok(batch) => {
                    self.publish(batch);
                    while let Ok(batch) = rx.try_recv() {
                        self.publish(batch);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let _ = stream.set_nodelay(true);
            let mut outbox = zmtp::greeting().to_vec();
            outbox.extend_from_slice(&zmtp::ready("PUB"));
            let decoder = Decoder::default();
            self.peers.push(Peer { stream, decoder, subscriptions: Subscriptions::default(), outbox });
        }
    }

    fn publish(&mut self, (ts, events): (f64, Vec<Event>)) {
        let seq = self.counters.published.fetch_add(1, Relaxed);
        let payload = encode_batch(&events, ts, self.block_size, self.format);
        let message = zmtp::message(&[&self.topic, &seq.to_be_bytes(), &payload]);
        for peer in &mut self.peers {
            if !peer.subscriptions.matches(&self.topic) {
                continue;
            }
            if peer.outbox.len() + message.len() > PEER_BACKLOG {
                self.counters.dropped_for_slow_subscribers.fetch_add(1, Relaxed);
                continue;
            }
            peer.outbox.extend_from_slice(&message);
        }
        self.peers.retain_mut(Peer::flush);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_as_vllm_writes_them() {
        let e: Endpoint = "tcp://*:5557".parse().unwrap();
        assert_eq!((e.host.as_str(), e.port), ("*", 5557));
        assert_eq!(e.addr().unwrap().to_string(), "0.0.0.0:5557");
        let v6: Endpoint = "tcp://[::1]:6000".parse().unwrap();
        assert_eq!(v6.addr().unwrap().to_string(), "[::1]:6000");
        for bad in ["ipc:///tmp/kv", "tcp://host", "tcp://:5557", "tcp://h:port"] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
    }

    #[test]
    fn changes_become_vllms_events_with_chained_parents() {
        let hashes = [11, 22, 33, 44];
        let tokens: Vec<u32> = (0..16).collect();
        let changes = [Change::Removed(9), Change::Stored(1), Change::Removed(8), Change::Stored(2), Change::Stored(0)];
        let events = events_of(&changes, &hashes, &tokens, 4);
        assert_eq!(
            events,
            vec![
                Event::Removed(vec![9]),
                Event::Removed(vec![8]),
                Event::Stored { hashes: vec![22, 33], parent: Some(11), token_ids: (4..12).collect() },
                Event::Stored { hashes: vec![11], parent: None, token_ids: (0..4).collect() },
            ]
        );
        assert_eq!(events_of(&[Change::Cleared], &[], &[], 4), vec![Event::Cleared]);
    }

    #[test]
    fn batches_encode_as_msgspec_does() {
        let stored = Event::Stored { hashes: vec![u64::MAX], parent: None, token_ids: vec![1, 2] };
        let array =
            encode_batch(&[stored.clone(), Event::Removed(vec![5]), Event::Cleared], 1.5, 2, EventFormat::Array);
        let mut want = vec![0x93, 0xcb];
        want.extend_from_slice(&1.5f64.to_be_bytes());
        want.push(0x93);
        want.extend_from_slice(b"\x98\xabBlockStored\x91\xcf");
        want.extend_from_slice(&u64::MAX.to_be_bytes());
        want.extend_from_slice(b"\xc0\x92\x01\x02\x02\xc0\xa3GPU\xc0");
        want.extend_from_slice(b"\x93\xacBlockRemoved\x91\x05\xa3GPU");
        want.extend_from_slice(b"\x91\xb0AllBlocksCleared");
        want.push(0);
        assert_eq!(array, want);
        let map = encode_batch(&[Event::Removed(vec![5]), Event::Cleared], 1.5, 2, EventFormat::Map);
        let mut want = vec![0x93, 0xcb];
        want.extend_from_slice(&1.5f64.to_be_bytes());
        want.push(0x92);
        want.extend_from_slice(b"\x83\xa4type\xacBlockRemoved\xacblock_hashes\x91\x05\xa6medium\xa3GPU");
        want.extend_from_slice(b"\x81\xa4type\xb0AllBlocksCleared");
        want.push(0);
        assert_eq!(map, want);
        let stored_map = encode_batch(&[stored], 0.0, 2, EventFormat::Map);
        assert_eq!(stored_map[11], 0x8a, "type and nine fields");
    }
}
