//! Invariant checks for fuzzing, shared by the cargo-fuzz targets in `fuzz/` and the stable
//! in-repo fuzz test (`tests/fuzz_stable.rs`), so both exercise exactly the same code.
//! Each function takes arbitrary bytes and panics only when an invariant breaks; any
//! input this crate refuses must be refused with an error, never a panic.

use crate::export::{freerdp_command, profile_from_json, profile_to_json, FreeRdpVersion};
use crate::model::SCHEMA;
use crate::profile_toml::{parse_profile, profile_to_toml};
use crate::rdpfile::{
    decode, encode, export, import, is_password_property, LineEnding, OutputFormat, RdpFile,
    TextEncoding,
};
use crate::store::file_name::{file_name, parse_file_name};

const NOW: &str = "2026-01-01T00:00:00Z";

/// `.rdp` bytes: decode, parse, re-encode in every format, import, export, re-import.
pub fn check_rdpfile(bytes: &[u8]) {
    let Ok(decoded) = decode(bytes) else {
        return;
    };
    let parsed = RdpFile::parse(&decoded.text);
    for issue in &parsed.issues {
        assert!(issue.line >= 1, "line numbers are 1-based");
    }

    // What was read is written back and read again unchanged, in every encoding. UTF-16
    // without BOM is recognised by its NUL bytes, which only ASCII-heavy text shows (text
    // of U+xx00 characters looks like the other byte order), so it is checked on ASCII only.
    let text = parsed.file.to_text(LineEnding::Lf);
    for encoding in [
        TextEncoding::Utf8,
        TextEncoding::Utf16Le,
        TextEncoding::Utf16Be,
    ] {
        for bom in [false, true] {
            if !bom && encoding != TextEncoding::Utf8 && !text.is_ascii() {
                continue;
            }
            let format = OutputFormat {
                encoding,
                bom,
                line_ending: LineEnding::CrLf,
            };
            let again = decode(&encode(&text, format)).expect("our own output decodes");
            let reparsed = RdpFile::parse(&again.text);
            assert!(reparsed.issues.is_empty(), "{:?}", reparsed.issues);
            assert_eq!(reparsed.file, parsed.file, "re-read after {format:?}");
        }
    }

    let Ok(imported) = import(&parsed.file, NOW) else {
        return;
    };
    let first = export(&imported.profile);
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    assert_no_password(&first.file);
    let back = import(&first.file, NOW).expect("an export imports");
    assert_eq!(back.profile.port, imported.profile.port);
    let second = export(&back.profile);
    assert_eq!(
        second.file, first.file,
        "export(import(export(x))) == export(x)"
    );
    check_profile_value(&imported.profile);
}

/// Profile file bytes: parse; a parsed profile survives TOML and JSON round trips, and
/// every export of it works.
pub fn check_profile_toml(bytes: &[u8]) {
    let Ok(profile) = parse_profile(bytes) else {
        return;
    };
    assert!(profile.schema >= 1 && profile.schema <= SCHEMA);
    let text = profile_to_toml(&profile).expect("a parsed profile serializes");
    let back = parse_profile(text.as_bytes()).expect("our own TOML parses");
    assert_eq!(back, profile, "TOML round trip");
    check_profile_value(&profile);
}

fn check_profile_value(profile: &crate::model::Profile) {
    let json = profile_to_json(profile);
    assert_eq!(
        &profile_from_json(&json).expect("our own JSON parses"),
        profile
    );

    let exported = export(profile);
    assert_no_password(&exported.file);
    let text = exported.file.to_text(LineEnding::CrLf);
    let reparsed = RdpFile::parse(&text);
    assert!(reparsed.issues.is_empty(), "{:?}", reparsed.issues);
    assert_eq!(reparsed.file, exported.file);

    for version in [FreeRdpVersion::V2, FreeRdpVersion::V3] {
        let command = freerdp_command(profile, version);
        assert!(!command.argv.iter().any(|a| a.starts_with("/p:")));
        let _ = command.shell_line();
    }

    let mut limited = profile.clone();
    limited.enforce_limits();
    assert!(limited.addresses.len() <= crate::model::MAX_ADDRESSES);
    assert!(limited.outcomes.len() <= crate::model::MAX_OUTCOMES);

    if let Ok(name) = file_name(&profile.host, profile.port) {
        assert!(!name.contains(['/', '\\', ':', '\0']), "{name}");
        let (host, port) = parse_file_name(&name).expect("file names parse back");
        assert_eq!(port, profile.port);
        assert_eq!(file_name(&host, port).as_deref(), Ok(name.as_str()));
    }
}

fn assert_no_password(file: &RdpFile) {
    for property in file.properties() {
        assert!(
            !is_password_property(property.name()),
            "password property written: {property}"
        );
    }
}
