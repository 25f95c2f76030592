//! WebSocket client frames: a frame, "need more", or a close code; never a panic, never more
//! bytes used than given.
#![no_main]

use fakeai::proto::websocket;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((frame, used))) = websocket::decode(rest, 1 << 16) {
        assert!(used <= rest.len() && used > 0);
        assert!(frame.payload.len() <= 1 << 16);
        rest = &rest[used..];
    }
    if let Err(code) = websocket::decode(rest, 1 << 16) {
        assert!(matches!(code, 1002 | 1007 | 1009), "{code}");
    }
});
