//! Query strings and path segments: percent-decoding and `+` never panic.
#![no_main]

use fakeai::proto::query;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for (k, v) in query::pairs(text) {
        let _ = (k.len(), v.len());
    }
    let _ = query::param(text, "limit");
    let _ = query::decode_path(text);
});
