//! Whole-file tests: bytes as mstsc writes them in, profiles out, and back.

use super::*;
use crate::model::{Dial, Winning};

const NOW: &str = "2026-11-21T12:00:00Z";

/// A file as mstsc 10.0 "Save As" writes it (abridged), with a saved password blob.
const MSTSC_SAMPLE: &str = "screen mode id:i:2\r\n\
use multimon:i:0\r\n\
desktopwidth:i:2560\r\n\
desktopheight:i:1440\r\n\
session bpp:i:32\r\n\
winposstr:s:0,1,0,0,800,600\r\n\
compression:i:1\r\n\
keyboardhook:i:2\r\n\
audiocapturemode:i:0\r\n\
videoplaybackmode:i:1\r\n\
connection type:i:7\r\n\
networkautodetect:i:1\r\n\
bandwidthautodetect:i:1\r\n\
displayconnectionbar:i:1\r\n\
enableworkspacereconnect:i:0\r\n\
disable wallpaper:i:0\r\n\
allow font smoothing:i:0\r\n\
allow desktop composition:i:0\r\n\
disable full window drag:i:1\r\n\
disable menu anims:i:1\r\n\
disable themes:i:0\r\n\
disable cursor setting:i:0\r\n\
bitmapcachepersistenable:i:1\r\n\
full address:s:rds01.corp.example:3390\r\n\
audiomode:i:0\r\n\
redirectprinters:i:1\r\n\
redirectcomports:i:0\r\n\
redirectsmartcards:i:1\r\n\
redirectwebauthn:i:1\r\n\
redirectclipboard:i:1\r\n\
redirectposdevices:i:0\r\n\
autoreconnection enabled:i:1\r\n\
authentication level:i:2\r\n\
prompt for credentials:i:0\r\n\
negotiate security layer:i:1\r\n\
remoteapplicationmode:i:0\r\n\
alternate shell:s:\r\n\
shell working directory:s:\r\n\
gatewayhostname:s:\r\n\
gatewayusagemethod:i:4\r\n\
gatewaycredentialssource:i:4\r\n\
gatewayprofileusagemethod:i:0\r\n\
promptcredentialonce:i:0\r\n\
gatewaybrokeringtype:i:0\r\n\
use redirection server name:i:0\r\n\
rdgiskdcproxy:i:0\r\n\
kdcproxyname:s:\r\n\
enablerdsaadauth:i:0\r\n\
username:s:CORP\\alice\r\n\
password 51:b:01000000D08C9DDF0115D1118C7A00C04FC297EB01000000\r\n";

fn utf16le_bom(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    bytes
}

#[test]
fn mstsc_sample_imports() {
    let bytes = utf16le_bom(MSTSC_SAMPLE);
    assert_eq!(&bytes[..6], &[0xFF, 0xFE, b's', 0, b'c', 0]);
    let report = import_bytes(&bytes, NOW).unwrap();
    assert_eq!(
        (report.encoding, report.bom, report.line_ending),
        (TextEncoding::Utf16Le, true, LineEnding::CrLf)
    );
    let p = &report.profile;
    assert_eq!((p.host.as_str(), p.port), ("rds01.corp.example", 3390));
    assert_eq!(p.username.as_deref(), Some("alice"));
    assert_eq!(p.domain.as_deref(), Some("CORP"));
    assert_eq!(report.issues.len(), 1);
    assert_eq!(report.issues[0].line, 50);
    assert!(report.issues[0].reason.to_string().contains("password 51"));
    assert!(p.rdp_extra.keys().all(|k| !is_password_property(k)));
    assert_eq!(p.rdp_extra["desktopwidth"], "i:2560");
    assert_eq!(p.rdp_extra["winposstr"], "s:0,1,0,0,800,600");
    assert_eq!(p.rdp_extra["redirectprinters"], "i:1");
    assert!(!p.rdp_extra.contains_key("session bpp"), "default dropped");
    assert!(!p.rdp_extra.contains_key("full address"));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    // Exported again, everything the user had comes back, the password does not.
    for format in [OutputFormat::MSTSC, OutputFormat::UTF8_LF] {
        let (out, warnings) = export_bytes(p, format);
        assert!(warnings.is_empty());
        let (parsed, _) = read(&out).unwrap();
        assert!(parsed.issues.is_empty());
        let original = RdpFile::parse(MSTSC_SAMPLE).file;
        for property in original.properties() {
            if property.name() == "username" {
                continue;
            }
            assert_eq!(
                parsed.file.get(property.name()),
                Some(property),
                "{property}"
            );
        }
        assert_eq!(parsed.file.get_str("username"), Some("alice"));
        assert_eq!(parsed.file.get_str("domain"), Some("CORP"));
        let text = decode(&out).unwrap().text.to_ascii_lowercase();
        assert!(!text.contains("password"), "no password property written");
    }
}

