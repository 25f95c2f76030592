//! Chunked bodies, fed whole and split at a fuzzed point: the same verdict and bytes either way,
//! never more output than the limit.
#![no_main]

use fakeai::proto::http1::ChunkedDecoder;
use libfuzzer_sys::fuzz_target;

const LIMIT: u64 = 1 << 16;

fn decode(parts: &[&[u8]]) -> Result<(Vec<u8>, usize, bool), u16> {
    let mut d = ChunkedDecoder::new(LIMIT);
    let (mut out, mut used) = (Vec::new(), 0);
    for part in parts {
        let mut at = 0;
        while at < part.len() && !d.is_done() {
            let n = d.decode(&part[at..], &mut out).map_err(|e| e.status())?;
            if n == 0 {
                break;
            }
            at += n;
        }
        used += at;
        if d.is_done() {
            break;
        }
    }
    assert!(out.len() as u64 <= LIMIT);
    Ok((out, used, d.is_done()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, body)) = data.split_first() else { return };
    let cut = (split as usize).min(body.len());
    let whole = decode(&[body]);
    let split = decode(&[&body[..cut], &body[cut..]]);
    if let (Ok(a), Ok(b)) = (&whole, &split) {
        assert_eq!(a, b, "a split changed the body");
    }
});
