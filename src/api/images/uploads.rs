//! Uploaded images of edits and variations checked as OpenAI checks them: DALL·E 2 takes one
//! square PNG under 4 MB (and a mask of the same size); GPT image models take PNG, JPEG or
//! WebP files under 50 MB. PNG headers are read with the `png` crate.

use super::{fields::Upload, request::Family};
use crate::error::Error;

/// DALL·E 2's upload limit.
const DALLE_MAX: usize = 4 * 1024 * 1024;
/// GPT image models' upload limit.
const GPT_MAX: usize = 50 * 1024 * 1024;
/// Size assumed for a JPEG or WebP input (its tokens), whose header is not read.
const ASSUMED: (u32, u32) = (1024, 1024);

/// What a PNG header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PngInfo {
    /// Width and height.
    pub size: (u32, u32),
    /// It has an alpha channel (RGBA or grey + alpha).
    pub alpha: bool,
    /// It is greyscale without alpha (`L`).
    pub grey: bool,
}

/// The header of a PNG file, or `None` if it is not one.
pub fn png_info(bytes: &[u8]) -> Option<PngInfo> {
    let reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().ok()?;
    let info = reader.info();
    Some(PngInfo {
        size: (info.width, info.height),
        alpha: matches!(info.color_type, png::ColorType::Rgba | png::ColorType::GrayscaleAlpha) || info.trns.is_some(),
        grey: info.color_type == png::ColorType::Grayscale,
    })
}

/// A DALL·E-style upload: a square PNG under 4 MB. `needs_alpha`: an edit without a mask
/// paints where the image is transparent, so it must have an alpha channel.
pub fn check_dalle(file: &Upload<'_>, needs_alpha: bool) -> Result<PngInfo, Error> {
    let param = file.field;
    let info = png_info(file.bytes)
        .filter(|_| file.bytes.len() < DALLE_MAX)
        .ok_or_else(|| Error::invalid_param(param, "Uploaded image must be a PNG and less than 4 MB."))?;
    if info.size.0 != info.size.1 {
        return Err(Error::invalid_param(param, "Uploaded image must be square."));
    }
    if needs_alpha && !info.alpha && !info.grey {
        let message = "Invalid input image - format must be in ['RGBA', 'LA', 'L'], got RGB.";
        return Err(Error::invalid_param(param, message));
    }
    Ok(info)
}

/// A GPT image model's upload: PNG, JPEG or WebP under 50 MB; its size (assumed for JPEG and
/// WebP).
pub fn check_gpt(file: &Upload<'_>) -> Result<(u32, u32), Error> {
    let b = file.bytes;
    let bad = || {
        let message = format!(
            "Invalid file '{}': unsupported image format. Supported formats are PNG, JPEG and WEBP, each under 50MB.",
            file.field
        );
        Error::invalid_param(file.field, message).with_code("invalid_image_format")
    };
    if b.len() >= GPT_MAX {
        return Err(bad());
    }
    if let Some(info) = png_info(b) {
        return Ok(info.size);
    }
    let jpeg = b.starts_with(&[0xff, 0xd8, 0xff]);
    let webp = b.len() >= 12 && b.starts_with(b"RIFF") && &b[8..12] == b"WEBP";
    if jpeg || webp { Ok(ASSUMED) } else { Err(bad()) }
}

/// The images of an edit or variation, checked for `family`, with each one's size.
pub fn check_all(
    images: &[Upload<'_>],
    mask: Option<&Upload<'_>>,
    family: Family,
    edit: bool,
) -> Result<Vec<(u32, u32)>, Error> {
    let first = images.first().ok_or_else(|| super::request::missing("image"))?;
    if family != Family::GptImage {
        if images.len() > 1 {
            return Err(Error::invalid_param("image", "Only one image can be provided for this model."));
        }
        let info = check_dalle(first, edit && mask.is_none())?;
        if let Some(mask) = mask {
            let m = check_dalle(mask, false)?;
            if m.size != info.size {
                return Err(Error::invalid_param("mask", "Mask and image must have the same dimensions."));
            }
        }
        return Ok(vec![info.size]);
    }
    if images.len() > 16 {
        return Err(Error::invalid_param("image", "At most 16 images can be provided."));
    }
    if let Some(mask) = mask {
        png_info(mask.bytes).ok_or_else(|| Error::invalid_param("mask", "The mask must be a PNG image."))?;
    }
    images.iter().map(check_gpt).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::images::render::{Format, Picture, encode};

    fn png(size: (u32, u32), transparent: bool) -> Vec<u8> {
        encode(&Picture { prompt: "p", index: 0, size, transparent, detail: 1.0 }, Format::Png, 100)
    }

    #[test]
    fn dalle_wants_a_square_png_with_alpha_for_maskless_edits() {
        let (square, wide) = (png((8, 8), true), png((8, 4), true));
        let up = |bytes| Upload { field: "image", bytes };
        assert_eq!(check_dalle(&up(&square), true).unwrap().size, (8, 8));
        assert!(check_dalle(&up(&wide), false).unwrap_err().message.contains("square"));
        assert!(check_dalle(&up(b"GIF89a"), false).unwrap_err().message.contains("PNG"));
        let rgb = png((8, 8), false);
        assert!(check_dalle(&up(&rgb), true).unwrap_err().message.contains("got RGB"));
        assert!(check_dalle(&up(&rgb), false).is_ok(), "variations and masked edits take RGB");
    }

    #[test]
    fn gpt_image_takes_png_jpeg_and_webp() {
        let up = |bytes| Upload { field: "image[]", bytes };
        let wide = png((16, 8), false);
        assert_eq!(check_gpt(&up(&wide)).unwrap(), (16, 8));
        let jpeg =
            encode(&Picture { prompt: "p", index: 0, size: (8, 8), transparent: false, detail: 1.0 }, Format::Jpeg, 90);
        assert!(check_gpt(&up(&jpeg)).is_ok());
        assert_eq!(check_gpt(&up(b"plain text")).unwrap_err().param.as_deref(), Some("image[]"));
    }
}
