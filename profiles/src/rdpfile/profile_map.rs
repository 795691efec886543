//! Profile <-> `.rdp` properties.
//!
//! Import takes the address, port and user into the profile's own fields and keeps every
//! other property in `rdp_extra` (name -> `"type:value"`), except those equal to the
//! export default (export writes those anyway, so the profile stays short to read).
//! `enablecredsspsupport`, `authentication level` etc. from a user's file thus live in
//! `rdp_extra`, where the planner can read them as the user's preference.
//!
//! Export writes, in this order: the address (the remembered IP when the winning attempt
//! dialled one, else the host; `:port` when not 3389) and `server port`; `username` and
//! `domain`; the security block; the session defaults; then the remaining `rdp_extra`
//! properties. Precedence: what the profile learned (`winning.nla`) over `rdp_extra`
//! over the defaults ([`super::defaults`], which also explains `authentication level`).
//!
//! No password ever: [`super::Property`] cannot hold a password property, so neither
//! direction can carry one; import reports a dropped `password 51` as a line issue.
//!
//! The RD Gateway: a non-empty `gatewayhostname` becomes [`Profile::gateway`] with
//! `gatewayusagemethod` (mstsc's default 4, "do not use", when the file has none),
//! `gatewaycredentialssource` and `gatewayprofileusagemethod`; export writes the four back
//! after the session block. A file without a gateway keeps those properties in
//! `rdp_extra`, as any other. The gateway's account and pinned certificate are rdpshim's
//! own (mstsc keeps the account in its credential store): they stay in the profile.
//!
//! Round trip: `import(export(p))` gives back `host` (or the dialled IP), `port`,
//! `username`, `domain`, the gateway's host, port and settings, and `rdp_extra` (plus the
//! learned NLA choice, in `rdp_extra`), and `export(import(export(p)))` is the same file as
//! `export(p)`.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use super::address::{bracket_if_ipv6, join_host_port, split_host_port, AddressError};
use super::defaults::{default_for, SECURITY, SESSION};
use super::document::RdpFile;
use super::property::{Kind, Property};
use crate::model::{Gateway, GatewayUsage, Profile, DEFAULT_GATEWAY_PORT, DEFAULT_PORT};

/// Properties that map to profile fields and are never kept in `rdp_extra`.
pub const MAPPED: &[&str] = &[
    "full address",
    "alternate full address",
    "server port",
    "username",
    "domain",
];

/// The RD Gateway's properties: [`Profile::gateway`]'s when the file names a gateway, kept
/// in `rdp_extra` otherwise.
pub const GATEWAY: &[&str] = &[
    "gatewayhostname",
    "gatewayusagemethod",
    "gatewaycredentialssource",
    "gatewayprofileusagemethod",
];

/// mstsc's `gatewayprofileusagemethod` when a file has none: the computer's defaults.
const RDP_DEFAULT_PROFILE_USAGE: u32 = 0;
/// mstsc's `gatewaycredentialssource` when a file has none: chosen later.
const RDP_DEFAULT_CREDENTIALS_SOURCE: u32 = 4;

#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub profile: Profile,
    /// Things the user should know: a conflicting port, a gateway that is not used, ...
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportError {
    /// Neither `full address` nor `alternate full address` names a server.
    NoAddress,
    BadAddress(AddressError),
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoAddress => {
                f.write_str("the file names no server (`full address:s:` is missing or empty)")
            }
            Self::BadAddress(why) => write!(f, "bad server address: {why}"),
        }
    }
}

impl std::error::Error for ImportError {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub file: RdpFile,
    /// Profile values that could not be written (e.g. a hand-edited `rdp_extra` entry
    /// without a type), each skipped.
    pub warnings: Vec<String>,
}

