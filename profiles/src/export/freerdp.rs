//! A FreeRDP command line that reproduces a profile's winning configuration, for users
//! who want a plain FreeRDP client or a script.
//!
//! Spellings differ between FreeRDP 2 (checked against `xfreerdp` 2.11 here) and FreeRDP 3
//! (from its `client/common/cmdline.h`; not runnable here):
//!
//! | need                     | FreeRDP 2                    | FreeRDP 3                         |
//! |--------------------------|------------------------------|-----------------------------------|
//! | old TLS / weak suites    | `/tls-seclevel:0`            | `/tls:seclevel:0`                 |
//! | exact TLS version        | `+enforce-tlsv1_2` (1.2 only)| `/tls:enforce:1.0` (ssl3..1.3)    |
//! | OpenSSL cipher list      | `/tls-ciphers:LIST`          | `/tls:ciphers:LIST`               |
//! | TLS/CredSSP name (SNI)   | (none)                       | `/server-name:NAME`               |
//!
//! FreeRDP 3 (since 3.x) defaults to TLS 1.2 at security level 2, so a server reached with
//! TLS 1.0/1.1 needs `enforce` as well as `seclevel:0`; FreeRDP 2 negotiates down to 1.0
//! by itself once the security level is 0.
//!
//! Certificates: with a pin, `/cert:deny,fingerprint:sha256:AB:CD:...` accepts exactly the
//! pinned certificate and refuses, without asking, one that neither matches nor validates
//! against the CA store: the pin's meaning carries over (FreeRDP compares the SHA-256 of
//! the DER, colon-separated, case-insensitively: the form rdpshim stores). Without a pin,
//! `/cert:tofu` (trust on first use, refuse a later change). Never `/cert:ignore`, which
//! would accept any certificate every time.
//!
//! No password: there is no `/p:`. FreeRDP asks for it when the server needs it; a password
//! in argv is readable by every local user through the process list. (`rdpshim open` adds
//! `/from-stdin:force` and writes it to FreeRDP's standard input.)
//!
//! NLA off is `/sec:tls`, which selects TLS alone in both versions: observed with 2.11, the
//! NLA-only server then answers HYBRID_REQUIRED_BY_SERVER, so `-sec-nla` would add nothing.
//!
//! Display settings are carried only when the profile has them (an imported `.rdp` file's
//! `desktopwidth`/`desktopheight`, `screen mode id`, `session bpp`, `use multimon`, kept in
//! `rdp_extra` when they differ from the export defaults): `/size:WxH`, `/f`, `/bpp:N`,
//! `/multimon`. Nothing else is invented: FreeRDP's own defaults apply.

use super::shell_quote;
use crate::model::{Dial, Profile, Winning};
use crate::rdpfile::address::join_host_port;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FreeRdpVersion {
    V2,
    V3,
}

impl FreeRdpVersion {
    /// The X11 client's name: `xfreerdp` for 2.x; `xfreerdp3` for 3.x as Debian and
    /// Ubuntu install it beside 2.x (an upstream build names it `xfreerdp`; replace
    /// `argv[0]` for `sdl-freerdp3` or `wlfreerdp3`).
    pub fn program(self) -> &'static str {
        match self {
            Self::V2 => "xfreerdp",
            Self::V3 => "xfreerdp3",
        }
    }
}

/// A command line and what it could not express.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeRdpCommand {
    pub argv: Vec<String>,
    /// For the user: settings FreeRDP cannot take, and what FreeRDP will ask for.
    pub notes: Vec<String>,
}

impl FreeRdpCommand {
    /// One line for a POSIX shell, each argument quoted as needed.
    pub fn shell_line(&self) -> String {
        shell_quote::join(&self.argv)
    }
}

