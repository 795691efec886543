//! `host:port` -> the profile's file name, safe on Linux, macOS and Windows.
//!
//! The mapping, `<host>_<port>.toml`:
//! - IP literals are written canonically (`127.0.0.1`; `::1`, `[::1]` and `0:0::1` are one
//!   host). IPv6 goes in brackets with `:` (not allowed in Windows names) as `-`:
//!   `::1` port 3389 -> `[--1]_3389.toml`.
//! - Names are lower-cased (DNS is case-insensitive, so `Server` and `server` share a
//!   profile); `a-z 0-9 . - _` are kept and every other byte of the UTF-8 is `%XX`
//!   (upper-case hex): path separators, `:`, spaces, `%` itself, non-ASCII. A leading `.`
//!   is escaped too (no hidden files), and so is the first letter of a Windows device name
//!   before a dot (`con.corp` -> `%63on.corp_3389.toml`; Windows treats `CON.anything` as the
//!   console device).
//! - The port follows the last `_`, so `_` in a (NetBIOS) name needs no escape.
//! - Surrounding whitespace is ignored.
//!
//! It is injective up to the intended foldings (case, IP spelling): `[` only starts an IPv6
//! literal because a `[` in a name is escaped, `-` inside brackets only stands for `:`,
//! and `%` only starts an escape. [`parse_file_name`] inverts it; the tests check that.

use std::net::{IpAddr, Ipv6Addr};

/// The longest encoded host accepted: the file name plus the longest sidecar suffix
/// (`.broken-<timestamp>`, temp-file decorations) stays under the 255-byte limit of common
/// file systems.
pub const MAX_ENCODED_HOST: usize = 200;

const WINDOWS_DEVICE_NAMES: [&str; 24] = [
    "con", "prn", "aux", "nul", "com0", "com1", "com2", "com3", "com4", "com5", "com6", "com7",
    "com8", "com9", "lpt0", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// Why a host cannot name a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostNameProblem {
    Empty,
    TooLong,
}

impl std::fmt::Display for HostNameProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => f.write_str("the host is empty"),
            Self::TooLong => write!(
                f,
                "the host is too long for a file name (over {MAX_ENCODED_HOST} bytes once escaped)"
            ),
        }
    }
}

/// `<encoded host>_<port>` without extension.
pub fn file_stem(host: &str, port: u16) -> Result<String, HostNameProblem> {
    let encoded = encode_host(host)?;
    Ok(format!("{encoded}_{port}"))
}

/// `<encoded host>_<port>.toml`.
pub fn file_name(host: &str, port: u16) -> Result<String, HostNameProblem> {
    Ok(format!("{}.toml", file_stem(host, port)?))
}

/// The canonical host and port a file name stands for, or `None` if the name is not one
/// [`file_name`] produces.
pub fn parse_file_name(name: &str) -> Option<(String, u16)> {
    let stem = name.strip_suffix(".toml")?;
    let (encoded, port) = stem.rsplit_once('_')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u16 = port.parse().ok()?;
    let host = decode_host(encoded)?;
    // Only names the encoder would produce (rejects e.g. `%41` for `a`, or upper case).
    (encode_host(&host).ok()? == encoded).then_some((host, port))
}

fn encode_host(host: &str) -> Result<String, HostNameProblem> {
    let trimmed = host.trim();
    if trimmed.is_empty() {
        return Err(HostNameProblem::Empty);
    }
    let unbracketed = trimmed
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(trimmed);
    let encoded = match unbracketed.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => format!("[{}]", v6.to_string().replace(':', "-")),
        Err(_) => encode_name(trimmed),
    };
    if encoded.len() > MAX_ENCODED_HOST {
        return Err(HostNameProblem::TooLong);
    }
    Ok(encoded)
}