/// A profile from the properties of an `.rdp` file; `now` becomes `created`.
pub fn import(file: &RdpFile, now: &str) -> Result<Imported, ImportError> {
    let mut warnings = Vec::new();
    let full = non_empty(file.get_str("full address"));
    let alternate = non_empty(file.get_str("alternate full address"));
    let chosen = match (alternate, full) {
        (Some(alt), Some(full)) => {
            if !alt.eq_ignore_ascii_case(full) {
                warnings.push(format!(
                    "`alternate full address` {alt} is used instead of `full address` {full}, \
                     as mstsc does"
                ));
            }
            alt
        }
        (Some(only), None) | (None, Some(only)) => only,
        (None, None) => return Err(ImportError::NoAddress),
    };
    let (host, address_port) = split_host_port(chosen).map_err(ImportError::BadAddress)?;

    let server_port = file.get("server port").and_then(|p| {
        let port = p
            .int_value()
            .and_then(|v| u16::try_from(v).ok())
            .filter(|v| *v != 0);
        if port.is_none() {
            warnings.push(format!("`server port` {} ignored: not a port", p.value()));
        }
        port
    });
    let port = match (address_port, server_port) {
        (Some(a), Some(s)) if a != s => {
            warnings.push(format!(
                "the port in the address ({a}) is used, not `server port` ({s})"
            ));
            a
        }
        (Some(port), _) | (None, Some(port)) => port,
        (None, None) => DEFAULT_PORT,
    };

    let mut profile = Profile::new(host, port, now);
    if let Some(user) = non_empty(file.get_str("username")) {
        match user.split_once('\\') {
            Some((domain, name)) if !domain.is_empty() && !name.is_empty() => {
                profile.domain = Some(domain.to_owned());
                profile.username = Some(name.to_owned());
            }
            _ => profile.username = Some(user.to_owned()),
        }
    }
    if let Some(domain) = non_empty(file.get_str("domain")) {
        match &profile.domain {
            Some(from_user) if !from_user.eq_ignore_ascii_case(domain) => warnings.push(format!(
                "`domain` {domain} ignored: the user name names domain {from_user}"
            )),
            Some(_) => {}
            None => profile.domain = Some(domain.to_owned()),
        }
    }

    profile.gateway = gateway(file, &mut warnings);
    profile.rdp_extra = extras(file, profile.gateway.is_some());
    warnings.extend(unsupported(file));
    Ok(Imported { profile, warnings })
}

/// The RD Gateway the file names, with the notes a person needs: a gateway kept but not
/// used, an authentication rdpshim does not do.
fn gateway(file: &RdpFile, warnings: &mut Vec<String>) -> Option<Gateway> {
    let named = non_empty(file.get_str("gatewayhostname"))?;
    let (host, port) = match split_host_port(named) {
        Ok(split) => split,
        Err(why) => {
            warnings.push(format!("`gatewayhostname` ignored: {why}"));
            return None;
        }
    };
    let usage = match file.get_int("gatewayusagemethod") {
        None => GatewayUsage::OffBypassLocal,
        Some(value) => GatewayUsage::from_rdp(value).unwrap_or_else(|| {
            warnings.push(format!(
                "`gatewayusagemethod` {value} is not one of mstsc's (0-4); read as 4, do not use \
                 the gateway"
            ));
            GatewayUsage::OffBypassLocal
        }),
    };
    let small = |name: &str, default: u32| {
        file.get_int(name)
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v <= 5)
            .unwrap_or(default)
    };
    let gateway = Gateway {
        host,
        port: port.unwrap_or(DEFAULT_GATEWAY_PORT),
        usage,
        username: None,
        domain: None,
        credentials_source: small("gatewaycredentialssource", RDP_DEFAULT_CREDENTIALS_SOURCE),
        profile_usage: small("gatewayprofileusagemethod", RDP_DEFAULT_PROFILE_USAGE),
        certificate: None,
    };
    if !usage.uses_gateway() {
        warnings.push(format!(
            "the RD Gateway {named} is kept for export but not used: gatewayusagemethod:i:{} \
             means do not use a gateway, as mstsc reads it (`rdpshim connect --gateway` uses it)",
            usage.to_rdp()
        ));
    }
    match gateway.credentials_source {
        1 => warnings.push(
            "the RD Gateway is set up for a smart card (gatewaycredentialssource:i:1); rdpshim \
             authenticates to a gateway with a password (the host's account, or --gateway-user)"
                .to_owned(),
        ),
        5 => warnings.push(
            "the RD Gateway is set up for cookie or token authentication \
             (gatewaycredentialssource:i:5); rdpshim authenticates to a gateway with a password"
                .to_owned(),
        ),
        _ => {}
    }
    Some(gateway)
}