/// The FreeRDP `version` command line that connects as `profile` last succeeded.
pub fn freerdp_command(profile: &Profile, version: FreeRdpVersion) -> FreeRdpCommand {
    let mut argv = vec![version.program().to_owned()];
    let mut notes = Vec::new();

    let (host, port) = profile.dial_target();
    argv.push(format!("/v:{}", join_host_port(&host, port)));
    if let Some(user) = profile.username.as_deref().filter(|u| !u.is_empty()) {
        argv.push(format!("/u:{user}"));
    }
    if let Some(domain) = profile.domain.as_deref().filter(|d| !d.is_empty()) {
        argv.push(format!("/d:{domain}"));
    }

    match &profile.winning {
        Some(winning) => {
            server_name(winning, &host, version, &mut argv, &mut notes);
            argv.push(if winning.nla { "/sec:nla" } else { "/sec:tls" }.to_owned());
            tls(winning, version, &mut argv, &mut notes);
        }
        None => notes.push(
            "no connection has succeeded yet: FreeRDP negotiates security and TLS itself".into(),
        ),
    }

    // The RD Gateway goes here when profiles carry one (the gateway issue): FreeRDP 2
    // `/g:HOST[:PORT] /gu:USER /gd:DOMAIN`, FreeRDP 3 `/gateway:g:HOST[:PORT],u:USER,d:DOMAIN`,
    // before the display settings so the server's options stay together.

    display(profile, &mut argv);
    argv.push(certificate_option(profile, &mut notes));
    notes.push(
        "no password on the command line: FreeRDP asks for it (a password in argv is visible \
         to every local user)"
            .into(),
    );
    FreeRdpCommand { argv, notes }
}

fn server_name(
    winning: &Winning,
    dialled: &str,
    version: FreeRdpVersion,
    argv: &mut Vec<String>,
    notes: &mut Vec<String>,
) {
    let name = winning.server_name.trim();
    let differs = winning.dial == Dial::Ip
        && !winning.ip_as_server_name
        && !name.is_empty()
        && !name.eq_ignore_ascii_case(dialled);
    if !differs {
        return;
    }
    match version {
        FreeRdpVersion::V3 => argv.push(format!("/server-name:{name}")),
        FreeRdpVersion::V2 => notes.push(format!(
            "FreeRDP 2 cannot dial {dialled} while naming the server {name} for TLS and \
             CredSSP (FreeRDP 3 has /server-name:); it uses the address as the name"
        )),
    }
}

fn tls(
    winning: &Winning,
    version: FreeRdpVersion,
    argv: &mut Vec<String>,
    notes: &mut Vec<String>,
) {
    let openssl = winning.tls_stack.eq_ignore_ascii_case("openssl");
    let pinned = winning.tls_version.as_deref().map(str::trim);
    let negotiated = winning.negotiated_tls_version.as_deref().map(str::trim);
    let effective = pinned.or(negotiated);
    let below_1_2 = matches!(effective, Some("1.0" | "1.1"));
    let seclevel_0 = openssl || below_1_2 || winning.grade.eq_ignore_ascii_case("legacy");
    let ciphers = winning
        .ciphers
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let openssl_ciphers = match ciphers {
        Some(list) if openssl => Some(list.replace(',', ":")),
        Some(list) => {
            notes.push(format!(
                "the pinned suites `{list}` are rustls names; FreeRDP's defaults include them"
            ));
            None
        }
        None => None,
    };

    match version {
        FreeRdpVersion::V2 => {
            if seclevel_0 {
                argv.push("/tls-seclevel:0".into());
            }
            if let Some(list) = openssl_ciphers {
                argv.push(format!("/tls-ciphers:{list}"));
            }
            match pinned {
                Some("1.2") => argv.push("+enforce-tlsv1_2".into()),
                Some(v @ ("1.0" | "1.1" | "1.3")) => notes.push(format!(
                    "FreeRDP 2 cannot pin TLS {v}; it negotiates the version itself"
                )),
                _ => {}
            }
        }
        FreeRdpVersion::V3 => {
            let mut options = Vec::new();
            if seclevel_0 {
                options.push("seclevel:0".to_owned());
            }
            // FreeRDP 3 starts at TLS 1.2: an older version must be named, a pin kept.
            let enforce = match pinned {
                Some(v @ ("1.0" | "1.1" | "1.2" | "1.3")) => Some(v),
                _ if below_1_2 => effective,
                _ => None,
            };
            if let Some(v) = enforce {
                options.push(format!("enforce:{v}"));
            }
            if let Some(list) = openssl_ciphers {
                options.push(format!("ciphers:{list}"));
            }
            if !options.is_empty() {
                argv.push(format!("/tls:{}", options.join(",")));
            }
        }
    }
}

