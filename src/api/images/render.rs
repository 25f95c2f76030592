//! Deterministic pictures and their encodings: a gradient with rings whose colours, centre and
//! spacing come from a hash of the prompt, encoded as PNG (`png`), JPEG (`jpeg-encoder`) or
//! lossless WebP (`image-webp`) — real files any decoder reads, at the requested size.

use std::hash::{Hash, Hasher};

/// An image file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PNG, RGB or RGBA.
    Png,
    /// Baseline JPEG, RGB.
    Jpeg,
    /// Lossless WebP, RGB or RGBA.
    Webp,
}

impl Format {
    /// The name OpenAI uses (`output_format`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Jpeg => "jpeg",
            Format::Webp => "webp",
        }
    }

    /// The `Content-Type` of a file of this format.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
            Format::Webp => "image/webp",
        }
    }

    /// The format called `name` in `output_format`.
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "png" => Some(Format::Png),
            "jpeg" => Some(Format::Jpeg),
            "webp" => Some(Format::Webp),
            _ => None,
        }
    }
}

/// What to draw and how to encode it.
#[derive(Debug, Clone, Copy)]
pub struct Picture<'a> {
    /// The text the picture derives from (the prompt).
    pub prompt: &'a str,
    /// Which of the request's images (each differs).
    pub index: u32,
    /// Width and height in pixels.
    pub size: (u32, u32),
    /// Outside a central disc is fully transparent (PNG and WebP only).
    pub transparent: bool,
    /// How much detail is visible: 1.0 is the finished image, less is a partial one.
    pub detail: f32,
}

/// The picture's seed: the same prompt and index always draw the same image.
fn seed(prompt: &str, index: u32) -> u64 {
    // DefaultHasher::new() has fixed keys: the same in every process and on every core.
    let mut h = std::hash::DefaultHasher::new();
    (prompt, index).hash(&mut h);
    h.finish()
}

/// Raw pixels, RGB or (when transparent) RGBA, row by row.
pub fn pixels(p: &Picture<'_>) -> Vec<u8> {
    let (w, h) = p.size;
    let s = seed(p.prompt, p.index);
    let colour = |shift: u32| [(s >> shift) as u8, (s >> (shift + 8)) as u8, (s >> (shift + 16)) as u8];
    let (c0, c1, ring) = (colour(0), colour(24), colour(40));
    let (cx, cy) = ((s >> 48) as u32 % w.max(1), (s >> 56) as u32 % h.max(1));
    // Rings every `band` pixels of squared distance / (w+h); partial images show fewer.
    let band = (((s >> 20) & 0x3f) + 8) * u64::from(w + h);
    let rings = (p.detail.clamp(0.0, 1.0) * 64.0) as u64;
    let radius2 = u64::from(w.min(h) / 2).pow(2);
    let channels = if p.transparent { 4 } else { 3 };
    let mut out = Vec::with_capacity(w as usize * h as usize * channels);
    let span = (w + h).max(1);
    for y in 0..h {
        for x in 0..w {
            let t = (x + y) * 256 / span;
            let mut px = [0u8; 3];
            for c in 0..3 {
                px[c] = ((u32::from(c0[c]) * (256 - t) + u32::from(c1[c]) * t) >> 8) as u8;
            }
            let (dx, dy) = (u64::from(x.abs_diff(cx)), u64::from(y.abs_diff(cy)));
            let d2 = dx * dx + dy * dy;
            let k = d2 / band;
            if k < rings && k % 2 == 1 {
                px = ring;
            }
            out.extend_from_slice(&px);
            if p.transparent {
                let (ex, ey) = (u64::from(x.abs_diff(w / 2)), u64::from(y.abs_diff(h / 2)));
                out.push(if ex * ex + ey * ey <= radius2 { 255 } else { 0 });
            }
        }
    }
    out
}

/// The picture encoded as `format`; `quality` (1–100) applies to JPEG.
pub fn encode(p: &Picture<'_>, format: Format, quality: u8) -> Vec<u8> {
    let transparent = p.transparent && format != Format::Jpeg;
    let p = Picture { transparent, ..*p };
    let data = pixels(&p);
    let (w, h) = p.size;
    let mut out = Vec::new();
    match format {
        Format::Png => {
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(if transparent { png::ColorType::Rgba } else { png::ColorType::Rgb });
            enc.set_depth(png::BitDepth::Eight);
            // Fast: the gradient compresses well anyway, and encoding must never be the bottleneck.
            enc.set_compression(png::Compression::Fast);
            let mut writer = enc.write_header().expect("png header into a Vec");
            writer.write_image_data(&data).expect("png data into a Vec");
        }
        Format::Jpeg => {
            let enc = jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100));
            enc.encode(&data, w as u16, h as u16, jpeg_encoder::ColorType::Rgb).expect("jpeg into a Vec");
        }
        Format::Webp => {
            let colour = if transparent { image_webp::ColorType::Rgba8 } else { image_webp::ColorType::Rgb8 };
            image_webp::WebPEncoder::new(&mut out).encode(&data, w, h, colour).expect("webp into a Vec");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pic(prompt: &str) -> Picture<'_> {
        Picture { prompt, index: 0, size: (64, 48), transparent: false, detail: 1.0 }
    }

    #[test]
    fn same_prompt_same_picture_other_prompt_or_index_another() {
        assert_eq!(pixels(&pic("a fox")), pixels(&pic("a fox")));
        assert_ne!(pixels(&pic("a fox")), pixels(&pic("a cat")));
        assert_ne!(pixels(&pic("a fox")), pixels(&Picture { index: 1, ..pic("a fox") }));
        assert_eq!(pixels(&pic("a fox")).len(), 64 * 48 * 3);
        assert_eq!(pixels(&Picture { transparent: true, ..pic("a fox") }).len(), 64 * 48 * 4);
    }

    #[test]
    fn png_decodes_to_the_size_and_pixels() {
        let p = pic("a lighthouse");
        let bytes = encode(&p, Format::Png, 100);
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height, info.color_type), (64, 48, png::ColorType::Rgb));
        assert_eq!(&buf[..info.buffer_size()], pixels(&p).as_slice());
    }

    #[test]
    fn jpeg_and_webp_have_their_signatures() {
        let jpeg = encode(&pic("x"), Format::Jpeg, 80);
        assert!(jpeg.starts_with(&[0xff, 0xd8, 0xff]) && jpeg.ends_with(&[0xff, 0xd9]));
        let webp = encode(&Picture { transparent: true, ..pic("x") }, Format::Webp, 100);
        assert!(webp.starts_with(b"RIFF") && &webp[8..12] == b"WEBP");
        assert_eq!(u32::from_le_bytes(webp[4..8].try_into().unwrap()) as usize, webp.len() - 8);
    }
}
