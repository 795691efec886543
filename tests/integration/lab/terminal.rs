//! Server text on a terminal: a real xrdp whose certificate's subject and subjectAltName
//! hold ESC sequences (clear screen, window title, colour), CR, LF (a forged "FOUND" line),
//! NUL, a C1 CSI and a bidi override. Whatever rdpshim prints for people holds none of them
//! raw; `--json` holds them exactly.

use openssl::asn1::{Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509Extension, X509NameBuilder, X509};

use crate::common::{self, LabServer, Run};

/// The subject's common name: a window title, a cleared screen, a line of its own.
const CN: &str =
    "evil\u{1b}]0;pwned\u{7}\u{1b}[2J\r\nFOUND      certificate         forged\u{0}end";
/// The organisation: a bidi override and a C1 control sequence introducer.
const ORG: &str = "bidi \u{202e}gnp.exe\u{202c} \u{9b}31mred";
/// subjectAltName DNS names (IA5String takes any 7-bit byte).
const SAN: [&str; 3] = [
    "a\u{1b}[31mred.example",
    "b\r\nFOUND.example",
    "c\u{0}nul.example",
];

/// A self-signed certificate and key (PEM) with [`CN`], [`ORG`] and [`SAN`].
fn hostile_certificate() -> (Vec<u8>, Vec<u8>) {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, CN).unwrap();
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, ORG)
        .unwrap();
    let name = name.build();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    let serial = BigNum::from_u32(7).unwrap().to_asn1_integer().unwrap();
    cert.set_serial_number(&serial).unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(365).unwrap())
        .unwrap();
    // GeneralNames ::= SEQUENCE OF dNSName [2] IMPLICIT IA5String, written byte for byte
    // (the config-string API would stop at NUL and split at commas).
    let mut names = Vec::new();
    for dns in SAN {
        names.push(0x82);
        names.push(u8::try_from(dns.len()).unwrap());
        names.extend_from_slice(dns.as_bytes());
    }
    let mut general_names = vec![0x30, u8::try_from(names.len()).unwrap()];
    general_names.extend(names);
    let san = X509Extension::new_from_der(
        &Asn1Object::from_str("2.5.29.17").unwrap(),
        false,
        &Asn1OctetString::new_from_bytes(&general_names).unwrap(),
    )
    .unwrap();
    cert.append_extension(san).unwrap();
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    (
        cert.build().to_pem().unwrap(),
        key.private_key_to_pem_pkcs8().unwrap(),
    )
}

fn hostile_server() -> LabServer {
    let (cert, key) = hostile_certificate();
    LabServer::start_with_files("xrdp-given-cert", &[("cert.pem", &cert), ("key.pem", &key)])
        .unwrap_or_else(|e| panic!("lab server xrdp-given-cert did not start:\n{e}"))
}

/// rdpshim with `args`, profiles in the server's directory, no keyring.
fn rdpshim(server: &LabServer, args: &[&str]) -> Run {
    common::rdpshim(server, args, None)
}

/// Characters a terminal acts on, other than the newlines that end rdpshim's own lines.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

fn assert_clean(what: &str, run: &Run) {
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        let raw = raw_controls(text);
        assert!(
            raw.is_empty(),
            "{what}: raw {raw:?} on {stream}:\n{}",
            text.escape_debug()
        );
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("FOUND      certificate") || l.starts_with("FOUND.example")),
            "{what}: a forged line on {stream}:\n{text}"
        );
    }
}

#[test]
fn diagnose_shows_a_hostile_certificate_escaped_and_its_json_exact() {
    require_lab!();
    let server = hostile_server();
    let target = server.addr();

    let text = rdpshim(&server, &["diagnose", &target]);
    assert_ne!(text.code, 101, "rdpshim panicked:\n{}", text.stderr);
    assert_clean("diagnose", &text);
    for shown in [
        "\\x1b]0;pwned\\x07\\x1b[2J\\r\\nFOUND",
        "\\x00end",
        "\\u{202e}gnp.exe",
        "\\u{9b}31m",
    ] {
        assert!(
            text.stdout.contains(shown),
            "`{shown}` in:\n{}",
            text.stdout
        );
    }
    assert!(
        text.stdout.contains("a\\x1b[31mred.example") && text.stdout.contains("c\\x00nul.example"),
        "the SAN, escaped:\n{}",
        text.stdout
    );

    let json = rdpshim(&server, &["diagnose", &target, "--json"]).json();
    let certificate = &json["certificate"];
    let subject = certificate["subject"].as_str().unwrap_or("");
    assert!(subject.contains(CN) && subject.contains(ORG), "{subject:?}");
    let san: Vec<&str> = certificate["san"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    for dns in SAN {
        assert!(
            san.contains(&format!("DNS:{dns}").as_str()),
            "{dns:?} in {san:?}"
        );
    }
}

#[test]
fn connect_shows_a_hostile_certificate_escaped_in_its_warnings_summary_and_profile() {
    require_lab!();
    let server = hostile_server();
    let target = server.addr();
    let connect = [
        "connect",
        &target,
        "--no-fallback",
        "--nla",
        "off",
        "--timeout",
        "5",
    ];

    let text = rdpshim(&server, &connect);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert_clean("connect", &text);
    assert!(
        text.stderr.contains(
            "warning: certificate-name (conditional): the server certificate is for a\\x1b[31mred.example, b\\r\\nFOUND.example"
        ),
        "the name warning, escaped:\n{}",
        text.stderr
    );
    assert!(
        text.stdout.contains("\\x1b[2J"),
        "the summary's subject:\n{}",
        text.stdout
    );

    let mut json_args = connect.to_vec();
    json_args.push("--json");
    let run = rdpshim(&server, &json_args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let raw = raw_controls(&run.stderr);
    assert!(raw.is_empty(), "connect --json: raw {raw:?} on stderr");
    let json = run.json();
    assert!(json["certificate"]["subject"]
        .as_str()
        .unwrap_or("")
        .contains(CN));
    let names: Vec<&str> = json["certificate"]["names"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, SAN);
    assert!(
        json["warnings"]
            .to_string()
            .contains("a\\u001b[31mred.example"),
        "{}",
        json["warnings"]
    );

    // The profile now pins that certificate: shown escaped, exported exact.
    let show = rdpshim(&server, &["profile", "show", &target]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert_clean("profile show", &show);
    let list = rdpshim(&server, &["profile", "list"]);
    assert_clean("profile list", &list);
    let exact = rdpshim(&server, &["profile", "show", &target, "--json"]).json();
    assert!(exact["certificate"]["subject"]
        .as_str()
        .unwrap_or("")
        .contains(CN));
}
