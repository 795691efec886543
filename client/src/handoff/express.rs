//! What a client can express of a working configuration: the one decision between
//! "start it with these settings" and "this client cannot reach that server".
//!
//! A configuration's demands ([`Needs`]) come from the profile's winning attempt. Each
//! client ([`Target`]) has a fixed set of settings:
//!
//! | the server needs                | FreeRDP 2          | FreeRDP 3                    | Remmina            | `.rdp` (mstsc, Windows App) |
//! |---------------------------------|--------------------|------------------------------|--------------------|-----------------------------|
//! | TLS 1.0/1.1                     | `/tls-seclevel:0`  | `/tls:seclevel:0,enforce:1.0`| no version setting | no TLS setting              |
//! | CBC/RSA suites (no AEAD)        | `/tls-seclevel:0`  | `/tls:seclevel:0`            | `tls-seclevel=0`   | no TLS setting              |
//! | an exact suite list             | `/tls-ciphers:`    | `/tls:ciphers:`              | (its defaults)     | (its defaults)              |
//! | NLA off                         | `/sec:tls`         | `/sec:tls`                   | `security=tls`     | `enablecredsspsupport:i:0`  |
//! | the pinned certificate          | `/cert:deny,fingerprint:` | same                  | asks the user      | asks the user               |
//!
//! A server that needs TLS below 1.2 or suites a modern client does not offer cannot be
//! reached by a client without the setting: mstsc and Windows App start at TLS 1.2 with
//! AEAD suites by default (FreeRDP 3.27 too, which is why it grew `enforce`), and Remmina
//! has a security level but no minimum version (enough on FreeRDP 2, not on FreeRDP 3,
//! which starts at TLS 1.2; rdpshim cannot tell which one a Remmina is built on). Those are
//! [`Expressible::NeedsBridge`]: `rdpshim bridge` speaks the server's TLS itself and offers
//! the client a modern one. Certificates and suite lists a client cannot name are notes,
//! not blockers: the client still connects (asking about the certificate; its default
//! suites include the one that worked when its security level allows it).

use rdpshim_profiles::export::FreeRdpVersion;
use rdpshim_profiles::model::Winning;
use rdpshim_profiles::Profile;

/// A kind of client, by what it can be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    FreeRdp(FreeRdpVersion),
    Remmina,
    /// An `.rdp` file: mstsc, Windows App / Microsoft Remote Desktop on macOS.
    RdpFile,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Self::FreeRdp(FreeRdpVersion::V2) => "FreeRDP 2",
            Self::FreeRdp(FreeRdpVersion::V3) => "FreeRDP 3",
            Self::Remmina => "Remmina",
            Self::RdpFile => "an .rdp file",
        }
    }
}

/// What the working configuration asks of a client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// The TLS version that worked, when it is older than 1.2 (`"1.0"`, `"1.1"`).
    pub old_tls: Option<String>,
    /// rustls (TLS 1.3/1.2 with AEAD suites: what a modern client offers) did not connect;
    /// OpenSSL at security level 0 did (CBC suites, RSA key exchange, small keys).
    pub legacy_suites: bool,
    /// The suites were pinned to this list.
    pub cipher_list: Option<String>,
    pub nla: bool,
    pub pinned_certificate: bool,
}

impl Needs {
    /// What `profile`'s winning configuration needs; nothing special without one.
    pub fn of(profile: &Profile) -> Self {
        let Some(w) = &profile.winning else {
            return Self {
                nla: true,
                pinned_certificate: profile.certificate.is_some(),
                ..Self::default()
            };
        };
        Self {
            old_tls: old_tls(w),
            legacy_suites: w.tls_stack.eq_ignore_ascii_case("openssl")
                || w.grade.eq_ignore_ascii_case("legacy"),
            cipher_list: w
                .ciphers
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
            nla: w.nla,
            pinned_certificate: profile.certificate.is_some(),
        }
    }
}

fn old_tls(w: &Winning) -> Option<String> {
    let version = w
        .tls_version
        .as_deref()
        .or(w.negotiated_tls_version.as_deref())?
        .trim();
    matches!(version, "1.0" | "1.1").then(|| version.to_owned())
}

/// Whether a client can open the configuration itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expressible {
    Direct,
    /// It cannot (the reason, for people); `rdpshim bridge` can carry the connection.
    NeedsBridge(String),
}

/// A setting `target` cannot express, and whether the connection fails without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub what: String,
    /// Without it the client does not reach the server.
    pub blocks: bool,
}

/// The decision: [`Expressible::Direct`] unless a setting the server needs is one the
/// client does not have (the first such gap is the reason).
pub fn what_client_can_express(target: Target, needs: &Needs) -> Expressible {
    match gaps(target, needs).into_iter().find(|g| g.blocks) {
        Some(gap) => Expressible::NeedsBridge(gap.what),
        None => Expressible::Direct,
    }
}

