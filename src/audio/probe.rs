//! The duration of uploaded audio, read from its own structure: the WAV header, MPEG audio
//! frames (after an ID3v2 tag), FLAC's STREAMINFO, or an Ogg stream's last granule position
//! (Opus or Vorbis). Containers read no further (MP4/M4A, WebM) are estimated from their size.

/// Bytes per second assumed for audio whose duration is not read (128 kbit/s).
pub const ESTIMATED_BYTES_PER_SECOND: f64 = 16_000.0;

/// What was found in a file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Probe {
    /// A recognised format with its duration in seconds.
    Read(f64),
    /// No format recognised: the duration estimated from the size.
    Estimated(f64),
    /// A recognised signature whose structure is broken.
    Corrupt,
}

impl Probe {
    /// The duration in seconds, if the file is usable.
    pub fn seconds(self) -> Option<f64> {
        match self {
            Probe::Read(s) | Probe::Estimated(s) => Some(s),
            Probe::Corrupt => None,
        }
    }
}

/// Probes `data`.
pub fn probe(data: &[u8]) -> Probe {
    let read = if data.starts_with(b"RIFF") && data.get(8..12) == Some(b"WAVE") {
        wav(data)
    } else if data.starts_with(b"fLaC") {
        flac(data)
    } else if data.starts_with(b"OggS") {
        ogg(data)
    } else if data.starts_with(b"ID3") || mpeg_header(data).is_some() {
        mpeg(data)
    } else {
        return Probe::Estimated(data.len() as f64 / ESTIMATED_BYTES_PER_SECOND);
    };
    read.filter(|s| s.is_finite() && *s > 0.0).map_or(Probe::Corrupt, Probe::Read)
}

fn u16_le(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn u32_le(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

/// RIFF chunks: `fmt ` gives the byte rate, `data` the length (a streamed header's
/// placeholder size means "to the end of the file").
fn wav(d: &[u8]) -> Option<f64> {
    let (mut at, mut byte_rate) = (12, None);
    while at + 8 <= d.len() {
        let size = u32_le(d, at + 4)? as usize;
        match &d[at..at + 4] {
            b"fmt " => byte_rate = Some(u32_le(d, at + 16)?).filter(|&r| r > 0),
            b"data" => {
                let len = size.min(d.len() - at - 8);
                return Some(len as f64 / byte_rate? as f64);
            }
            _ => {}
        }
        at += 8 + size + (size & 1);
    }
    None
}

/// STREAMINFO: 20-bit sample rate and 36-bit total samples.
fn flac(d: &[u8]) -> Option<f64> {
    let info = d.get(8..8 + 18)?;
    let bits = u64::from_be_bytes(info[10..18].try_into().ok()?);
    let rate = bits >> 44;
    let samples = bits & 0xf_ffff_ffff;
    (rate > 0).then(|| samples as f64 / rate as f64)
}

/// The last page's granule position over the first packet's clock (Opus: 48 kHz less pre-skip).
fn ogg(d: &[u8]) -> Option<f64> {
    let first = d.get(28..)?;
    let last = memchr::memmem::rfind(d, b"OggS")?;
    let granule = u64::from_le_bytes(d.get(last + 6..last + 14)?.try_into().ok()?);
    if first.starts_with(b"OpusHead") {
        let pre_skip = u16_le(first, 10)? as u64;
        return Some(granule.saturating_sub(pre_skip) as f64 / 48_000.0);
    }
    if first.starts_with(b"\x01vorbis") {
        let rate = u32_le(first, 12)?;
        return (rate > 0).then(|| granule as f64 / rate as f64);
    }
    None
}

/// One MPEG audio frame header: (frame length in bytes, samples per frame, sample rate).
fn mpeg_header(h: &[u8]) -> Option<(usize, u32, u32)> {
    let h = h.get(..4)?;
    if h[0] != 0xff || h[1] & 0xe0 != 0xe0 {
        return None;
    }
    let version = (h[1] >> 3) & 3; // 0: 2.5, 2: 2, 3: 1
    let layer = (h[1] >> 1) & 3; // 1: III, 2: II, 3: I
    let (bitrate_index, rate_index, padding) = ((h[2] >> 4) as usize, ((h[2] >> 2) & 3) as usize, (h[2] >> 1) & 1);
    if version == 1 || layer == 0 || bitrate_index == 0 || bitrate_index == 15 || rate_index == 3 {
        return None;
    }
    const V1: [[u32; 15]; 3] = [
        [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
        [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
        [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
    ];
    const V2: [[u32; 15]; 2] = [
        [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
        [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
    ];
    let mpeg1 = version == 3;
    let kbps = match (mpeg1, layer) {
        (true, l) => V1[3 - l as usize][bitrate_index],
        (false, 3) => V2[1][bitrate_index],
        (false, _) => V2[0][bitrate_index],
    };
    let rate = [44_100, 48_000, 32_000][rate_index] >> [2, 0, 1, 0][version as usize];
    let bps = kbps * 1000;
    let (len, samples) = match layer {
        3 => ((12 * bps / rate + padding as u32) * 4, 384),
        2 => (144 * bps / rate + padding as u32, 1152),
        _ if mpeg1 => (144 * bps / rate + padding as u32, 1152),
        _ => (72 * bps / rate + padding as u32, 576),
    };
    Some((len as usize, samples, rate))
}

/// Walks the frames (resynchronising past junk) and sums their samples.
fn mpeg(d: &[u8]) -> Option<f64> {
    let mut at = 0;
    if d.starts_with(b"ID3") {
        let size = d.get(6..10)?.iter().fold(0usize, |n, &b| (n << 7) | (b & 0x7f) as usize);
        at = 10 + size;
    }
    let (mut seconds, mut frames) = (0.0, 0);
    while at + 4 <= d.len() {
        match mpeg_header(&d[at..]) {
            Some((len, samples, rate)) if len > 4 => {
                seconds += samples as f64 / rate as f64;
                frames += 1;
                at += len;
            }
            _ => at += 1,
        }
    }
    (frames > 0).then_some(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{Format, Speech, voice::Voice};

    #[test]
    fn reads_what_the_encoders_write() {
        let speech = Speech::new("one two three four five six seven eight nine ten", &Voice("echo".into()), 1.0);
        for format in [Format::Wav, Format::Flac, Format::Opus, Format::Mp3] {
            let seconds = probe(&format.encode(&speech)).seconds().unwrap();
            assert!((seconds - 4.0).abs() < 0.15, "{format:?}: {seconds}");
        }
        assert_eq!(probe(b"RIFF\0\0\0\0WAVEjunk"), Probe::Corrupt);
        assert_eq!(probe(&[7u8; 32_000]), Probe::Estimated(2.0));
    }
}