/// The `.rdp` properties for `profile`.
pub fn export(profile: &Profile) -> Exported {
    let mut out = Writer::default();
    let extra: Vec<(&str, &str)> = profile
        .rdp_extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let user_value = |name: &str| {
        extra
            .iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };

    let (host, port) = profile.dial_target();
    out.typed(
        "full address",
        &format!("s:{}", join_host_port(&host, port)),
    );
    out.typed("server port", &format!("i:{port}"));
    let domain = non_empty(profile.domain.as_deref());
    if let Some(user) = non_empty(profile.username.as_deref()) {
        // Import splits `DOMAIN\user` at the first `\`; a user name that itself holds a
        // `\` is written behind its domain so that split gives both back.
        let user = match domain {
            Some(domain) if user.contains('\\') => format!("{domain}\\{user}"),
            _ => user.to_owned(),
        };
        out.typed("username", &format!("s:{user}"));
    }
    if let Some(domain) = domain {
        out.typed("domain", &format!("s:{domain}"));
    }

    for (name, default) in SECURITY.iter().chain(SESSION) {
        let learned = match (*name, &profile.winning) {
            ("enablecredsspsupport", Some(w)) => Some(if w.nla { "i:1" } else { "i:0" }),
            _ => None,
        };
        let value = learned.or_else(|| user_value(name)).unwrap_or(default);
        if !out.typed(name, value) {
            out.typed(name, default);
        }
    }

    if let Some(gateway) = &profile.gateway {
        let host = bracket_if_ipv6(&gateway.host);
        let address = if gateway.port == DEFAULT_GATEWAY_PORT {
            host
        } else {
            format!("{host}:{}", gateway.port)
        };
        out.typed("gatewayhostname", &format!("s:{address}"));
        out.typed(
            "gatewayusagemethod",
            &format!("i:{}", gateway.usage.to_rdp()),
        );
        out.typed(
            "gatewaycredentialssource",
            &format!("i:{}", gateway.credentials_source),
        );
        out.typed(
            "gatewayprofileusagemethod",
            &format!("i:{}", gateway.profile_usage),
        );
    }

    for (name, value) in &extra {
        if MAPPED.iter().any(|m| m.eq_ignore_ascii_case(name.trim())) {
            out.warnings.push(format!(
                "`{name}` in rdp_extra ignored: the profile's host, port and user are written instead"
            ));
        } else if default_for(name.trim()).is_none() {
            out.typed(name, value);
        }
    }
    Exported {
        file: out.file,
        warnings: out.warnings,
    }
}

#[derive(Default)]
struct Writer {
    file: RdpFile,
    written: HashSet<String>,
    warnings: Vec<String>,
}

impl Writer {
    /// Writes `name` once; `false` (with a warning) if the value is not a valid property.
    fn typed(&mut self, name: &str, typed: &str) -> bool {
        let key = name.trim().to_ascii_lowercase();
        if self.written.contains(&key) {
            return true;
        }
        match Property::from_typed(name, typed) {
            Ok(property) => {
                self.file.set(property);
                self.written.insert(key);
                true
            }
            Err(e) => {
                self.warnings.push(format!("`{name}` not written: {e}"));
                false
            }
        }
    }
}

