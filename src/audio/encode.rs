//! Encodes 24 kHz mono speech into each response format OpenAI serves, with pure-Rust
//! encoders: MP3 (`rusty_mp3`, MPEG-2 Layer III), Opus in Ogg (`opus-rs` packets, `ogg` pages,
//! RFC 7845 headers), ADTS AAC-LC (`rusty_aac`), FLAC (`flacenc`), WAV (`hound`) and raw PCM.

use std::io::Cursor;

use super::synth::{SAMPLE_RATE, Speech};
use crate::error::Error;

/// An audio response format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// MPEG-2 Layer III, 64 kbit/s CBR.
    Mp3,
    /// Opus in Ogg, 20 ms packets.
    Opus,
    /// AAC-LC in ADTS frames.
    Aac,
    /// FLAC, 16-bit.
    Flac,
    /// RIFF/WAVE, 16-bit PCM.
    Wav,
    /// Raw little-endian 16-bit samples (`pcm`; chat calls it `pcm16`).
    Pcm,
}

/// Speech's formats, as `response_format` names them.
pub const SPEECH_FORMATS: &[&str] = &["mp3", "opus", "aac", "flac", "wav", "pcm"];
/// Chat audio output's formats, as `audio.format` names them.
pub const CHAT_FORMATS: &[&str] = &["wav", "aac", "mp3", "flac", "opus", "pcm16"];

impl Format {
    /// The format named `name` (`pcm` and `pcm16` alike), if any.
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name {
            "mp3" => Format::Mp3,
            "opus" => Format::Opus,
            "aac" => Format::Aac,
            "flac" => Format::Flac,
            "wav" => Format::Wav,
            "pcm" | "pcm16" => Format::Pcm,
            _ => return None,
        })
    }

    /// Parses `name` among `allowed`, with OpenAI's 400 naming `param` otherwise.
    pub fn parse(name: &str, allowed: &[&str], param: &str) -> Result<Format, Error> {
        match Format::from_name(name).filter(|_| allowed.contains(&name)) {
            Some(f) => Ok(f),
            None => {
                let supported = allowed.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ");
                Err(Error::invalid_param(param, format!("Invalid value: '{name}'. Supported values are: {supported}."))
                    .with_code("invalid_value"))
            }
        }
    }

    /// The `Content-Type` OpenAI sends for it.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Mp3 => "audio/mpeg",
            Format::Opus => "audio/opus",
            Format::Aac => "audio/aac",
            Format::Flac => "audio/flac",
            Format::Wav => "audio/wav",
            Format::Pcm => "audio/pcm",
        }
    }

    /// Encodes `speech` as a complete file (or stream) of this format.
    pub fn encode(self, speech: &Speech) -> Vec<u8> {
        match self {
            Format::Mp3 => mp3(speech),
            Format::Opus => opus(speech),
            Format::Aac => aac(speech),
            Format::Flac => flac(speech),
            Format::Wav => wav(speech),
            Format::Pcm => speech.pcm_bytes(),
        }
    }
}

/// Samples as floats in [-1, 1].
fn floats(speech: &Speech) -> Vec<f32> {
    speech.samples.iter().map(|&s| s as f32 / 32768.0).collect()
}

fn mp3(speech: &Speech) -> Vec<u8> {
    let mut encoder = rusty_mp3::Mp3Encoder::new(rusty_mp3::Mp3EncoderConfig { bitrate_kbps: 64, vbr_quality: None });
    // 24 kHz mono is a valid MPEG-2 input: the encoder cannot refuse it.
    encoder.push_pcm_s16(&speech.samples, 1, SAMPLE_RATE).expect("24 kHz mono is valid MPEG-2 input");
    encoder.finish();
    let mut out = Vec::new();
    while let Ok(packet) = encoder.next_packet() {
        out.extend_from_slice(&packet);
    }
    out
}

fn aac(speech: &Speech) -> Vec<u8> {
    let config = rusty_aac::AacEncoderConfig { bitrate_bps: 64_000, ..Default::default() };
    let mut encoder = rusty_aac::AacEncoder::new(config);
    encoder.push_pcm(&floats(speech), 1, SAMPLE_RATE).expect("24 kHz mono is valid AAC-LC input");
    encoder.finish();
    let mut out = Vec::new();
    while let Ok(packet) = encoder.next_packet() {
        let header = rusty_aac::AdtsHeader {
            object_type: 2,
            sample_rate: SAMPLE_RATE,
            channels: 1,
            frame_length: 7 + packet.data.len(),
            header_len: 7,
        };
        out.extend(rusty_aac::write_adts_header(&header));
        out.extend_from_slice(&packet.data);
    }
    out
}

