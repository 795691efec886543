//! Bytes of an `.rdp` file -> text. mstsc writes UTF-16LE with a BOM and CRLF; other tools
//! and hand edits give UTF-8 (with or without BOM) and LF, and some UTF-16 without a BOM.
//! Anything else is refused with a reason rather than decoded lossily: a lossy decode of a
//! wrong guess would import a wrong host silently.

use std::fmt;

/// mstsc files are a few KiB; 1 MiB bounds the memory an import can take.
pub const MAX_RDP_FILE_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextEncoding {
    Utf8,
    Utf16Le,
    Utf16Be,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineEnding {
    Lf,
    CrLf,
}

impl LineEnding {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lf => "\n",
            Self::CrLf => "\r\n",
        }
    }
}

/// Text and how it was stored, so a tool can write a file back the way it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    pub encoding: TextEncoding,
    pub bom: bool,
    pub line_ending: LineEnding,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    TooLarge {
        size: usize,
        limit: usize,
    },
    /// UTF-16 needs an even number of bytes: the file was cut short.
    OddUtf16Length {
        size: usize,
    },
    /// A UTF-16 surrogate without its pair at this byte offset.
    InvalidUtf16 {
        offset: usize,
    },
    /// Neither UTF-8 nor UTF-16: the first bad byte, its offset and line.
    InvalidUtf8 {
        offset: usize,
        line: usize,
        byte: u8,
    },
    /// A NUL or other control character: binary data, not a text file.
    ControlCharacter {
        line: usize,
        code: u32,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { size, limit } => write!(
                f,
                "the file is {size} bytes, over the {limit}-byte limit for an .rdp file"
            ),
            Self::OddUtf16Length { size } => write!(
                f,
                "truncated UTF-16 text: {size} bytes is an odd number (the file was cut short?)"
            ),
            Self::InvalidUtf16 { offset } => {
                write!(f, "invalid UTF-16: unpaired surrogate at byte {offset}")
            }
            Self::InvalidUtf8 { offset, line, byte } => write!(
                f,
                "not UTF-8 or UTF-16 text: byte 0x{byte:02X} at offset {offset} (line {line}) \
                 is invalid; save the file as UTF-8 or UTF-16"
            ),
            Self::ControlCharacter { line, code } => write!(
                f,
                "line {line} holds control character U+{code:04X}: this is binary data, \
                 not an .rdp text file"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes `bytes`, detecting the encoding by BOM, then by the NUL-byte pattern ASCII text
/// has in UTF-16, else UTF-8.
pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    if bytes.len() > MAX_RDP_FILE_BYTES {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            limit: MAX_RDP_FILE_BYTES,
        });
    }
    let (encoding, bom, body) = if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        (TextEncoding::Utf16Le, true, rest)
    } else if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        (TextEncoding::Utf16Be, true, rest)
    } else if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        (TextEncoding::Utf8, true, rest)
    } else {
        (sniff(bytes), false, bytes)
    };
    let header = bytes.len() - body.len();
    let text = match encoding {
        TextEncoding::Utf8 => decode_utf8(body, header)?,
        TextEncoding::Utf16Le => decode_utf16(body, header, u16::from_le_bytes)?,
        TextEncoding::Utf16Be => decode_utf16(body, header, u16::from_be_bytes)?,
    };
    if let Some((index, c)) = text
        .char_indices()
        .find(|(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(DecodeError::ControlCharacter {
            line: text[..index].matches('\n').count() + 1,
            code: u32::from(c),
        });
    }
    let line_ending = if text.contains("\r\n") {
        LineEnding::CrLf
    } else {
        LineEnding::Lf
    };
    Ok(Decoded {
        text,
        encoding,
        bom,
        line_ending,
    })
}

/// UTF-16 without BOM: ASCII text has a NUL in every other byte. Looks at the first 512
/// bytes; three quarters of the pairs must show the pattern.
fn sniff(bytes: &[u8]) -> TextEncoding {
    let sample = &bytes[..bytes.len().min(512) & !1];
    let pairs = sample.len() / 2;
    if pairs == 0 {
        return TextEncoding::Utf8;
    }
    let nul_at = |parity: usize| {
        sample
            .chunks_exact(2)
            .filter(|pair| pair[parity] == 0 && pair[1 - parity] != 0)
            .count()
    };
    if nul_at(1) * 4 >= pairs * 3 {
        TextEncoding::Utf16Le
    } else if nul_at(0) * 4 >= pairs * 3 {
        TextEncoding::Utf16Be
    } else {
        TextEncoding::Utf8
    }
}

