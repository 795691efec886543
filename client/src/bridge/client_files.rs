//! What the user gives their own client to reach the bridge: an `.rdp` file and a FreeRDP
//! command line for the bridge's address, written by the same exporters as
//! `rdpshim profile export` (so the same rules hold: no password, `authentication
//! level:i:2`, the certificate pinned as `/cert:deny,fingerprint:sha256:...`).
//!
//! The profile they are made from describes the *client leg*: the listen address, TLS
//! with rustls (modern, so no legacy flag is needed), NLA exactly when the bridge makes the
//! client prove an account (`proof.rs`: the server leg uses NLA, or the server is reached
//! through an RD Gateway), the bridge's own certificate as the pin, and the user name of
//! that account only for NLA (without NLA the user logs on at the server's own login
//! screen).

use std::net::SocketAddr;

use rdpshim_profiles::export::{freerdp_command, FreeRdpCommand, FreeRdpVersion};
use rdpshim_profiles::model::{Dial, PinnedCertificate, Profile, Winning};
use rdpshim_profiles::rdpfile::{self, encode::OutputFormat};

/// The client leg as a profile.
pub fn bridge_profile(
    listen: SocketAddr,
    nla: bool,
    user: Option<&str>,
    domain: Option<&str>,
    certificate_sha256: &str,
    now: &str,
) -> Profile {
    let host = listen.ip().to_string();
    let mut profile = Profile::new(host.clone(), listen.port(), now);
    if nla {
        profile.username = user.map(str::to_owned);
        profile.domain = domain.map(str::to_owned);
    }
    profile.winning = Some(Winning {
        dial: Dial::Name,
        address: None,
        server_name: host,
        ip_as_server_name: false,
        nla,
        tls_stack: "rustls".into(),
        tls_version: None,
        ciphers: None,
        negotiated_tls_version: None,
        negotiated_cipher: None,
        udp: false,
        grade: if nla { "modern" } else { "no-nla" }.into(),
        fallbacks: Vec::new(),
        // The client reaches the bridge directly, on this machine.
        gateway: None,
    });
    profile.certificate = Some(PinnedCertificate {
        sha256: certificate_sha256.to_owned(),
        subject: "CN=rdpshim bridge".into(),
        issuer: "CN=rdpshim bridge".into(),
        not_before: String::new(),
        not_after: String::new(),
    });
    profile
}

/// The `.rdp` file (as mstsc writes them: UTF-16LE, BOM, CRLF).
pub fn rdp_file(profile: &Profile) -> Vec<u8> {
    rdpfile::export_bytes(profile, OutputFormat::MSTSC).0
}

/// The FreeRDP 2 command line.
pub fn freerdp(profile: &Profile) -> FreeRdpCommand {
    freerdp_command(profile, FreeRdpVersion::V2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_point_at_the_bridge_and_pin_its_certificate() {
        let fp = ["AB"; 32].join(":");
        let profile = bridge_profile(
            "127.0.0.1:13389".parse().unwrap(),
            true,
            Some("labuser"),
            None,
            &fp,
            "2026-01-01T00:00:00Z",
        );
        let line = freerdp(&profile).shell_line();
        assert!(line.contains("/v:127.0.0.1:13389"), "{line}");
        assert!(line.contains("/u:labuser"), "{line}");
        assert!(line.contains("/sec:nla"), "{line}");
        assert!(
            line.contains(&format!("/cert:deny,fingerprint:sha256:{fp}")),
            "{line}"
        );
        assert!(
            !line.contains("seclevel"),
            "the client leg is modern TLS: {line}"
        );

        let text = rdpfile::decode(&rdp_file(&profile)).unwrap().text;
        assert!(text.contains("full address:s:127.0.0.1:13389"), "{text}");
        assert!(text.contains("enablecredsspsupport:i:1"), "{text}");

        let tls_only = bridge_profile(
            "127.0.0.1:13389".parse().unwrap(),
            false,
            Some("labuser"),
            None,
            &fp,
            "2026-01-01T00:00:00Z",
        );
        let line = freerdp(&tls_only).shell_line();
        assert!(line.contains("/sec:tls") && !line.contains("/u:"), "{line}");
    }
}
