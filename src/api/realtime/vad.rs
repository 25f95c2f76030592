//! Simulated server VAD over pcm16 24 kHz mono input: 10 ms frames whose mean amplitude
//! passes a level are speech; speech ends after the configured run of silent frames.

/// Samples per second of input audio.
pub const RATE: u64 = 24_000;
/// Bytes of one 10 ms frame (240 little-endian 16-bit samples).
const FRAME_BYTES: usize = 480;
/// Mean absolute amplitude of full scale; `threshold` 0.5 means a mean of 5 % of it.
const LEVEL_AT_ONE: f64 = 0.1 * 32_768.0;

/// What a frame changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Speech began at this audio offset (ms from the session's first audio, prefix padding included).
    Started(u64),
    /// Speech ended at this audio offset (ms, the silence run included).
    Stopped(u64),
}

/// The detector's settings, from the session's `turn_detection`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// 0–1; higher needs louder audio.
    pub threshold: f64,
    /// Audio kept before detected speech, ms.
    pub prefix_padding_ms: u64,
    /// Silence that ends speech, ms.
    pub silence_duration_ms: u64,
}

/// Detector state across appends.
#[derive(Debug, Default)]
pub struct Vad {
    /// Bytes of an incomplete frame, carried to the next append.
    partial: Vec<u8>,
    /// Milliseconds of audio seen this session.
    clock_ms: u64,
    speaking: bool,
    silent_ms: u64,
}

impl Vad {
    /// Feeds appended audio; returns the turns it completed, in order.
    pub fn feed(&mut self, pcm: &[u8], s: &Settings) -> Vec<Turn> {
        let mut turns = Vec::new();
        self.partial.extend_from_slice(pcm);
        let whole = self.partial.len() / FRAME_BYTES * FRAME_BYTES;
        for frame in self.partial[..whole].chunks_exact(FRAME_BYTES) {
            let sum: u64 = frame.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]).unsigned_abs() as u64).sum();
            let loud = sum as f64 / (FRAME_BYTES / 2) as f64 > s.threshold * LEVEL_AT_ONE;
            self.clock_ms += 10;
            match (self.speaking, loud) {
                (false, true) => {
                    self.speaking = true;
                    self.silent_ms = 0;
                    turns.push(Turn::Started((self.clock_ms - 10).saturating_sub(s.prefix_padding_ms)));
                }
                (true, false) => {
                    self.silent_ms += 10;
                    if self.silent_ms >= s.silence_duration_ms {
                        self.speaking = false;
                        turns.push(Turn::Stopped(self.clock_ms));
                    }
                }
                (true, true) => self.silent_ms = 0,
                (false, false) => {}
            }
        }
        self.partial.drain(..whole);
        turns
    }

    /// Forgets speech in progress (the buffer was committed or cleared).
    pub fn reset_turn(&mut self) {
        self.speaking = false;
        self.silent_ms = 0;
    }

    /// Whether speech is in progress.
    pub fn speaking(&self) -> bool {
        self.speaking
    }
}

/// Milliseconds of pcm16 24 kHz mono audio in `bytes`.
pub fn duration_ms(bytes: usize) -> u64 {
    bytes as u64 * 1000 / (RATE * 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio(ms: u64, amplitude: i16) -> Vec<u8> {
        (0..ms * RATE / 1000).flat_map(|i| if i % 2 == 0 { amplitude } else { -amplitude }.to_le_bytes()).collect()
    }

    const S: Settings = Settings { threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 200 };

    #[test]
    fn speech_starts_on_loud_audio_and_stops_after_the_silence_run() {
        let mut vad = Vad::default();
        assert_eq!(vad.feed(&audio(500, 0), &S), []);
        assert_eq!(vad.feed(&audio(1000, 8000), &S), [Turn::Started(200)], "500 ms in, minus 300 ms padding");
        assert_eq!(vad.feed(&audio(150, 0), &S), [], "shorter than the silence run");
        assert_eq!(vad.feed(&audio(100, 0), &S), [Turn::Stopped(1700)]);
        assert!(!vad.speaking());
    }

    #[test]
    fn frames_split_across_appends_and_quiet_audio_is_silence() {
        let mut vad = Vad::default();
        let loud = audio(20, 8000);
        assert_eq!(vad.feed(&loud[..7], &S), []);
        assert_eq!(vad.feed(&loud[7..], &S), [Turn::Started(0)]);
        let mut quiet = Vad::default();
        assert_eq!(quiet.feed(&audio(1000, 200), &S), [], "below the threshold");
        assert_eq!(duration_ms(48_000), 1000);
    }
}
