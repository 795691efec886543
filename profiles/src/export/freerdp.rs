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
//! | RD Gateway               | `/g:GW[:PORT] /gu:U /gd:D`   | `/gateway:g:GW[:PORT],u:U,d:D`    |
//! | its transport            | `/gt:http[,no-websockets]`   | `type:http[,no-websockets]`       |
//!
//! The gateway (checked against `xfreerdp /help` 2.11; FreeRDP 3 from its `cmdline.h`) is
//! written when the last successful connection went through it, or, before any success,
//! when the profile says to use it. Without `/gu:` FreeRDP uses the host's credentials for
//! the gateway, as rdpshim does. FreeRDP applies its TLS settings to the gateway's HTTPS
//! too, so a legacy TLS gateway gets the same `/tls-seclevel:0` (`/tls:seclevel:0,enforce`)
//! as a legacy server, and a pinned gateway certificate is one more `fingerprint:` in
//! `/cert:`.
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
use crate::model::{Dial, Gateway, Profile, Winning, DEFAULT_GATEWAY_PORT};
use crate::rdpfile::address::{bracket_if_ipv6, join_host_port};

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

    let gateway = through_gateway(profile, &mut notes);
    if let Some(gateway) = gateway {
        gateway_options(gateway, profile.winning.as_ref(), version, &mut argv);
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

    display(profile, &mut argv);
    argv.push(certificate_option(profile, gateway, &mut notes));
    notes.push(
        "no password on the command line: FreeRDP asks for it (a password in argv is visible \
         to every local user)"
            .into(),
    );
    FreeRdpCommand { argv, notes }
}

/// The gateway the command line goes through: the one the last success went through, or
/// (before any success) the one the profile says to use.
fn through_gateway<'a>(profile: &'a Profile, notes: &mut Vec<String>) -> Option<&'a Gateway> {
    let gateway = profile.gateway.as_ref()?;
    let used = match &profile.winning {
        Some(winning) => winning.gateway.is_some(),
        None => gateway.usage.uses_gateway(),
    };
    if !used && gateway.usage.uses_gateway() {
        notes.push(format!(
            "the last successful connection went around the RD Gateway {}: this line connects \
             directly, as it did",
            gateway.host
        ));
    }
    used.then_some(gateway)
}

