//! A minimal MP4 (ISO BMFF) written by hand: `ftyp`, `moov` with one video track, then
//! `mdat`. The track is Motion JPEG (sample entry `jpeg`), one frame per second, so any
//! decoder (ffmpeg, browsers' fallbacks aside) reads its duration and size; `moov` comes
//! first, so players can start before the whole file arrives.

/// Track and movie time units per second.
const TIMESCALE: u32 = 1000;

/// Appends a box: 32-bit size, type, then what `body` writes.
fn mp4_box(out: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(kind);
    body(out);
    let size = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// Appends a full box: a box whose body starts with version 0 and 24-bit `flags`.
fn full_box(out: &mut Vec<u8>, kind: &[u8; 4], flags: u32, body: impl FnOnce(&mut Vec<u8>)) {
    mp4_box(out, kind, |o| {
        o.extend_from_slice(&flags.to_be_bytes());
        body(o)
    });
}

fn u16s(o: &mut Vec<u8>, vs: &[u16]) {
    vs.iter().for_each(|v| o.extend_from_slice(&v.to_be_bytes()));
}

fn u32s(o: &mut Vec<u8>, vs: &[u32]) {
    vs.iter().for_each(|v| o.extend_from_slice(&v.to_be_bytes()));
}

/// The identity transformation matrix of `mvhd` and `tkhd`.
const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// An MP4 of `frames` JPEG frames (each `jpeg`, the same picture), one per second, at
/// `width`×`height`.
pub fn mjpeg_mp4(jpeg: &[u8], frames: u32, width: u16, height: u16) -> Vec<u8> {
    let duration = frames * TIMESCALE;
    let mut out = Vec::with_capacity(jpeg.len() * frames as usize + 1024);
    mp4_box(&mut out, b"ftyp", |o| {
        o.extend_from_slice(b"isom");
        u32s(o, &[0x200]);
        o.extend_from_slice(b"isomiso2mp41");
    });
    let mut moov = Vec::new();
    // The chunk offset is patched in once moov's length is known (it does not change it).
    let offset_at = write_moov(&mut moov, jpeg.len() as u32, frames, duration, width, height);
    let data_start = (out.len() + moov.len() + 8) as u32;
    moov[offset_at..offset_at + 4].copy_from_slice(&data_start.to_be_bytes());
    out.extend_from_slice(&moov);
    mp4_box(&mut out, b"mdat", |o| (0..frames).for_each(|_| o.extend_from_slice(jpeg)));
    out
}

/// Writes `moov`; returns where in it the chunk offset (of `stco`) is.
fn write_moov(out: &mut Vec<u8>, frame_len: u32, frames: u32, duration: u32, width: u16, height: u16) -> usize {
    let mut offset_at = 0;
    mp4_box(out, b"moov", |o| {
        full_box(o, b"mvhd", 0, |o| {
            u32s(o, &[0, 0, TIMESCALE, duration, 0x0001_0000]);
            u16s(o, &[0x0100, 0]);
            u32s(o, &[0, 0]);
            u32s(o, &MATRIX);
            u32s(o, &[0; 6]);
            u32s(o, &[2]);
        });
        mp4_box(o, b"trak", |o| {
            full_box(o, b"tkhd", 3, |o| {
                u32s(o, &[0, 0, 1, 0, duration, 0, 0]);
                u16s(o, &[0, 0, 0, 0]);
                u32s(o, &MATRIX);
                u32s(o, &[u32::from(width) << 16, u32::from(height) << 16]);
            });
            mp4_box(o, b"mdia", |o| {
                full_box(o, b"mdhd", 0, |o| {
                    u32s(o, &[0, 0, TIMESCALE, duration]);
                    // Language "und", packed as three 5-bit letters.
                    u16s(o, &[0x55c4, 0]);
                });
                full_box(o, b"hdlr", 0, |o| {
                    u32s(o, &[0]);
                    o.extend_from_slice(b"vide");
                    u32s(o, &[0, 0, 0]);
                    o.extend_from_slice(b"VideoHandler\0");
                });
                mp4_box(o, b"minf", |o| {
                    full_box(o, b"vmhd", 1, |o| u16s(o, &[0, 0, 0, 0]));
                    mp4_box(o, b"dinf", |o| {
                        full_box(o, b"dref", 0, |o| {
                            u32s(o, &[1]);
                            // The media is in this file.
                            full_box(o, b"url ", 1, |_| {});
                        })
                    });
                    mp4_box(o, b"stbl", |o| {
                        offset_at = sample_table(o, frame_len, frames, width, height);
                    });
                });
            });
        });
    });
    offset_at
}

/// Writes the sample table boxes (inside `stbl`); returns where the chunk offset is.
fn sample_table(o: &mut Vec<u8>, frame_len: u32, frames: u32, width: u16, height: u16) -> usize {
    full_box(o, b"stsd", 0, |o| {
        u32s(o, &[1]);
        mp4_box(o, b"jpeg", |o| {
            o.extend_from_slice(&[0; 6]);
            u16s(o, &[1, 0, 0]);
            u32s(o, &[0, 0, 0]);
            u16s(o, &[width, height]);
            u32s(o, &[0x0048_0000, 0x0048_0000, 0]);
            u16s(o, &[1]);
            let mut name = [0u8; 32];
            name[0] = 12;
            name[1..13].copy_from_slice(b"Photo - JPEG");
            o.extend_from_slice(&name);
            u16s(o, &[0x18, 0xffff]);
        });
    });
    full_box(o, b"stts", 0, |o| u32s(o, &[1, frames, TIMESCALE]));
    full_box(o, b"stsc", 0, |o| u32s(o, &[1, 1, frames, 1]));
    full_box(o, b"stsz", 0, |o| {
        u32s(o, &[0, frames]);
        (0..frames).for_each(|_| u32s(o, &[frame_len]));
    });
    let mut at = 0;
    full_box(o, b"stco", 0, |o| {
        u32s(o, &[1]);
        at = o.len();
        u32s(o, &[0]);
    });
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The boxes at the top level: (type, size).
    fn top_boxes(b: &[u8]) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at + 8 <= b.len() {
            let size = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
            out.push((String::from_utf8_lossy(&b[at + 4..at + 8]).into_owned(), size));
            at += size;
        }
        assert_eq!(at, b.len(), "boxes tile the file");
        out
    }

    #[test]
    fn boxes_tile_the_file_and_the_offset_points_at_the_frames() {
        let jpeg = [0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9];
        let mp4 = mjpeg_mp4(&jpeg, 4, 1280, 720);
        let kinds: Vec<String> = top_boxes(&mp4).into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, ["ftyp", "moov", "mdat"]);
        let stco = mp4.windows(4).position(|w| w == b"stco").unwrap();
        let offset = u32::from_be_bytes(mp4[stco + 12..stco + 16].try_into().unwrap()) as usize;
        assert_eq!(&mp4[offset..offset + jpeg.len()], &jpeg);
        assert_eq!(mp4.len() - offset, 4 * jpeg.len());
    }
}