/// Every property not mapped to a field and not equal to its export default, last
/// occurrence winning, under the first spelling of its name. The gateway's properties are
/// the profile's gateway's when the file names one (`gateway`).
fn extras(file: &RdpFile, gateway: bool) -> BTreeMap<String, String> {
    let mut kept: Vec<(String, String)> = Vec::new();
    for property in file.properties() {
        let name = property.name();
        if MAPPED.iter().any(|m| property.is(m))
            || (gateway && GATEWAY.iter().any(|g| property.is(g)))
        {
            continue;
        }
        let typed = property.typed_value();
        let existing = kept.iter().position(|(k, _)| k.eq_ignore_ascii_case(name));
        match existing {
            Some(i) => kept[i].1 = typed,
            None => kept.push((name.to_owned(), typed)),
        }
    }
    kept.into_iter()
        .filter(|(name, typed)| !is_default(name, typed))
        .collect()
}

fn is_default(name: &str, typed: &str) -> bool {
    let Some(default) = default_for(name) else {
        return false;
    };
    match (
        Property::from_typed(name, typed),
        Property::from_typed(name, default),
    ) {
        (Ok(a), Ok(b)) if a.kind() == Kind::Int && b.kind() == Kind::Int => {
            a.int_value() == b.int_value()
        }
        (Ok(a), Ok(b)) => a.kind() == b.kind() && a.value() == b.value(),
        _ => false,
    }
}