fn gateway_options(
    gateway: &Gateway,
    winning: Option<&Winning>,
    version: FreeRdpVersion,
    argv: &mut Vec<String>,
) {
    let host = bracket_if_ipv6(&gateway.host);
    let address = if gateway.port == DEFAULT_GATEWAY_PORT {
        host
    } else {
        format!("{host}:{}", gateway.port)
    };
    let leg = winning.and_then(|w| w.gateway.as_ref());
    // The transport the tunnel ran over: `auto` that ended on the legacy pair is legacy.
    let legacy_transport = leg.is_some_and(|g| {
        g.transport == "legacy-http" || g.transport_used.as_deref() == Some("legacy-http")
    });
    let transport = if legacy_transport {
        "http,no-websockets"
    } else {
        "http"
    };
    let user = gateway.username.as_deref().filter(|u| !u.is_empty());
    let domain = gateway.domain.as_deref().filter(|d| !d.is_empty());
    match version {
        FreeRdpVersion::V2 => {
            argv.push(format!("/g:{address}"));
            if let Some(user) = user {
                argv.push(format!("/gu:{user}"));
            }
            if let Some(domain) = domain {
                argv.push(format!("/gd:{domain}"));
            }
            if leg.is_some() {
                argv.push(format!("/gt:{transport}"));
            }
        }
        FreeRdpVersion::V3 => {
            let mut options = vec![format!("g:{address}")];
            if let Some(user) = user {
                options.push(format!("u:{user}"));
            }
            if let Some(domain) = domain {
                options.push(format!("d:{domain}"));
            }
            if leg.is_some() {
                options.push(format!("type:{transport}"));
            }
            argv.push(format!("/gateway:{}", options.join(",")));
        }
    }
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
    // FreeRDP's TLS settings hold for the gateway's HTTPS as well: the weaker leg decides
    // how far down they must reach (the RDP leg's own version pin stays its own).
    let leg = winning.gateway.as_ref();
    let gateway_openssl = leg.is_some_and(|g| g.tls_stack.eq_ignore_ascii_case("openssl"));
    let gateway_version = leg.and_then(|g| {
        g.tls_version
            .as_deref()
            .or(g.negotiated_tls_version.as_deref())
            .map(str::trim)
    });
    let effective = [pinned.or(negotiated), gateway_version]
        .into_iter()
        .flatten()
        .min_by(|a, b| version_rank(a).cmp(&version_rank(b)));
    let below_1_2 = matches!(effective, Some("1.0" | "1.1"));
    let seclevel_0 =
        openssl || gateway_openssl || below_1_2 || winning.grade.eq_ignore_ascii_case("legacy");
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

/// `1.0` < `1.1` < `1.2` < `1.3`; anything else sorts last.
fn version_rank(version: &str) -> u8 {
    match version {
        "1.0" => 0,
        "1.1" => 1,
        "1.2" => 2,
        "1.3" => 3,
        _ => 4,
    }
}

/// `/cert:`: the host's pin, and the gateway's when the line goes through one (FreeRDP
/// checks both certificates against the same list).
fn certificate_option(
    profile: &Profile,
    gateway: Option<&Gateway>,
    notes: &mut Vec<String>,
) -> String {
    let mut fingerprints = Vec::new();
    let mut pins = vec![("server", profile.certificate.as_ref())];
    if let Some(gateway) = gateway {
        pins.push(("RD Gateway", gateway.certificate.as_ref()));
    }
    for (whose, pin) in pins {
        let Some(pin) = pin else {
            if whose == "RD Gateway" && !fingerprints.is_empty() {
                notes.push(
                    "the RD Gateway's certificate is not pinned yet: FreeRDP must be able to \
                     verify it against its CA store"
                        .into(),
                );
            }
            continue;
        };
        match colon_hex(&pin.sha256) {
            Some(fingerprint) => fingerprints.push(format!("fingerprint:sha256:{fingerprint}")),
            None => notes.push(format!(
                "the pinned {whose} fingerprint `{}` is not a SHA-256; left out",
                pin.sha256
            )),
        }
    }
    if fingerprints.is_empty() {
        if profile.certificate.is_some() {
            notes.push("no usable pinned fingerprint; using trust on first use".into());
        }
        return "/cert:tofu".into();
    }
    format!("/cert:deny,{}", fingerprints.join(","))
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
                gateway: None,
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
                gateway: None,
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

    /// Through a TLS 1.0 gateway on its legacy transport, to a modern NLA server: the
    /// gateway's options in each spelling, its pin next to the server's, and the legacy
    /// TLS settings FreeRDP applies to the gateway too.
    fn via_gateway() -> Profile {
        use crate::model::{GatewayUsage, WinningGateway};
        let mut p = legacy();
        let w = p.winning.as_mut().unwrap();
        w.dial = Dial::Name;
        w.tls_stack = "rustls".into();
        w.tls_version = None;
        w.ciphers = None;
        w.negotiated_tls_version = Some("1.3".into());
        w.grade = "legacy".into();
        w.gateway = Some(WinningGateway {
            tls_stack: "openssl".into(),
            tls_version: Some("1.0".into()),
            ciphers: None,
            transport: "legacy-http".into(),
            auth: "offered".into(),
            transport_used: Some("legacy-http".into()),
            negotiated_tls_version: Some("1.0".into()),
            negotiated_cipher: None,
        });
        let mut gateway = Gateway::new("gw.example", 8443);
        gateway.usage = GatewayUsage::Always;
        gateway.username = Some("gwuser".into());
        gateway.domain = Some("EDGE".into());
        gateway.certificate = p.certificate.clone().map(|mut c| {
            c.sha256 = PIN.replace("00:11", "AA:BB");
            c
        });
        p.gateway = Some(gateway);
        p
    }

    #[test]
    fn through_the_gateway_in_both_spellings() {
        let p = via_gateway();
        let gw_pin = PIN.replace("00:11", "AA:BB");
        let v2 = freerdp_command(&p, FreeRdpVersion::V2);
        assert_eq!(
            &v2.argv[1..],
            [
                "/v:old.example:3390",
                "/u:alice",
                "/d:CORP",
                "/g:gw.example:8443",
                "/gu:gwuser",
                "/gd:EDGE",
                "/gt:http,no-websockets",
                "/sec:nla",
                "/tls-seclevel:0",
                &format!("/cert:deny,fingerprint:sha256:{PIN},fingerprint:sha256:{gw_pin}"),
            ]
        );
        let v3 = freerdp_command(&p, FreeRdpVersion::V3);
        assert!(v3.argv.contains(
            &"/gateway:g:gw.example:8443,u:gwuser,d:EDGE,type:http,no-websockets".to_owned()
        ));
        assert!(
            v3.argv.contains(&"/tls:seclevel:0,enforce:1.0".to_owned()),
            "the gateway's TLS 1.0 reaches FreeRDP 3's minimum: {:?}",
            v3.argv
        );
        // The host's credentials for the gateway: no /gu, as FreeRDP then uses /u.
        let mut same = via_gateway();
        same.gateway.as_mut().unwrap().username = None;
        same.gateway.as_mut().unwrap().domain = None;
        let v2 = freerdp_command(&same, FreeRdpVersion::V2);
        assert!(!v2
            .argv
            .iter()
            .any(|a| a.starts_with("/gu:") || a.starts_with("/gd:")));
    }

    #[test]
    fn a_run_that_went_around_the_gateway_is_exported_direct() {
        let mut p = via_gateway();
        p.winning.as_mut().unwrap().gateway = None;
        let cmd = freerdp_command(&p, FreeRdpVersion::V2);
        assert!(
            !cmd.argv.iter().any(|a| a.starts_with("/g:")),
            "{:?}",
            cmd.argv
        );
        assert!(cmd
            .notes
            .iter()
            .any(|n| n.contains("went around the RD Gateway")));
        // Before any success, the gateway the profile says to use.
        p.winning = None;
        let cmd = freerdp_command(&p, FreeRdpVersion::V3);
        assert!(cmd
            .argv
            .contains(&"/gateway:g:gw.example:8443,u:gwuser,d:EDGE".to_owned()));
        p.gateway.as_mut().unwrap().usage = crate::model::GatewayUsage::OffBypassLocal;
        let cmd = freerdp_command(&p, FreeRdpVersion::V3);
        assert!(!cmd.argv.iter().any(|a| a.starts_with("/gateway:")));
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
