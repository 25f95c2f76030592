//! SO_REUSEPORT listening sockets, one per worker, bound before the workers start so that
//! bind errors surface at once and port 0 resolves to one port for all of them.

use std::{
    io,
    mem::size_of,
    net::{SocketAddr, TcpListener, ToSocketAddrs},
    os::fd::FromRawFd,
};

use crate::sockopt::{check, set_int};

/// Socket options for the listeners.
#[derive(Debug, Clone, Copy)]
pub struct ListenOpts<'a> {
    /// `listen()` backlog.
    pub backlog: i32,
    /// SO_SNDBUF, if set.
    pub sndbuf: Option<u64>,
    /// SO_RCVBUF, if set.
    pub rcvbuf: Option<u64>,
    /// TCP_CONGESTION (accepted sockets inherit it), if set.
    pub congestion: Option<&'a str>,
}

/// Binds `count` listeners on `host:port` with SO_REUSEPORT; the kernel spreads incoming
/// connections across them.
pub fn bind_all(
    host: &str,
    port: u16,
    count: usize,
    opts: ListenOpts<'_>,
) -> io::Result<(SocketAddr, Vec<TcpListener>)> {
    let mut addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("cannot resolve {host}")))?;
    let mut listeners = Vec::with_capacity(count);
    for _ in 0..count {
        let l = bind_one(addr, opts)?;
        addr = l.local_addr()?;
        listeners.push(l);
    }
    Ok((addr, listeners))
}

/// Binds one listener on `host` at the first of `ports` that is free, without SO_REUSEPORT (a
/// port another process holds counts as taken); `None` when every port is taken or `ports` is
/// empty, with a warning naming them.
pub fn bind_first_free(host: &str, ports: &[u16], what: &str) -> Option<(SocketAddr, TcpListener)> {
    let mut refused = Vec::new();
    for &port in ports {
        match TcpListener::bind((host, port)).and_then(|l| l.set_nonblocking(true).map(|()| l)) {
            Ok(l) => return l.local_addr().ok().map(|addr| (addr, l)),
            Err(e) => refused.push(format!("{port} ({e})")),
        }
    }
    if !refused.is_empty() {
        eprintln!("fakeai: no {what} port: {}; continuing without it", refused.join(", "));
    }
    None
}

fn bind_one(addr: SocketAddr, opts: ListenOpts<'_>) -> io::Result<TcpListener> {
    let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: plain socket creation; the fd is owned by the TcpListener below or closed on error.
    let fd = check(unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` is a fresh socket we own.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    set_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    set_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    if let Some(n) = opts.sndbuf {
        set_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, n.min(i32::MAX as u64) as i32)?;
    }
    if let Some(n) = opts.rcvbuf {
        set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, n.min(i32::MAX as u64) as i32)?;
    }
    if let Some(name) = opts.congestion {
        set_congestion(fd, name);
    }
    // Accepted sockets inherit TCP_NODELAY on Linux; connections set it again anyway.
    set_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    // Accepted sockets inherit receive timestamps (request arrival times, see `arrival`).
    crate::arrival::enable(fd)?;
    let (storage, len) = sockaddr(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes.
    check(unsafe { libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len) })?;
    // SAFETY: `fd` is a bound stream socket.
    check(unsafe { libc::listen(fd, opts.backlog) })?;
    Ok(listener)
}

/// Sets the congestion control algorithm `name`; a kernel without it keeps its default, with a warning.
fn set_congestion(fd: libc::c_int, name: &str) {
    // SAFETY: the name's bytes outlive the call and its length is passed.
    let set = check(unsafe {
        libc::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_CONGESTION, name.as_ptr().cast(), name.len() as u32)
    });
    if let Err(e) = set {
        eprintln!("fakeai: TCP congestion control {name:?} unavailable ({e}); keeping the kernel's default");
    }
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            (storage, size_of::<libc::sockaddr_in>() as libc::socklen_t)
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in6 and suitably aligned.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            (storage, size_of::<libc::sockaddr_in6>() as libc::socklen_t)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_resolves_once_for_all_listeners() {
        let opts = ListenOpts { backlog: 16, sndbuf: None, rcvbuf: Some(65536), congestion: Some("cubic") };
        let (addr, ls) = bind_all("127.0.0.1", 0, 3, opts).unwrap();
        assert_ne!(addr.port(), 0);
        for l in &ls {
            assert_eq!(l.local_addr().unwrap(), addr);
        }
        let (v6, _) = bind_all("::1", 0, 1, opts).unwrap();
        assert!(v6.is_ipv6());
    }

    #[test]
    fn the_first_free_port_is_bound_and_a_taken_one_skipped() {
        let (taken, _held) = bind_first_free("127.0.0.1", &[0], "test").unwrap();
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let free_port = free.local_addr().unwrap().port();
        drop(free);
        let (addr, _l) = bind_first_free("127.0.0.1", &[taken.port(), free_port], "test").unwrap();
        assert_eq!(addr.port(), free_port);
        assert!(bind_first_free("127.0.0.1", &[taken.port()], "test").is_none());
        assert!(bind_first_free("127.0.0.1", &[], "test").is_none());
    }

    #[test]
    fn accepted_sockets_inherit_the_congestion_control() {
        let opts = ListenOpts { backlog: 16, sndbuf: None, rcvbuf: None, congestion: Some("reno") };
        let (addr, ls) = bind_all("127.0.0.1", 0, 1, opts).unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        ls[0].set_nonblocking(false).unwrap();
        let (accepted, _) = ls[0].accept().unwrap();
        let mut name = [0u8; 16];
        let mut len = name.len() as libc::socklen_t;
        // SAFETY: `name` and `len` outlive the call; the kernel writes at most `len` bytes.
        let got = unsafe {
            libc::getsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&accepted),
                libc::IPPROTO_TCP,
                libc::TCP_CONGESTION,
                name.as_mut_ptr().cast(),
                &mut len,
            )
        };
        assert_eq!(got, 0);
        assert!(name.starts_with(b"reno\0"), "{:?}", String::from_utf8_lossy(&name));
    }
}
