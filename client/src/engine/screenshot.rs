//! The decoded desktop as PNG: encoded in memory, then written by the one safe writer
//! (`rdpshim_profiles::safe_file`): atomically (an interrupted run never leaves a truncated
//! image under the requested name), 0600 (a picture of someone's desktop), never through
//! a symbolic link or over a device, FIFO or directory.

use std::path::Path;

use ironrdp_graphics::image_processing::PixelFormat;
use ironrdp_session::image::DecodedImage;
use rdpshim_profiles::safe_file::{self, FileError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ScreenshotError {
    #[error("unexpected pixel format {0:?}")]
    PixelFormat(PixelFormat),
    #[error("encoding the PNG: {0}")]
    Encode(#[from] png::EncodingError),
    #[error(transparent)]
    Write(#[from] FileError),
}

/// Writes `image` to `path` (the report carries an error as text, `screenshot_error`).
pub fn write_png(path: &Path, image: &DecodedImage) -> Result<(), ScreenshotError> {
    let png = encode(image)?;
    safe_file::write_user_file(path, &png, safe_file::PRIVATE)?;
    Ok(())
}

fn encode(image: &DecodedImage) -> Result<Vec<u8>, ScreenshotError> {
    if image.pixel_format() != PixelFormat::RgbA32 {
        return Err(ScreenshotError::PixelFormat(image.pixel_format()));
    }
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(
        &mut png,
        u32::from(image.width()),
        u32::from(image.height()),
    );
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    // The framebuffer's alpha channel is not meaningful (RDP sends opaque desktops).
    let opaque: Vec<u8> = image
        .data()
        .chunks_exact(4)
        .flat_map(|px| [px[0], px[1], px[2], 0xff])
        .collect();
    writer.write_image_data(&opaque)?;
    writer.finish()?;
    Ok(png)
}
