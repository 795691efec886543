//! `.rdp` files (mstsc's connection files): decode, parse, write, and map to profiles.
//!
//! Why not `ironrdp-rdpfile` 0.1: it parses `&str` only with `i:`/`s:` types (a `b:`
//! line is an error), and its writer sorts the keys and uses LF. Here a file must keep
//! its property order (users diff exports against their originals), every unknown
//! property must survive a round trip, a `password 51:b:` line must be recognised so it
//! can be dropped with a clear warning, and decoding UTF-16 with or without BOM is needed
//! around any parser anyway. That is ~150 lines on top of the decoder, fewer than the
//! adapter would be, and keeps this crate free of the IronRDP version pins the client
//! has to juggle (see FACTS: two IronRDP generations cannot share a lockfile).
//!
//! Layers: [`decode`]/[`encode`] (bytes <-> text), [`RdpFile`] (text <-> ordered
//! properties), [`profile_map`] (properties <-> [`Profile`]).

pub mod address;
pub mod decode;
pub mod defaults;
mod document;
pub mod encode;
pub mod profile_map;
mod property;

use std::fmt;

pub use address::AddressError;
pub use decode::{decode, DecodeError, Decoded, LineEnding, TextEncoding, MAX_RDP_FILE_BYTES};
pub use document::{LineIssue, LineProblem, Parsed, RdpFile};
pub use encode::{encode, OutputFormat};
pub use profile_map::{export, import, Exported, ImportError, Imported};
pub use property::{is_password_property, Kind, Property, PropertyError};

use crate::model::Profile;

/// A whole import: the profile, what was skipped and why, and how the file was stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportReport {
    pub profile: Profile,
    /// Lines not taken (malformed, or a password property dropped), with numbers.
    pub issues: Vec<LineIssue>,
    pub warnings: Vec<String>,
    pub encoding: TextEncoding,
    pub bom: bool,
    pub line_ending: LineEnding,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdpFileError {
    Decode(DecodeError),
    Import(ImportError),
}

impl fmt::Display for RdpFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(e) => e.fmt(f),
            Self::Import(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RdpFileError {}

/// Decodes and parses the bytes of an `.rdp` file.
pub fn read(bytes: &[u8]) -> Result<(Parsed, Decoded), DecodeError> {
    let decoded = decode(bytes)?;
    Ok((RdpFile::parse(&decoded.text), decoded))
}

/// The profile an `.rdp` file describes; `now` (RFC 3339 UTC) becomes `created`.
pub fn import_bytes(bytes: &[u8], now: &str) -> Result<ImportReport, RdpFileError> {
    let (parsed, decoded) = read(bytes).map_err(RdpFileError::Decode)?;
    let imported = import(&parsed.file, now).map_err(RdpFileError::Import)?;
    Ok(ImportReport {
        profile: imported.profile,
        issues: parsed.issues,
        warnings: imported.warnings,
        encoding: decoded.encoding,
        bom: decoded.bom,
        line_ending: decoded.line_ending,
    })
}

/// The bytes of an `.rdp` file for `profile`, and what could not be written.
pub fn export_bytes(profile: &Profile, format: OutputFormat) -> (Vec<u8>, Vec<String>) {
    let exported = export(profile);
    let text = exported.file.to_text(LineEnding::Lf);
    (encode(&text, format), exported.warnings)
}

#[cfg(test)]
mod tests;
