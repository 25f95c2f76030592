//! The webhook delivery thread: posts each due event to its endpoint over plain HTTP/1.1 with the
//! Standard Webhooks headers, and hands failures (no 2xx within the timeout) back to the queue for
//! a retry with backoff. A blocking thread of its own: deliveries are rare and may be slow, and
//! must never hold up a worker.

use std::{
    io::{Read, Write},
    net::{TcpStream, ToSocketAddrs},
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use crate::{
    app::App,
    state::webhooks::{Delivery, Guard},
};

/// How long one attempt may take (connect, send, first line of the reply).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts the delivery thread when any endpoint is configured.
pub(super) fn spawn(app: Arc<App>) -> std::io::Result<()> {
    for url in &app.args.webhook_url {
        crate::config::parse_webhook_url(url).map_err(std::io::Error::other)?;
    }
    if !app.state.webhooks.enabled() {
        return Ok(());
    }
    std::thread::Builder::new().name("fakeai-webhooks".into()).spawn(move || {
        let hooks = &app.state.webhooks;
        loop {
            let Some(delivery) = hooks.next(Duration::from_secs(3600)) else { continue };
            if !guard_holds(&app, &delivery.guard) {
                hooks.counts.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            match post(hooks, &delivery) {
                Ok(()) => _ = hooks.counts.delivered.fetch_add(1, Ordering::Relaxed),
                Err(_) => hooks.failed(delivery),
            }
        }
    })?;
    Ok(())
}

/// Whether a scheduled event still stands: a background response cancelled or deleted meanwhile
/// sends no `response.completed`.
fn guard_holds(app: &App, guard: &Guard) -> bool {
    match guard {
        Guard::None => true,
        Guard::ResponseRan(id) => {
            app.stores.responses.with(id, crate::state::store::UNDATED, |r| r.background.is_some_and(|b| !b.cancelled))
                == Some(true)
        }
    }
}

/// One attempt: Ok when the endpoint answered 2xx.
fn post(hooks: &crate::state::webhooks::Webhooks, d: &Delivery) -> std::io::Result<()> {
    let (host, path) = split_url(&d.url);
    let addr = host.to_socket_addrs()?.next().ok_or_else(|| std::io::Error::other("no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, ATTEMPT_TIMEOUT)?;
    stream.set_read_timeout(Some(ATTEMPT_TIMEOUT))?;
    stream.set_write_timeout(Some(ATTEMPT_TIMEOUT))?;
    let timestamp = crate::clock::unix_now().0;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: fakeai-webhooks\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nwebhook-id: {}\r\nwebhook-timestamp: {timestamp}\r\nwebhook-signature: {}\r\n\
         Connection: close\r\n\r\n",
        d.body.len(),
        d.id,
        hooks.signature(&d.id, timestamp, &d.body)
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(d.body.as_bytes())?;
    let mut status = [0u8; 12];
    stream.read_exact(&mut status)?;
    match &status[..9] == b"HTTP/1.1 " || &status[..9] == b"HTTP/1.0 " {
        true if status[9] == b'2' => Ok(()),
        _ => Err(std::io::Error::other(format!("status {}", String::from_utf8_lossy(&status[9..])))),
    }
}

/// `http://host:port/path` → (`host:port`, `/path`); port 80 when none is given.
fn split_url(url: &str) -> (String, &str) {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (host, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    (if host.contains(':') { host.to_owned() } else { format!("{host}:80") }, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_address_and_path() {
        assert_eq!(split_url("http://127.0.0.1:9/hooks?x=1"), ("127.0.0.1:9".into(), "/hooks?x=1"));
        assert_eq!(split_url("http://example"), ("example:80".into(), "/"));
    }
}