fn decode_utf8(body: &[u8], header: usize) -> Result<String, DecodeError> {
    match std::str::from_utf8(body) {
        Ok(text) => Ok(text.to_owned()),
        Err(e) => {
            let at = e.valid_up_to();
            Err(DecodeError::InvalidUtf8 {
                offset: header + at,
                line: body[..at].iter().filter(|&&b| b == b'\n').count() + 1,
                byte: body[at],
            })
        }
    }
}

fn decode_utf16(
    body: &[u8],
    header: usize,
    unit: fn([u8; 2]) -> u16,
) -> Result<String, DecodeError> {
    if !body.len().is_multiple_of(2) {
        return Err(DecodeError::OddUtf16Length {
            size: header + body.len(),
        });
    }
    let units = body.chunks_exact(2).map(|p| unit([p[0], p[1]]));
    let mut text = String::with_capacity(body.len() / 2);
    let mut offset = header;
    for result in char::decode_utf16(units) {
        match result {
            Ok(c) => {
                offset += c.len_utf16() * 2;
                text.push(c);
            }
            Err(_) => return Err(DecodeError::InvalidUtf16 { offset }),
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(s: &str, bom: bool) -> Vec<u8> {
        let mut out = if bom { vec![0xFF, 0xFE] } else { vec![] };
        out.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
        out
    }

    fn utf16be(s: &str, bom: bool) -> Vec<u8> {
        let mut out = if bom { vec![0xFE, 0xFF] } else { vec![] };
        out.extend(s.encode_utf16().flat_map(u16::to_be_bytes));
        out
    }

    const TEXT: &str = "full address:s:server\r\nusername:s:j\u{fc}rgen\r\n";

    #[test]
    fn every_supported_encoding() {
        let cases: Vec<(Vec<u8>, TextEncoding, bool)> = vec![
            (utf16le(TEXT, true), TextEncoding::Utf16Le, true),
            (utf16le(TEXT, false), TextEncoding::Utf16Le, false),
            (utf16be(TEXT, true), TextEncoding::Utf16Be, true),
            (utf16be(TEXT, false), TextEncoding::Utf16Be, false),
            (
                [&[0xEF, 0xBB, 0xBF][..], TEXT.as_bytes()].concat(),
                TextEncoding::Utf8,
                true,
            ),
            (TEXT.as_bytes().to_vec(), TextEncoding::Utf8, false),
        ];
        for (bytes, encoding, bom) in cases {
            let d = decode(&bytes).unwrap();
            assert_eq!((d.encoding, d.bom), (encoding, bom));
            assert_eq!(d.text, TEXT);
            assert_eq!(d.line_ending, LineEnding::CrLf);
        }
        assert_eq!(decode(b"a:s:b\n").unwrap().line_ending, LineEnding::Lf);
        assert_eq!(decode(b"").unwrap().text, "");
        assert_eq!(decode(&[0xFF, 0xFE]).unwrap().text, "");
    }

    #[test]
    fn bad_inputs_are_refused_with_reasons() {
        let mut cut = utf16le(TEXT, true);
        cut.pop();
        assert!(matches!(
            decode(&cut),
            Err(DecodeError::OddUtf16Length { .. })
        ));
        let lone_surrogate = [0xFF, 0xFE, b'a', 0, 0x00, 0xD8, b'b', 0];
        assert_eq!(
            decode(&lone_surrogate),
            Err(DecodeError::InvalidUtf16 { offset: 4 })
        );
        assert_eq!(
            decode(b"a:s:b\nc:s:\xC3\x28\n"),
            Err(DecodeError::InvalidUtf8 {
                offset: 10,
                line: 2,
                byte: 0xC3
            })
        );
        let err = decode(b"a:s:b\n\x00\x00\x00\x07binary").unwrap_err();
        assert!(matches!(err, DecodeError::ControlCharacter { line: 2, .. }));
        assert!(err.to_string().contains("binary"));
        let huge = vec![b'a'; MAX_RDP_FILE_BYTES + 1];
        assert!(matches!(decode(&huge), Err(DecodeError::TooLarge { .. })));
    }
}