/// The display settings the profile has (see the module doc); nothing when it has none.
fn display(profile: &Profile, argv: &mut Vec<String>) {
    let size = |name| {
        profile
            .rdp_extra_int(name)
            .filter(|v| (200..=16384).contains(v))
    };
    if let (Some(width), Some(height)) = (size("desktopwidth"), size("desktopheight")) {
        argv.push(format!("/size:{width}x{height}"));
    }
    if profile.rdp_extra_int("screen mode id") == Some(2) {
        argv.push("/f".into());
    }
    if let Some(bpp) = profile
        .rdp_extra_int("session bpp")
        .filter(|b| [8, 15, 16, 24, 32].contains(b))
    {
        argv.push(format!("/bpp:{bpp}"));
    }
    if profile.rdp_extra_int("use multimon") == Some(1) {
        argv.push("/multimon".into());
    }
}

fn certificate_option(profile: &Profile, notes: &mut Vec<String>) -> String {
    let Some(pin) = &profile.certificate else {
        return "/cert:tofu".into();
    };
    match colon_hex(&pin.sha256) {
        Some(fingerprint) => format!("/cert:deny,fingerprint:sha256:{fingerprint}"),
        None => {
            notes.push(format!(
                "the pinned fingerprint `{}` is not a SHA-256; using trust on first use",
                pin.sha256
            ));
            "/cert:tofu".into()
        }
    }
}

