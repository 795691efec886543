//! The decoded desktop as PNG, written to a temporary file and renamed into place so an
//! interrupted run never leaves a truncated image under the requested name.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use ironrdp_graphics::image_processing::PixelFormat;
use ironrdp_session::image::DecodedImage;

pub fn write_png(path: &Path, image: &DecodedImage) -> Result<(), String> {
    if image.pixel_format() != PixelFormat::RgbA32 {
        return Err(format!(
            "unexpected pixel format {:?}",
            image.pixel_format()
        ));
    }
    let tmp = path.with_extension("png.partial");
    let result = encode(&tmp, image).and_then(|()| {
        std::fs::rename(&tmp, path).map_err(|e| format!("renaming into {}: {e}", path.display()))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn encode(tmp: &Path, image: &DecodedImage) -> Result<(), String> {
    let file = File::create(tmp).map_err(|e| format!("creating {}: {e}", tmp.display()))?;
    let mut encoder = png::Encoder::new(
        BufWriter::new(file),
        u32::from(image.width()),
        u32::from(image.height()),
    );
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .map_err(|e| format!("writing PNG header: {e}"))?;
    // The framebuffer's alpha channel is not meaningful (RDP sends opaque desktops).
    let opaque: Vec<u8> = image
        .data()
        .chunks_exact(4)
        .flat_map(|px| [px[0], px[1], px[2], 0xff])
        .collect();
    writer
        .write_image_data(&opaque)
        .map_err(|e| format!("writing PNG data: {e}"))?;
    writer.finish().map_err(|e| format!("finishing PNG: {e}"))
}