/// Warnings for settings rdpshim keeps for export but does not act on.
fn unsupported(file: &RdpFile) -> Vec<String> {
    let mut warnings = Vec::new();
    if file.get_int("remoteapplicationmode") == Some(1) {
        warnings.push(
            "RemoteApp settings are kept for export, but rdpshim opens a full desktop".to_owned(),
        );
    }
    warnings
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::super::decode::LineEnding;
    use super::*;
    use crate::model::{Dial, Winning};

    const NOW: &str = "2026-11-21T12:00:00Z";

    fn winning(dial: Dial, address: &str, nla: bool) -> Winning {
        Winning {
            dial,
            address: Some(address.into()),
            server_name: "server.example".into(),
            ip_as_server_name: false,
            nla,
            tls_stack: "rustls".into(),
            tls_version: None,
            ciphers: None,
            negotiated_tls_version: Some("1.3".into()),
            negotiated_cipher: None,
            udp: false,
            grade: if nla { "modern" } else { "no-nla" }.into(),
            fallbacks: vec![],
            gateway: None,
        }
    }

    fn text(p: &Profile) -> String {
        export(p).file.to_text(LineEnding::Lf)
    }

    #[test]
    fn export_of_a_fresh_profile() {
        let mut p = Profile::new("server.example", 3390, NOW);
        p.username = Some("alice".into());
        p.domain = Some("CORP".into());
        let exported = export(&p);
        assert!(exported.warnings.is_empty(), "{:?}", exported.warnings);
        let t = exported.file.to_text(LineEnding::Lf);
        assert!(
            t.starts_with(
                "full address:s:server.example:3390\nserver port:i:3390\nusername:s:alice\n\
                 domain:s:CORP\nenablecredsspsupport:i:1\nauthentication level:i:2\n\
                 negotiate security layer:i:1\nprompt for credentials:i:0\nscreen mode id:i:2\n"
            ),
            "{t}"
        );
        assert!(t.contains("session bpp:i:32\n") && t.contains("redirectclipboard:i:1\n"));
        assert!(!t.to_ascii_lowercase().contains("password"));
    }

    #[test]
    fn export_uses_what_was_learned() {
        let mut p = Profile::new("server.example", 3389, NOW);
        p.rdp_extra
            .insert("enablecredsspsupport".into(), "i:1".into());
        p.record_success(winning(Dial::Ip, "192.0.2.9:3389", false), NOW);
        let t = text(&p);
        assert!(
            t.starts_with("full address:s:192.0.2.9\nserver port:i:3389\n"),
            "{t}"
        );
        assert!(t.contains("enablecredsspsupport:i:0\n"), "{t}");

        p.record_success(winning(Dial::Name, "[2001:db8::1]:3389", true), NOW);
        let t = text(&p);
        assert!(t.starts_with("full address:s:server.example\n"), "{t}");
        assert!(t.contains("enablecredsspsupport:i:1\n"));

        let mut v6 = Profile::new("2001:db8::5", 3390, NOW);
        v6.record_success(winning(Dial::Ip, "[2001:db8::5]:3390", true), NOW);
        assert!(text(&v6).starts_with("full address:s:[2001:db8::5]:3390\n"));
    }

    #[test]
    fn extras_override_defaults_and_bad_extras_are_skipped() {
        let mut p = Profile::new("h", 3389, NOW);
        p.rdp_extra.insert("screen mode id".into(), "i:1".into());
        p.rdp_extra
            .insert("authentication level".into(), "i:0".into());
        p.rdp_extra.insert("smart sizing".into(), "i:1".into());
        p.rdp_extra.insert("no type".into(), "3".into());
        p.rdp_extra.insert("password 51".into(), "b:0102".into());
        p.rdp_extra
            .insert("evil".into(), "s:x\npassword 51:b:01".into());
        p.rdp_extra
            .insert("full address".into(), "s:elsewhere".into());
        let exported = export(&p);
        let t = exported.file.to_text(LineEnding::Lf);
        assert!(t.contains("screen mode id:i:1\n") && !t.contains("screen mode id:i:2"));
        assert!(t.contains("authentication level:i:0\n"));
        assert!(t.ends_with("smart sizing:i:1\n"), "{t}");
        assert!(t.starts_with("full address:s:h\n"));
        assert!(!t.to_ascii_lowercase().contains("password"), "{t}");
        assert!(!t.contains("evil") && !t.contains("no type"));
        assert_eq!(exported.warnings.len(), 4, "{:?}", exported.warnings);
    }

    #[test]
    fn import_maps_fields_and_keeps_the_rest() {
        let file = RdpFile::parse(
            "screen mode id:i:1\nfull address:s:old.example\nalternate full address:s:new.example:3390\n\
             server port:i:3391\nusername:s:CORP\\alice\ndomain:s:OTHER\nsmart sizing:i:1\n\
             session bpp:i:32\ngatewayhostname:s:gw.example\ngatewayusagemethod:i:1\n\
             Screen Mode Id:i:0\n",
        )
        .file;
        let imported = import(&file, NOW).unwrap();
        let p = &imported.profile;
        assert_eq!((p.host.as_str(), p.port), ("new.example", 3390));
        assert_eq!(p.username.as_deref(), Some("alice"));
        assert_eq!(p.domain.as_deref(), Some("CORP"));
        assert_eq!(p.created, NOW);
        let extra: Vec<(&str, &str)> = p
            .rdp_extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(extra, [("screen mode id", "i:0"), ("smart sizing", "i:1")]);
        let gateway = p.gateway.as_ref().unwrap();
        assert_eq!((gateway.host.as_str(), gateway.port), ("gw.example", 443));
        assert_eq!(gateway.usage, GatewayUsage::Always);
        assert_eq!((gateway.credentials_source, gateway.profile_usage), (4, 0));
        assert_eq!(imported.warnings.len(), 3, "{:?}", imported.warnings);
    }

    #[test]
    fn the_gateway_round_trips_and_an_unused_one_is_kept() {
        let file = RdpFile::parse(
            "full address:s:desk.corp\ngatewayhostname:s:[2001:db8::7]:8443\n\
             gatewayusagemethod:i:2\ngatewaycredentialssource:i:0\ngatewayprofileusagemethod:i:1\n",
        )
        .file;
        let imported = import(&file, NOW).unwrap();
        assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
        let p = imported.profile;
        let gateway = p.gateway.clone().unwrap();
        assert_eq!((gateway.host.as_str(), gateway.port), ("2001:db8::7", 8443));
        assert_eq!(gateway.usage, GatewayUsage::Detect);
        assert!(p.rdp_extra.is_empty(), "{:?}", p.rdp_extra);
        let t = text(&p);
        assert!(
            t.contains(
                "gatewayhostname:s:[2001:db8::7]:8443\ngatewayusagemethod:i:2\n\
                 gatewaycredentialssource:i:0\ngatewayprofileusagemethod:i:1\n"
            ),
            "{t}"
        );
        let back = import(&export(&p).file, NOW).unwrap().profile;
        assert_eq!(back, p, "import(export(p)) == p");

        // A gateway given to rdpshim: always used, the file's own settings.
        let mut given = Profile::new("desk.corp", 3389, NOW);
        given.gateway = Some(Gateway::new("gw.corp", 443));
        given.gateway.as_mut().unwrap().username = Some("gwuser".into());
        let t = text(&given);
        assert!(
            t.contains(
                "gatewayhostname:s:gw.corp\ngatewayusagemethod:i:1\n\
                        gatewaycredentialssource:i:4\ngatewayprofileusagemethod:i:1\n"
            ),
            "{t}"
        );
        assert!(
            !t.contains("gwuser"),
            "the gateway account stays in the profile: {t}"
        );

        // mstsc's "do not use" (4, its default) keeps the gateway, with a note.
        let off = RdpFile::parse("full address:s:h\ngatewayhostname:s:gw\n").file;
        let imported = import(&off, NOW).unwrap();
        assert_eq!(
            imported.profile.gateway.unwrap().usage,
            GatewayUsage::OffBypassLocal
        );
        assert!(
            imported.warnings[0].contains("not used"),
            "{:?}",
            imported.warnings
        );
        // No gateway named: the properties stay extras, as mstsc wrote them.
        let none =
            RdpFile::parse("full address:s:h\ngatewayhostname:s:\ngatewayusagemethod:i:4\n").file;
        let p = import(&none, NOW).unwrap().profile;
        assert!(p.gateway.is_none());
        assert_eq!(p.rdp_extra["gatewayusagemethod"], "i:4");
        // A smart card is named, not silently replaced.
        let card = RdpFile::parse("full address:s:h\ngatewayhostname:s:gw\ngatewayusagemethod:i:1\ngatewaycredentialssource:i:1\n").file;
        let imported = import(&card, NOW).unwrap();
        assert!(
            imported.warnings.iter().any(|w| w.contains("smart card")),
            "{:?}",
            imported.warnings
        );
    }

    #[test]
    fn import_port_rules_and_errors() {
        let port = |s: &str| import(&RdpFile::parse(s).file, NOW).map(|i| i.profile.port);
        assert_eq!(port("full address:s:h\n"), Ok(3389));
        assert_eq!(port("full address:s:h\nserver port:i:4000\n"), Ok(4000));
        assert_eq!(
            port("full address:s:[::1]:4001\nserver port:i:4000\n"),
            Ok(4001)
        );
        assert_eq!(port("full address:s:h\nserver port:i:99999\n"), Ok(3389));
        assert_eq!(port("screen mode id:i:1\n"), Err(ImportError::NoAddress));
        assert_eq!(port("full address:s:  \n"), Err(ImportError::NoAddress));
        assert!(matches!(
            port("full address:s:h:x\n"),
            Err(ImportError::BadAddress(_))
        ));
    }

    #[test]
    fn round_trip_profile_file_profile() {
        let mut p = Profile::new("server.example", 3390, NOW);
        p.username = Some("alice".into());
        p.domain = Some("CORP".into());
        p.rdp_extra.insert("screen mode id".into(), "i:1".into());
        p.rdp_extra.insert("smart sizing".into(), "i:1".into());
        p.rdp_extra
            .insert("shell working directory".into(), "s:C:\\work".into());
        let back = import(&export(&p).file, NOW).unwrap();
        assert!(back.warnings.is_empty(), "{:?}", back.warnings);
        assert_eq!(back.profile, p);

        p.record_success(winning(Dial::Name, "192.0.2.1:3390", false), NOW);
        let first = export(&p).file;
        let back = import(&first, NOW).unwrap().profile;
        assert_eq!(back.rdp_extra["enablecredsspsupport"], "i:0");
        assert_eq!(
            export(&back).file,
            first,
            "export(import(export(p))) == export(p)"
        );
    }
}
