//! Profiles for the hand-off's tests: a server reached with TLS 1.0 over OpenSSL.

use rdpshim_profiles::model::{Dial, Winning};
use rdpshim_profiles::Profile;

const NOW: &str = "2026-01-01T00:00:00Z";

/// `host:3390`, last reached at `address` (dialled as `dial`) with TLS 1.0 over OpenSSL,
/// with or without NLA.
pub fn tls10(host: &str, dial: Dial, address: &str, nla: bool) -> Profile {
    let mut profile = Profile::new(host, 3390, NOW);
    profile.record_success(
        Winning {
            dial,
            address: Some(address.into()),
            server_name: host.into(),
            ip_as_server_name: false,
            nla,
            tls_stack: "openssl".into(),
            tls_version: None,
            ciphers: None,
            negotiated_tls_version: Some("1.0".into()),
            negotiated_cipher: Some("ECDHE-RSA-AES128-SHA".into()),
            udp: false,
            grade: if nla { "legacy" } else { "no-nla" }.into(),
            fallbacks: vec!["tls-version-downgrade".into()],
            gateway: None,
        },
        NOW,
    );
    profile
}