fn flac(speech: &Speech) -> Vec<u8> {
    use flacenc::{component::BitRepr, error::Verify};
    let config = flacenc::config::Encoder::default().into_verified().expect("the default FLAC config is valid");
    let samples: Vec<i32> = speech.samples.iter().map(|&s| s as i32).collect();
    let source = flacenc::source::MemSource::from_samples(&samples, 1, 16, SAMPLE_RATE as usize);
    let stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size)
        .expect("in-memory 16-bit mono encodes");
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream.write(&mut sink).expect("writing to memory cannot fail");
    sink.as_slice().to_vec()
}

fn wav(speech: &Speech) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = Cursor::new(Vec::with_capacity(44 + 2 * speech.samples.len()));
    let mut writer = hound::WavWriter::new(&mut cursor, spec).expect("writing to memory cannot fail");
    let mut samples = writer.get_i16_writer(speech.samples.len() as u32);
    speech.samples.iter().for_each(|&s| samples.write_sample(s));
    samples.flush().expect("writing to memory cannot fail");
    writer.finalize().expect("writing to memory cannot fail");
    cursor.into_inner()
}

/// Opus's decoder delay at 48 kHz (libopus's lookahead: 6.5 ms), skipped by players.
const OPUS_PRE_SKIP: u64 = 312;
/// 20 ms at 24 kHz.
const OPUS_FRAME: usize = 480;

/// Ogg Opus (RFC 7845): `OpusHead`, `OpusTags`, then 20 ms packets; granule positions count
/// 48 kHz samples, and the last page's trims the padding of the final frame.
fn opus(speech: &Speech) -> Vec<u8> {
    use ogg::writing::{PacketWriteEndInfo as End, PacketWriter};
    let mut head = b"OpusHead".to_vec();
    head.extend_from_slice(&[1, 1]);
    head.extend_from_slice(&(OPUS_PRE_SKIP as u16).to_le_bytes());
    head.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    head.extend_from_slice(&[0, 0, 0]);
    let vendor = b"fakeai";
    let mut tags = b"OpusTags".to_vec();
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor);
    tags.extend_from_slice(&0u32.to_le_bytes());

    let mut encoder =
        opus_rs::OpusEncoder::new(SAMPLE_RATE as i32, 1, opus_rs::Application::Audio).expect("24 kHz mono is valid");
    encoder.bitrate_bps = 32_000;
    // Complexity 2 of 10: about three times faster than the default 9, still clean speech.
    encoder.complexity = 2;
    let mut pcm = floats(speech);
    let frames = pcm.len().div_ceil(OPUS_FRAME).max(1);
    pcm.resize(frames * OPUS_FRAME, 0.0);
    let end = OPUS_PRE_SKIP + 2 * speech.samples.len() as u64;

    let serial = 0x6661_6b65;
    let mut writer = PacketWriter::new(Vec::new());
    let io = "writing to memory cannot fail";
    writer.write_packet(head, serial, End::EndPage, 0).expect(io);
    writer.write_packet(tags, serial, End::EndPage, 0).expect(io);
    let mut packet = [0u8; 1500];
    for (i, frame) in pcm.chunks(OPUS_FRAME).enumerate() {
        let len = encoder.encode(frame, OPUS_FRAME, &mut packet).expect("a whole 20 ms frame encodes");
        let last = i + 1 == frames;
        let granule = if last { end } else { (i as u64 + 1) * 960 };
        // A page per second keeps pages small for streaming players.
        let info = match (last, (i + 1) % 50 == 0) {
            (true, _) => End::EndStream,
            (false, true) => End::EndPage,
            (false, false) => End::NormalPacket,
        };
        writer.write_packet(packet[..len].to_vec(), serial, info, granule).expect(io);
    }
    writer.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::voice::Voice;

    fn speech() -> Speech {
        Speech::new("the quick brown fox jumps", &Voice("alloy".into()), 1.0)
    }

    #[test]
    fn names_and_errors() {
        assert_eq!(Format::parse("pcm16", CHAT_FORMATS, "audio.format").unwrap(), Format::Pcm);
        let e = Format::parse("pcm16", SPEECH_FORMATS, "response_format").unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (400, Some("response_format")));
        assert_eq!(Format::Mp3.content_type(), "audio/mpeg");
    }

    #[test]
    fn each_format_starts_with_its_signature() {
        let s = speech();
        assert_eq!(&Format::Wav.encode(&s)[..4], b"RIFF");
        assert_eq!(&Format::Flac.encode(&s)[..4], b"fLaC");
        let ogg = Format::Opus.encode(&s);
        assert_eq!((&ogg[..4], &ogg[28..36]), (b"OggS".as_slice(), b"OpusHead".as_slice()));
        let aac = Format::Aac.encode(&s);
        assert_eq!((aac[0], aac[1] & 0xf6), (0xff, 0xf0), "ADTS sync word");
        let mp3 = Format::Mp3.encode(&s);
        assert_eq!((mp3[0], mp3[1] & 0xe0), (0xff, 0xe0), "MPEG frame sync");
        assert_eq!(Format::Pcm.encode(&s).len(), 2 * s.samples.len());
    }
}
