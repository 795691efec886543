//! The first frame: an uncompressed 32 bpp picture (gradient plus a checkerboard) sent as
//! fast-path bitmap updates (MS-RDPBCGR 2.2.9.1.2.1.2), one 64x64 tile per PDU so every
//! PDU stays below the 15-bit fast-path length limit.

use ironrdp_core::{encode_buf, encode_vec, EncodeResult, WriteBuf};
use ironrdp_pdu::bitmap::{BitmapData, BitmapUpdateData, Compression};
use ironrdp_pdu::fast_path::{
    EncryptionFlags, FastPathHeader, FastPathUpdate, FastPathUpdatePdu, Fragmentation, UpdateCode,
};
use ironrdp_pdu::geometry::InclusiveRectangle;

const TILE: u16 = 64;

/// Pixel (B, G, R) at desktop coordinates: blue grows to the right, green downwards, and a
/// 32-pixel checkerboard in red so the picture is never uniform.
fn pixel(x: u16, y: u16, width: u16, height: u16) -> [u8; 3] {
    let scale = |v: u16, max: u16| {
        u8::try_from(u32::from(v) * 255 / u32::from(max.max(2) - 1)).unwrap_or(255)
    };
    let checker = if ((x / 32) + (y / 32)).is_multiple_of(2) {
        0xC0
    } else {
        0x20
    };
    [scale(x, width), scale(y, height), checker]
}

/// All fast-path PDUs (each a complete TS_FP_UPDATE_PDU) that paint the whole desktop.
pub fn desktop_pdus(width: u16, height: u16) -> EncodeResult<Vec<Vec<u8>>> {
    let mut pdus = Vec::new();
    let mut tile = Vec::with_capacity(usize::from(TILE) * usize::from(TILE) * 4);
    let mut top = 0u16;
    while top < height {
        let tile_h = TILE.min(height - top);
        let mut left = 0u16;
        while left < width {
            let tile_w = TILE.min(width - left);
            // Uncompressed bitmap data is bottom-up (MS-RDPBCGR 2.2.9.1.1.3.1.2.2); 32 bpp
            // rows are always a multiple of four bytes, so no padding.
            tile.clear();
            for row in (0..tile_h).rev() {
                for col in 0..tile_w {
                    let [b, g, r] = pixel(left + col, top + row, width, height);
                    tile.extend_from_slice(&[b, g, r, 0xFF]);
                }
            }
            pdus.push(bitmap_pdu(left, top, tile_w, tile_h, &tile)?);
            left += tile_w;
        }
        top += tile_h;
    }
    Ok(pdus)
}

fn bitmap_pdu(left: u16, top: u16, width: u16, height: u16, data: &[u8]) -> EncodeResult<Vec<u8>> {
    let update = FastPathUpdate::Bitmap(BitmapUpdateData {
        rectangles: vec![BitmapData {
            rectangle: InclusiveRectangle {
                left,
                top,
                right: left + width - 1,
                bottom: top + height - 1,
            },
            width,
            height,
            bits_per_pixel: 32,
            compression_flags: Compression::empty(),
            compressed_data_header: None,
            bitmap_data: data,
        }],
    });
    let update_data = encode_vec(&update)?;
    let update_pdu = FastPathUpdatePdu {
        fragmentation: Fragmentation::Single,
        update_code: UpdateCode::Bitmap,
        compression_flags: None,
        compression_type: None,
        data: &update_data,
    };
    let body = encode_vec(&update_pdu)?;
    let header = FastPathHeader::new(EncryptionFlags::empty(), body.len());
    let mut out = WriteBuf::new();
    encode_buf(&header, &mut out)?;
    out.write_slice(&body);
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironrdp_core::decode;

    #[test]
    fn pdus_decode_and_cover_the_desktop() {
        let pdus = desktop_pdus(1024, 768).expect("encode");
        assert_eq!(pdus.len(), 16 * 12);
        let mut area = 0usize;
        for pdu in &pdus {
            assert!(pdu.len() <= 0x7FFF, "fast-path PDU too long: {}", pdu.len());
            let info = ironrdp_pdu::find_size(pdu)
                .expect("find_size")
                .expect("complete");
            assert_eq!(info.length, pdu.len());
            let header: FastPathHeader = decode(pdu).expect("header");
            let body = &pdu[pdu.len() - header.data_length..];
            let update: FastPathUpdatePdu<'_> = decode(body).expect("update pdu");
            let FastPathUpdate::Bitmap(bitmap) =
                FastPathUpdate::decode_with_code(update.data, update.update_code).expect("bitmap")
            else {
                panic!("not a bitmap update");
            };
            for r in &bitmap.rectangles {
                area += usize::from(r.width) * usize::from(r.height);
                assert_eq!(
                    r.bitmap_data.len(),
                    usize::from(r.width) * usize::from(r.height) * 4
                );
            }
        }
        assert_eq!(area, 1024 * 768);
    }

    #[test]
    fn odd_sizes_are_tiled_exactly() {
        let pdus = desktop_pdus(200, 201).expect("encode");
        assert_eq!(pdus.len(), 4 * 4);
    }
}