fn encode_name(host: &str) -> String {
    let lower = host.to_lowercase();
    let first_label = lower.split('.').next().unwrap_or("");
    let is_device = lower.contains('.') && WINDOWS_DEVICE_NAMES.contains(&first_label);
    let mut out = String::with_capacity(lower.len());
    for (i, b) in lower.bytes().enumerate() {
        let plain = b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_');
        let escape = !plain || (i == 0 && (b == b'.' || is_device));
        if escape {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

fn decode_host(encoded: &str) -> Option<String> {
    if let Some(inner) = encoded.strip_prefix('[').and_then(|e| e.strip_suffix(']')) {
        let v6: Ipv6Addr = inner.replace('-', ":").parse().ok()?;
        return Some(v6.to_string());
    }
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = encoded.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples() {
        let cases = [
            ("server.example", 3389, "server.example_3389.toml"),
            ("Server.EXAMPLE", 3390, "server.example_3390.toml"),
            ("::1", 3389, "[--1]_3389.toml"),
            ("[::1]", 3389, "[--1]_3389.toml"),
            ("0:0::1", 3389, "[--1]_3389.toml"),
            ("fe80::1:2", 1, "[fe80--1-2]_1.toml"),
            ("127.0.0.1", 3389, "127.0.0.1_3389.toml"),
            ("my_pc", 3389, "my_pc_3389.toml"),
            ("a/b\\c:d", 3389, "a%2Fb%5Cc%3Ad_3389.toml"),
            ("..", 3389, "%2E._3389.toml"),
            ("con.corp", 3389, "%63on.corp_3389.toml"),
            ("con", 3389, "con_3389.toml"),
            ("100%", 3389, "100%25_3389.toml"),
            ("Größe", 3389, "gr%C3%B6%C3%9Fe_3389.toml"),
            ("[x]", 3389, "%5Bx%5D_3389.toml"),
        ];
        for (host, port, want) in cases {
            assert_eq!(file_name(host, port).unwrap(), want, "{host}");
        }
    }

    #[test]
    fn names_never_contain_separators_or_reserved_characters() {
        for host in [
            "a/b",
            "..\\..\\x",
            "x:y",
            "a b",
            "a*b?c<d>e|f\"g",
            "\0",
            "\u{7f}",
        ] {
            let name = file_name(host, 3389).unwrap();
            assert!(
                !name.contains(['/', '\\', ':', '*', '?', '"', '<', '>', '|', ' ', '\0']),
                "{name}"
            );
            assert!(!name.starts_with('.'));
        }
    }

    #[test]
    fn empty_and_huge_hosts_are_refused() {
        assert_eq!(file_name("", 1), Err(HostNameProblem::Empty));
        assert_eq!(file_name("  ", 1), Err(HostNameProblem::Empty));
        assert_eq!(file_name(&"é".repeat(40), 1), Err(HostNameProblem::TooLong));
    }

    #[test]
    fn parse_inverts_file_name() {
        let hosts = [
            "server.example",
            "my_pc",
            "a/b\\c:d",
            "con.corp",
            "100%",
            "gr\u{f6}\u{df}e",
            "[x]",
            ".hidden",
            "x_1",
            "fe80::1%eth0",
        ];
        for host in hosts {
            let name = file_name(host, 4000).unwrap();
            let (back, port) = parse_file_name(&name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(port, 4000);
            assert_eq!(back, host.to_lowercase(), "{name}");
        }
        assert_eq!(
            parse_file_name("[--1]_3389.toml"),
            Some(("::1".into(), 3389))
        );
        for bad in [
            "x.toml",
            "x_.toml",
            "x_99999.toml",
            "X_1.toml",
            "%41_1.toml",
            "x_1.lock",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn distinct_hosts_get_distinct_names() {
        let hosts = [
            "a-b", "a:b", "a%3Ab", "a_b", "a.b", "[a]", "%5Ba%5D", "::1", "--1", "[--1]", "a b",
            "a%20b", "con.x", "%63on.x", "c0n.x",
        ];
        let mut names: Vec<String> = hosts.iter().map(|h| file_name(h, 1).unwrap()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), hosts.len(), "{names:?}");
    }
}
