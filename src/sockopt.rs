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
