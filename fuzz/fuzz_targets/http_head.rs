//! Request heads: any bytes give a head, "need more", or a 4xx/5xx protocol error; never a
//! panic, and a head never claims more bytes than it was given.
#![no_main]

use fakeai::proto::http1::parse_head;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(head)) = parse_head(data, 16 * 1024) {
        assert!(head.head_len <= data.len());
        let _ = (head.path(), head.query(), head.accept(), head.content_type());
    } else if let Err(e) = parse_head(data, 16 * 1024) {
        assert!((400..=501).contains(&e.status()));
    }
});
