//! Socket options and raw syscall results, for the few places that set up sockets by hand.

use std::{io, mem::size_of};

/// A raw syscall's result: the error of `errno` when negative.
pub fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(ret) }
}

/// Sets an integer socket option.
pub fn set_int(fd: libc::c_int, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` outlives the call and its size is passed.
    check(unsafe {
        libc::setsockopt(fd, level, name, (&value as *const libc::c_int).cast(), size_of::<libc::c_int>() as u32)
    })?;
    Ok(())
}

/// Aborts the connection (later writes fail with `ETIMEDOUT`) once sent data has gone
/// unacknowledged, or queued data unsent behind a zero receive window, for `timeout`:
/// `TCP_USER_TIMEOUT`. The kernel keeps the clock (its zero-window probes honour it since Linux
/// 5.1), so a client that stops reading costs the server no timer and no work per write.
pub fn abort_unacknowledged_after(fd: libc::c_int, timeout: std::time::Duration) -> io::Result<()> {
    let ms = timeout.as_millis().clamp(1, libc::c_int::MAX as u128) as libc::c_int;
    set_int(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, ms)
}

/// Makes closing `fd` reset the connection (RST) instead of ending it (FIN): `SO_LINGER` with a
/// zero timeout.
pub fn reset_on_close(fd: libc::c_int) -> io::Result<()> {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: `linger` outlives the call and its size is passed.
    check(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            size_of::<libc::linger>() as u32,
        )
    })?;
    Ok(())
}
