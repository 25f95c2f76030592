//! When bytes reached a socket, from the kernel's receive timestamp (SO_TIMESTAMPNS).
//!
//! A busy core may read a request milliseconds after it arrived; deadlines counted from the
//! read would hand that delay to the client's TTFT. Reading with `recvmsg` gets, with the data,
//! the time the kernel queued it, so the server counts deadlines from a request's real arrival
//! and `fakeai-bench --clock kernel` times events as they came off the wire. The kernel turns
//! stamping on a moment after the first socket in the system asks for it (a deferred switch);
//! data arriving in that moment carries no stamp and counts as received when read.

use std::{
    io,
    os::fd::RawFd,
    time::{Duration, Instant},
};

/// Ages beyond this mean the wall clock stepped; such a stamp is ignored.
const MAX_AGE: Duration = Duration::from_secs(60);

/// Asks the kernel to timestamp data received on `fd`; accepted sockets inherit it from a listener.
pub fn enable(fd: RawFd) -> io::Result<()> {
    crate::sockopt::set_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
}

/// One non-blocking read into the spare capacity of `buf`: the bytes read (0 at end of
/// stream) and when the kernel received them (now, if it did not say).
pub fn recv(fd: RawFd, buf: &mut Vec<u8>) -> io::Result<(usize, Instant)> {
    let spare = buf.spare_capacity_mut();
    let mut iov = libc::iovec { iov_base: spare.as_mut_ptr().cast(), iov_len: spare.len() };
    // Room for one SCM_TIMESTAMPNS message, 8-byte aligned as cmsghdr requires.
    let mut control = [0u64; 8];
    // SAFETY: all-zero is a valid msghdr; the pointers set below outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&control);
    // SAFETY: `msg` describes writable memory owned by this frame and `buf`.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel initialised the first `n` spare bytes.
    unsafe { buf.set_len(buf.len() + n as usize) };
    let now = Instant::now();
    let received = stamp(&msg).and_then(age).and_then(|age| now.checked_sub(age));
    Ok((n as usize, received.unwrap_or(now)))
}

/// The SCM_TIMESTAMPNS control message of `msg`, if any.
fn stamp(msg: &libc::msghdr) -> Option<libc::timespec> {
    // SAFETY: `msg` was filled by recvmsg; the CMSG macros stay within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                return Some(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>()));
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    None
}

/// How long ago the wall-clock time `then` was (zero if in the future); `None` past `MAX_AGE`.
fn age(then: libc::timespec) -> Option<Duration> {
    // SAFETY: all-zero is a valid timespec, filled by the call.
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `now` is writable.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    let nanos = (now.tv_sec - then.tv_sec) as i128 * 1_000_000_000 + (now.tv_nsec - then.tv_nsec) as i128;
    let age = Duration::from_nanos(nanos.clamp(0, u64::MAX as i128) as u64);
    (age <= MAX_AGE).then_some(age)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        io::Write,
        net::{TcpListener, TcpStream},
        os::fd::AsRawFd,
        thread::sleep,
    };

    /// Keeps the kernel's stamping switched on for the whole test run: it flips on a moment after
    /// the first socket enables it and off after the last one closes, and the tests make and close
    /// sockets concurrently.
    fn keep_stamping_on() {
        static KEEPER: std::sync::OnceLock<std::net::UdpSocket> = std::sync::OnceLock::new();
        KEEPER.get_or_init(|| {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            enable(socket.as_raw_fd()).unwrap();
            sleep(Duration::from_millis(50));
            socket
        });
    }

    fn pair() -> (TcpStream, TcpStream) {
        keep_stamping_on();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        enable(listener.as_raw_fd()).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn data_read_late_carries_its_arrival_age() {
        let (mut client, server) = pair();
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        sleep(Duration::from_millis(30));
        let mut buf = Vec::with_capacity(64);
        let (n, received) = recv(server.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"GET / HTTP/1.1\r\n\r\n");
        // Only a stamp inherited from the listener can put the receipt before the read.
        let age = received.elapsed();
        assert!(age >= Duration::from_millis(29) && age < Duration::from_secs(5), "{age:?}");
    }

    #[test]
    fn appends_after_what_the_buffer_holds_and_reports_would_block_and_end() {
        let (mut client, server) = pair();
        let mut buf = b"ab".to_vec();
        buf.reserve(16);
        let err = recv(server.as_raw_fd(), &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        client.write_all(b"cd").unwrap();
        sleep(Duration::from_millis(5));
        assert_eq!(recv(server.as_raw_fd(), &mut buf).unwrap().0, 2);
        assert_eq!(buf, b"abcd");
        drop(client);
        sleep(Duration::from_millis(5));
        assert_eq!(recv(server.as_raw_fd(), &mut buf).unwrap().0, 0);
    }

    #[test]
    fn clock_steps_are_ignored() {
        let far = libc::timespec { tv_sec: 1, tv_nsec: 0 };
        assert_eq!(age(far), None);
        let mut future: libc::timespec = unsafe { std::mem::zeroed() };
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut future) };
        future.tv_sec += 10;
        assert_eq!(age(future), Some(Duration::ZERO));
    }
}
