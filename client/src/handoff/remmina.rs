//! A `.remmina` connection file (an INI file, `[remmina]` group) for a profile's working
//! configuration, for `remmina -c FILE`.
//!
//! Keys as Remmina 1.4's RDP plugin reads them (checked against the strings of Debian 12's
//! remmina-plugin-rdp 1.4.29): `server` (`HOST:PORT`), `username`, `domain`, `security`
//! (`nla`, `tls`, `rdp`, `ext`; empty = negotiate), `tls-seclevel` (OpenSSL's security
//! level; 0 lets FreeRDP offer CBC suites and TLS below 1.2 where its FreeRDP allows),
//! `resolution_mode` (0 = `resolution_width` x `resolution_height`). No password: Remmina
//! keeps passwords encrypted with a key of its own, so it asks. No certificate pin either:
//! Remmina asks about the certificate itself (see `express.rs`).

use rdpshim_profiles::rdpfile::address::join_host_port;
use rdpshim_profiles::Profile;

use super::express::Needs;

/// The file's text for `profile`, logging on as `user` (`DOMAIN` as `domain`) when given.
pub fn remmina_file(profile: &Profile, user: Option<&str>, domain: Option<&str>) -> String {
    let (host, port) = profile.dial_target();
    let needs = Needs::of(profile);
    let mut lines = vec![
        "[remmina]".to_owned(),
        format!(
            "name=rdpshim {}",
            one_line(&join_host_port(&profile.host, profile.port))
        ),
        "protocol=RDP".to_owned(),
        format!("server={}", one_line(&join_host_port(&host, port))),
    ];
    let user = user
        .or(profile.username.as_deref())
        .filter(|u| !u.is_empty());
    let domain = domain
        .or(profile.domain.as_deref())
        .filter(|d| !d.is_empty());
    if let Some(user) = user {
        lines.push(format!("username={}", one_line(user)));
    }
    if let Some(domain) = domain {
        lines.push(format!("domain={}", one_line(domain)));
    }
    if profile.winning.is_some() {
        lines.push(format!(
            "security={}",
            if needs.nla { "nla" } else { "tls" }
        ));
    }
    if needs.legacy_suites || needs.old_tls.is_some() {
        lines.push("tls-seclevel=0".to_owned());
    }
    let width = profile.rdp_extra_int("desktopwidth");
    let height = profile.rdp_extra_int("desktopheight");
    if let (Some(width), Some(height)) = (width, height) {
        lines.push("resolution_mode=0".to_owned());
        lines.push(format!("resolution_width={width}"));
        lines.push(format!("resolution_height={height}"));
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// A value on one line: a line break would start a key of its own (a profile's user name is
/// the user's, but a hand-edited profile should not be able to add `[remmina]` keys).
fn one_line(value: &str) -> String {
    value.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::test_profiles::tls10;
    use rdpshim_profiles::model::Dial;

    fn legacy() -> Profile {
        tls10("old.example", Dial::Ip, "192.0.2.5:3390", false)
    }

    #[test]
    fn a_legacy_tls_only_server() {
        let mut p = legacy();
        p.rdp_extra.insert("desktopwidth".into(), "i:1280".into());
        p.rdp_extra.insert("desktopheight".into(), "i:800".into());
        assert_eq!(
            remmina_file(&p, Some("alice"), Some("CORP")),
            "[remmina]\nname=rdpshim old.example:3390\nprotocol=RDP\nserver=192.0.2.5:3390\n\
             username=alice\ndomain=CORP\nsecurity=tls\ntls-seclevel=0\nresolution_mode=0\n\
             resolution_width=1280\nresolution_height=800\n"
        );
    }

    #[test]
    fn no_line_can_be_forged() {
        let p = legacy();
        let text = remmina_file(&p, Some("a\nsecurity=rdp"), None);
        assert!(!text.contains("\nsecurity=rdp"), "{text}");
        assert_eq!(
            text.lines().filter(|l| l.starts_with("security=")).count(),
            1
        );
    }
}
