//! multipart/form-data bodies under a fixed boundary, and boundaries from any Content-Type.
#![no_main]

use fakeai::proto::multipart;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parts) = multipart::parse(data, "fuzzboundary") {
        for part in &parts {
            let _ = part.bytes(data);
        }
    }
    if let Ok(content_type) = std::str::from_utf8(data) {
        if let Ok(boundary) = multipart::boundary(content_type) {
            let _ = multipart::parse(data, boundary);
        }
    }
});
