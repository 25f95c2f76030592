//! Wire protocols as pure functions over bytes: HTTP/1.1 heads and chunked bodies, query
//! strings, WebSocket frames, ZMTP (ZeroMQ) PUB framing. No sockets here; `crate::server` drives them.

pub mod http1;
pub mod multipart;
pub mod query;
pub mod websocket;
pub mod zmtp;