#[test]
fn round_trip_in_both_encodings() {
    let mut p = Profile::new("server.example", 3390, NOW);
    p.username = Some("j\u{fc}rgen".into());
    p.domain = Some("CORP".into());
    p.rdp_extra.insert("smart sizing".into(), "i:1".into());
    p.rdp_extra.insert("desktopwidth".into(), "i:1280".into());
    p.rdp_extra
        .insert("alternate shell".into(), "s:C:\\Tools\\app.exe /x:1".into());
    p.rdp_extra.insert("custom blob".into(), "b:00FF".into());
    for format in [
        OutputFormat::MSTSC,
        OutputFormat::UTF8_LF,
        OutputFormat::UTF8_CRLF,
    ] {
        let (bytes, warnings) = export_bytes(&p, format);
        assert!(warnings.is_empty());
        let report = import_bytes(&bytes, NOW).unwrap();
        assert!(report.issues.is_empty() && report.warnings.is_empty());
        assert_eq!(report.profile, p, "{format:?}");
        assert_eq!(report.line_ending, format.line_ending);
    }
}

#[test]
fn round_trip_with_a_learned_configuration() {
    let mut p = Profile::new("server.example", 3389, NOW);
    p.record_success(
        Winning {
            dial: Dial::Ip,
            address: Some("[2001:db8::7]:3389".into()),
            server_name: "server.example".into(),
            ip_as_server_name: false,
            nla: false,
            tls_stack: "openssl".into(),
            tls_version: Some("1.0".into()),
            ciphers: None,
            negotiated_tls_version: Some("1.0".into()),
            negotiated_cipher: None,
            udp: false,
            grade: "no-nla".into(),
            fallbacks: vec!["nla-off".into()],
            gateway: None,
        },
        NOW,
    );
    for format in [OutputFormat::MSTSC, OutputFormat::UTF8_LF] {
        let (bytes, _) = export_bytes(&p, format);
        let back = import_bytes(&bytes, NOW).unwrap().profile;
        assert_eq!((back.host.as_str(), back.port), ("2001:db8::7", 3389));
        assert_eq!(back.rdp_extra["enablecredsspsupport"], "i:0");
        assert_eq!(export_bytes(&back, format).0, bytes);
    }
}

#[test]
fn utf8_with_and_without_bom_lf_and_crlf_import_alike() {
    let text = "full address:s:h\u{e9}te\nusername:s:bob\n";
    let variants: Vec<Vec<u8>> = vec![
        text.as_bytes().to_vec(),
        text.replace('\n', "\r\n").into_bytes(),
        [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat(),
        encode(text, OutputFormat::MSTSC),
        encode(
            text,
            OutputFormat {
                encoding: TextEncoding::Utf16Be,
                bom: true,
                line_ending: LineEnding::Lf,
            },
        ),
    ];
    for bytes in variants {
        let p = import_bytes(&bytes, NOW).unwrap().profile;
        assert_eq!(p.host, "h\u{e9}te");
        assert_eq!(p.username.as_deref(), Some("bob"));
    }
}

#[test]
fn truncated_binary_and_enormous_inputs_give_clear_errors() {
    let mut cut = utf16le_bom(MSTSC_SAMPLE);
    cut.truncate(cut.len() - 1);
    let err = import_bytes(&cut, NOW).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");

    // Cut on an even byte: decodes, the last line is just shorter.
    let mut cut_even = utf16le_bom(MSTSC_SAMPLE);
    cut_even.truncate((cut_even.len() / 2) & !1);
    let report = import_bytes(&cut_even, NOW);
    assert!(report.is_ok() || matches!(report, Err(RdpFileError::Import(_))));

    let binary: Vec<u8> = (0..2048u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let err = import_bytes(&binary, NOW).unwrap_err();
    assert!(matches!(err, RdpFileError::Decode(_)), "{err}");

    let png_like = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    let err = import_bytes(png_like, NOW).unwrap_err();
    assert!(matches!(err, RdpFileError::Decode(_)), "{err}");

    let enormous = "x:s:y\n".repeat(200_000).into_bytes();
    let err = import_bytes(&enormous, NOW).unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");

    let err = import_bytes(b"", NOW).unwrap_err();
    assert_eq!(err, RdpFileError::Import(ImportError::NoAddress));
    assert!(err.to_string().contains("full address"));
}

#[test]
fn no_password_property_is_ever_written() {
    let mut p = Profile::new("h", 3389, NOW);
    for name in [
        "password 51",
        "Password",
        "clear password",
        "gatewaypassword",
    ] {
        p.rdp_extra.insert(name.into(), "s:secret".into());
    }
    p.username = Some("u\npassword 51:b:00".into());
    for format in [OutputFormat::MSTSC, OutputFormat::UTF8_LF] {
        let (bytes, warnings) = export_bytes(&p, format);
        let text = decode(&bytes).unwrap().text.to_ascii_lowercase();
        assert!(!text.contains("password"), "{text}");
        assert!(!text.contains("secret"));
        assert_eq!(warnings.len(), 5, "{warnings:?}");
    }
}
