//! The TLS settings of an attempt, as plain data: which stack, which version, which suites.

use alloc::string::String;

use serde::Serialize;

/// Which TLS implementation performs the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsStack {
    /// rustls: TLS 1.3 and 1.2 with AEAD suites only. The default and the strongest.
    Rustls,
    /// OpenSSL at security level 0: TLS 1.2 down to 1.0, CBC suites, RSA key exchange.
    /// Only for servers that rustls cannot talk to.
    Openssl,
}

impl TlsStack {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rustls => "rustls",
            Self::Openssl => "openssl",
        }
    }

    /// "rustls" / "OpenSSL", as people write them (lines for people; `as_str` is the
    /// `--json` value).
    pub fn name(self) -> &'static str {
        match self {
            Self::Rustls => "rustls",
            Self::Openssl => "OpenSSL",
        }
    }

    /// The inverse of [`TlsStack::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Rustls, Self::Openssl]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// A TLS protocol version, oldest first so that `<` means "weaker".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum TlsVersion {
    #[serde(rename = "1.0")]
    Tls10,
    #[serde(rename = "1.1")]
    Tls11,
    #[serde(rename = "1.2")]
    Tls12,
    #[serde(rename = "1.3")]
    Tls13,
}

impl TlsVersion {
    /// Oldest first.
    pub const ALL: [TlsVersion; 4] = [Self::Tls10, Self::Tls11, Self::Tls12, Self::Tls13];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tls10 => "1.0",
            Self::Tls11 => "1.1",
            Self::Tls12 => "1.2",
            Self::Tls13 => "1.3",
        }
    }

    /// The inverse of [`TlsVersion::as_str`] (`1.0` .. `1.3`).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

/// The TLS settings of an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsChoice {
    pub stack: TlsStack,
    /// `None` = whatever the stack negotiates (rustls: 1.3 or 1.2; OpenSSL: 1.2 down to 1.0).
    pub version: Option<TlsVersion>,
    /// Suite list in the stack's own syntax: rustls suite names (`TLS13_AES_128_GCM_SHA256`)
    /// or an OpenSSL cipher string (`AES128-SHA:ECDHE-RSA-AES128-SHA`). `None` = stack default.
    pub ciphers: Option<String>,
}

impl TlsChoice {
    /// What mstsc on a current Windows would use: TLS 1.3/1.2, AEAD suites.
    pub fn modern() -> Self {
        Self {
            stack: TlsStack::Rustls,
            version: None,
            ciphers: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_versions_order_by_strength_and_read_back() {
        assert!(TlsVersion::Tls10 < TlsVersion::Tls11);
        assert!(TlsVersion::Tls12 < TlsVersion::Tls13);
        for v in TlsVersion::ALL {
            assert_eq!(TlsVersion::parse(v.as_str()), Some(v));
        }
        assert_eq!(TlsVersion::parse("2.0"), None);
        assert_eq!(TlsStack::parse("openssl"), Some(TlsStack::Openssl));
        assert_eq!(TlsStack::parse("gnutls"), None);
    }
}