/// Every setting of `needs` that `target` cannot express (blocking ones first).
pub fn gaps(target: Target, needs: &Needs) -> Vec<Gap> {
    let mut gaps = Vec::new();
    let client = target.name();
    match target {
        Target::FreeRdp(_) => {}
        Target::Remmina => {
            if let Some(version) = &needs.old_tls {
                gaps.push(Gap {
                    what: format!(
                        "the server speaks only TLS {version}, and {client} has a TLS security \
                         level but no TLS version setting (on FreeRDP 3 it starts at TLS 1.2)"
                    ),
                    blocks: true,
                });
            }
        }
        Target::RdpFile => {
            if let Some(version) = &needs.old_tls {
                gaps.push(Gap {
                    what: format!(
                        "the server speaks only TLS {version}, and {client} has no TLS version \
                         setting (mstsc and Windows App start at TLS 1.2)"
                    ),
                    blocks: true,
                });
            }
            if needs.legacy_suites {
                gaps.push(Gap {
                    what: format!(
                        "the server accepts only legacy TLS (CBC suites, RSA key exchange or \
                         weak keys: a modern client's offer failed), and {client} has no \
                         cipher-suite or security-level setting"
                    ),
                    blocks: needs.old_tls.is_none(),
                });
            }
        }
    }
    if !matches!(target, Target::FreeRdp(_)) {
        if let Some(list) = &needs.cipher_list {
            gaps.push(Gap {
                what: format!("{client} cannot pin the suites `{list}`; it offers its defaults"),
                blocks: false,
            });
        }
        if needs.pinned_certificate {
            gaps.push(Gap {
                what: format!(
                    "{client} cannot pin the certificate: it asks about it (compare the SHA-256 \
                     with `rdpshim profile show`)"
                ),
                blocks: false,
            });
        }
    }
    gaps.sort_by_key(|g| !g.blocks);
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;
    use Expressible::Direct;

    fn needs(old_tls: Option<&str>, legacy_suites: bool) -> Needs {
        Needs {
            old_tls: old_tls.map(str::to_owned),
            legacy_suites,
            cipher_list: None,
            nla: false,
            pinned_certificate: true,
        }
    }

    fn bridge(e: &Expressible) -> bool {
        matches!(e, Expressible::NeedsBridge(_))
    }

    /// Every client against the lab's servers: modern TLS, TLS 1.0 only (xrdp-tls10: OpenSSL,
    /// TLS 1.0), CBC only (xrdp-aes128sha: OpenSSL, TLS 1.2), NLA (shadow-nla: rustls).
    #[test]
    fn each_client_against_each_kind_of_server() {
        let modern = needs(None, false);
        let tls10 = needs(Some("1.0"), true);
        let tls11 = needs(Some("1.1"), true);
        let cbc_only = needs(None, true);
        let nla = Needs {
            nla: true,
            ..needs(None, false)
        };
        let v2 = Target::FreeRdp(FreeRdpVersion::V2);
        let v3 = Target::FreeRdp(FreeRdpVersion::V3);
        #[rustfmt::skip]
        let table: [(Target, &Needs, bool); 20] = [
            // (client, server, needs the bridge)
            (v2, &modern, false), (v2, &tls10, false), (v2, &tls11, false), (v2, &cbc_only, false), (v2, &nla, false),
            (v3, &modern, false), (v3, &tls10, false), (v3, &tls11, false), (v3, &cbc_only, false), (v3, &nla, false),
            (Target::Remmina, &modern, false), (Target::Remmina, &tls10, true), (Target::Remmina, &tls11, true),
            (Target::Remmina, &cbc_only, false), (Target::Remmina, &nla, false),
            (Target::RdpFile, &modern, false), (Target::RdpFile, &tls10, true), (Target::RdpFile, &tls11, true),
            (Target::RdpFile, &cbc_only, true), (Target::RdpFile, &nla, false),
        ];
        for (target, needs, expected) in table {
            let decided = what_client_can_express(target, needs);
            assert_eq!(
                bridge(&decided),
                expected,
                "{target:?} {needs:?}: {decided:?}"
            );
        }
    }

    #[test]
    fn the_reason_names_what_is_missing_and_the_rest_are_notes() {
        let Expressible::NeedsBridge(reason) =
            what_client_can_express(Target::RdpFile, &needs(Some("1.0"), true))
        else {
            panic!("TLS 1.0 through an .rdp file");
        };
        assert!(
            reason.contains("TLS 1.0") && reason.contains("no TLS version setting"),
            "{reason}"
        );
        let all = gaps(Target::RdpFile, &needs(Some("1.0"), true));
        assert_eq!(all.iter().filter(|g| g.blocks).count(), 1, "{all:?}");
        assert!(all.iter().any(|g| g.what.contains("certificate")));
        assert!(
            gaps(
                Target::FreeRdp(FreeRdpVersion::V2),
                &needs(Some("1.0"), true)
            )
            .is_empty(),
            "FreeRDP says everything"
        );
        let pinned = Needs {
            cipher_list: Some("AES128-SHA".into()),
            ..needs(None, true)
        };
        let remmina = gaps(Target::Remmina, &pinned);
        assert!(remmina.iter().all(|g| !g.blocks), "{remmina:?}");
        assert!(remmina.iter().any(|g| g.what.contains("AES128-SHA")));
        assert_eq!(what_client_can_express(Target::Remmina, &pinned), Direct);
    }
}
