//! Text -> bytes of an `.rdp` file, in the shape the reader on the other end expects.

use super::decode::{LineEnding, TextEncoding};

/// How to store a written `.rdp` file. UTF-16 without a BOM is read back reliably only
/// for mostly-ASCII text (see [`super::decode`]); write UTF-16 with a BOM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutputFormat {
    pub encoding: TextEncoding,
    pub bom: bool,
    pub line_ending: LineEnding,
}

impl OutputFormat {
    /// What mstsc writes (and what older mstsc versions need): UTF-16LE, BOM, CRLF.
    pub const MSTSC: Self = Self {
        encoding: TextEncoding::Utf16Le,
        bom: true,
        line_ending: LineEnding::CrLf,
    };
    /// UTF-8 without BOM, LF: for FreeRDP, Remmina and version control.
    pub const UTF8_LF: Self = Self {
        encoding: TextEncoding::Utf8,
        bom: false,
        line_ending: LineEnding::Lf,
    };
    /// UTF-8 without BOM, CRLF.
    pub const UTF8_CRLF: Self = Self {
        encoding: TextEncoding::Utf8,
        bom: false,
        line_ending: LineEnding::CrLf,
    };
}

/// Encodes `text`, whose lines end in `\n` (as [`super::RdpFile::to_text`] gives with
/// [`LineEnding::Lf`]), converting line endings to `format.line_ending`.
pub fn encode(text: &str, format: OutputFormat) -> Vec<u8> {
    let text = match format.line_ending {
        LineEnding::Lf => text.to_owned(),
        LineEnding::CrLf => text.replace("\r\n", "\n").replace('\n', "\r\n"),
    };
    match format.encoding {
        TextEncoding::Utf8 => {
            let mut out = if format.bom {
                vec![0xEF, 0xBB, 0xBF]
            } else {
                Vec::new()
            };
            out.extend_from_slice(text.as_bytes());
            out
        }
        TextEncoding::Utf16Le => utf16(&text, format.bom, u16::to_le_bytes),
        TextEncoding::Utf16Be => utf16(&text, format.bom, u16::to_be_bytes),
    }
}

fn utf16(text: &str, bom: bool, bytes: fn(u16) -> [u8; 2]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + text.len() * 2);
    if bom {
        out.extend_from_slice(&bytes(0xFEFF));
    }
    for unit in text.encode_utf16() {
        out.extend_from_slice(&bytes(unit));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::decode::decode;
    use super::*;

    #[test]
    fn mstsc_format_is_utf16le_bom_crlf() {
        let bytes = encode("a:s:b\n", OutputFormat::MSTSC);
        assert_eq!(
            bytes,
            [0xFF, 0xFE, b'a', 0, b':', 0, b's', 0, b':', 0, b'b', 0, b'\r', 0, b'\n', 0]
        );
    }

    #[test]
    fn every_format_decodes_back() {
        let text = "full address:s:h\u{f6}st\nx:i:1\n";
        for encoding in [
            TextEncoding::Utf8,
            TextEncoding::Utf16Le,
            TextEncoding::Utf16Be,
        ] {
            for bom in [false, true] {
                for line_ending in [LineEnding::Lf, LineEnding::CrLf] {
                    let format = OutputFormat {
                        encoding,
                        bom,
                        line_ending,
                    };
                    let d = decode(&encode(text, format)).unwrap();
                    assert_eq!(
                        (d.encoding, d.bom, d.line_ending),
                        (encoding, bom, line_ending)
                    );
                    assert_eq!(d.text.replace("\r\n", "\n"), text);
                }
            }
        }
    }
}
