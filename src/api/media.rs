//! State the media endpoints share across cores: generated files, the base URL they are
//! served from, and video jobs.

use std::net::SocketAddr;

use super::images::store::FileStore;
use crate::config::ServerArgs;

/// Files and where they are served.
#[derive(Debug)]
pub struct Media {
    /// Generated images (and other files) served at `/images/{name}`.
    pub files: FileStore,
    /// `http://host:port` of this server, for URLs in responses.
    pub base_url: String,
    /// Video jobs.
    pub videos: crate::api::videos::jobs::VideoStore,
}

impl Media {
    /// Empty stores sized by `args`; URLs name the configured address until [`Media::bound_to`].
    pub fn new(args: &ServerArgs) -> Media {
        Media {
            files: FileStore::new(args.image_store_bytes as usize, args.image_ttl),
            base_url: format!("http://{}:{}", args.host, args.port),
            videos: crate::api::videos::jobs::store(),
        }
    }

    /// URLs name `addr`, the address actually bound (port 0 resolved); a wildcard address
    /// becomes loopback of its family, which reaches it from this machine.
    pub fn bound_to(&mut self, mut addr: SocketAddr) {
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        self.base_url = format!("http://{addr}");
    }
}