/// `AB:CD:...` (upper case) from a SHA-256 written with or without `:`/spaces.
fn colon_hex(fingerprint: &str) -> Option<String> {
    let hex: String = fingerprint
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let pairs: Vec<String> = hex
        .to_ascii_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    Some(pairs.join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PinnedCertificate;

    const NOW: &str = "2026-11-21T12:00:00Z";
    const PIN: &str = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";

    fn legacy() -> Profile {
        let mut p = Profile::new("old.example", 3390, NOW);
        p.username = Some("alice".into());
        p.domain = Some("CORP".into());
        p.record_success(
            Winning {
                dial: Dial::Ip,
                address: Some("192.0.2.5:3390".into()),
                server_name: "old.example".into(),
                ip_as_server_name: false,
                nla: true,
                tls_stack: "openssl".into(),
                tls_version: Some("1.0".into()),
                ciphers: Some("ECDHE-RSA-AES128-SHA,AES128-SHA".into()),
                negotiated_tls_version: Some("1.0".into()),
                negotiated_cipher: Some("ECDHE-RSA-AES128-SHA".into()),
                udp: false,
                grade: "legacy".into(),
                fallbacks: vec!["tls-version-downgrade".into()],
            },
            NOW,
        );
        p.certificate = Some(PinnedCertificate {
            sha256: PIN.to_ascii_lowercase(),
            subject: "CN=old".into(),
            issuer: "CN=old".into(),
            not_before: NOW.into(),
            not_after: NOW.into(),
        });
        p
    }

    #[test]
    fn freerdp2_legacy() {
        let cmd = freerdp_command(&legacy(), FreeRdpVersion::V2);
        assert_eq!(
            cmd.argv,
            [
                "xfreerdp",
                "/v:192.0.2.5:3390",
                "/u:alice",
                "/d:CORP",
                "/sec:nla",
                "/tls-seclevel:0",
                "/tls-ciphers:ECDHE-RSA-AES128-SHA:AES128-SHA",
                &format!("/cert:deny,fingerprint:sha256:{PIN}"),
            ]
        );
        assert!(cmd.notes.iter().any(|n| n.contains("/server-name")));
        assert!(cmd.notes.iter().any(|n| n.contains("cannot pin TLS 1.0")));
        assert!(!cmd.argv.iter().any(|a| a.starts_with("/p:")));
    }

    #[test]
    fn freerdp3_legacy() {
        let cmd = freerdp_command(&legacy(), FreeRdpVersion::V3);
        assert_eq!(
            cmd.argv,
            [
                "xfreerdp3",
                "/v:192.0.2.5:3390",
                "/u:alice",
                "/d:CORP",
                "/server-name:old.example",
                "/sec:nla",
                "/tls:seclevel:0,enforce:1.0,ciphers:ECDHE-RSA-AES128-SHA:AES128-SHA",
                &format!("/cert:deny,fingerprint:sha256:{PIN}"),
            ]
        );
        assert_eq!(
            cmd.shell_line(),
            format!(
                "xfreerdp3 /v:192.0.2.5:3390 /u:alice /d:CORP /server-name:old.example /sec:nla \
                 /tls:seclevel:0,enforce:1.0,ciphers:ECDHE-RSA-AES128-SHA:AES128-SHA \
                 /cert:deny,fingerprint:sha256:{PIN}"
            )
        );
    }

    #[test]
    fn modern_and_fresh_profiles() {
        let mut p = Profile::new("::1", 3389, NOW);
        let cmd = freerdp_command(&p, FreeRdpVersion::V3);
        assert_eq!(cmd.argv, ["xfreerdp3", "/v:[::1]", "/cert:tofu"]);
        assert_eq!(cmd.shell_line(), "xfreerdp3 '/v:[::1]' /cert:tofu");

        p.record_success(
            Winning {
                dial: Dial::Name,
                address: Some("[::1]:3389".into()),
                server_name: "::1".into(),
                ip_as_server_name: true,
                nla: false,
                tls_stack: "rustls".into(),
                tls_version: None,
                ciphers: None,
                negotiated_tls_version: Some("1.3".into()),
                negotiated_cipher: Some("TLS13_AES_256_GCM_SHA384".into()),
                udp: false,
                grade: "no-nla".into(),
                fallbacks: vec!["nla-off".into()],
            },
            NOW,
        );
        for version in [FreeRdpVersion::V2, FreeRdpVersion::V3] {
            let cmd = freerdp_command(&p, version);
            assert_eq!(&cmd.argv[1..], ["/v:[::1]", "/sec:tls", "/cert:tofu"]);
        }
    }

    #[test]
    fn pinned_tls_1_2() {
        let mut p = legacy();
        let w = p.winning.as_mut().unwrap();
        w.tls_stack = "rustls".into();
        w.tls_version = Some("1.2".into());
        w.negotiated_tls_version = Some("1.2".into());
        w.ciphers = Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into());
        w.grade = "tls12".into();
        w.dial = Dial::Name;
        let v2 = freerdp_command(&p, FreeRdpVersion::V2);
        assert_eq!(
            &v2.argv[1..6],
            [
                "/v:old.example:3390",
                "/u:alice",
                "/d:CORP",
                "/sec:nla",
                "+enforce-tlsv1_2"
            ]
        );
        assert!(v2.notes.iter().any(|n| n.contains("rustls names")));
        let v3 = freerdp_command(&p, FreeRdpVersion::V3);
        assert!(
            v3.argv.contains(&"/tls:enforce:1.2".to_owned()),
            "{:?}",
            v3.argv
        );
    }

    #[test]
    fn display_settings_the_profile_has_are_carried() {
        let mut p = legacy();
        let plain = freerdp_command(&p, FreeRdpVersion::V2);
        assert!(!plain
            .argv
            .iter()
            .any(|a| a.starts_with("/size") || a == "/f"));
        p.rdp_extra.insert("desktopwidth".into(), "i:1280".into());
        p.rdp_extra.insert("DesktopHeight".into(), "i:800".into());
        p.rdp_extra.insert("screen mode id".into(), "i:2".into());
        p.rdp_extra.insert("session bpp".into(), "i:16".into());
        p.rdp_extra.insert("use multimon".into(), "i:1".into());
        for version in [FreeRdpVersion::V2, FreeRdpVersion::V3] {
            let cmd = freerdp_command(&p, version);
            let n = cmd.argv.len();
            assert_eq!(
                &cmd.argv[n - 5..n - 1],
                ["/size:1280x800", "/f", "/bpp:16", "/multimon"],
                "{version:?}"
            );
        }
        p.rdp_extra.insert("DesktopHeight".into(), "i:99999".into());
        p.rdp_extra.insert("session bpp".into(), "s:16".into());
        let odd = freerdp_command(&p, FreeRdpVersion::V3);
        assert!(
            !odd.argv
                .iter()
                .any(|a| a.starts_with("/size") || a.starts_with("/bpp")),
            "{:?}",
            odd.argv
        );
    }

    #[test]
    fn bad_pin_falls_back_to_tofu() {
        let mut p = legacy();
        p.certificate.as_mut().unwrap().sha256 = "AB:CD".into();
        let cmd = freerdp_command(&p, FreeRdpVersion::V2);
        assert_eq!(cmd.argv.last().unwrap(), "/cert:tofu");
        assert!(cmd.notes.iter().any(|n| n.contains("not a SHA-256")));
    }
}
