//! The one table of causes: every known reason a server refuses clients (mstsc's "error
//! 0x904, extended 0x7" and its cousins) or is weaker than it should be, with what proves
//! it, how bad it is, the remedy on each side and the fallback that works around it.
//!
//! `diagnose` judges its findings against these causes, `connect`'s verdict names the ones
//! its attempts proved ([`from_history`]), the matrix names the one each failed cell points
//! to ([`of_failure`]), and the certificate warnings and README's table are written from
//! it. The ids are the `--json` values. The `gateway-*` causes are the same family one
//! layer out: an RD Gateway in front of the host (its reachability, TLS, certificate,
//! HTTP authentication and resource authorization policy).
//!
//! The remedies are prose for people and never name an rdpshim fallback: the one that
//! works around a cause is the typed [`Cause::workaround`], so a fallback that is renamed or
//! removed cannot leave a stale name behind (a test holds the texts to that).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::Serialize;

use crate::failure::{FailureClass, NegotiationCode};
use crate::fallback::Fallback;
use crate::knobs::{describe, Knobs, Nla};
use crate::learn::Tried;
use crate::protocol::{offered_protocols, offers_tls_without_nla, Protocol};
use crate::rungs::offered_versions;
use crate::stage::Stage;
use crate::tls::{TlsStack, TlsVersion};

/// How bad a cause is, which decides `diagnose`'s exit code (4 only for `blocking`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// The stock client with default settings fails (the causes of mstsc's 0x904).
    Blocking,
    /// Fails only under a client policy: a client that requires NLA, or one that refuses a
    /// certificate it cannot verify.
    Conditional,
    /// Works, but weaker than it should be.
    Weakness,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Self::Blocking, Self::Conditional, Self::Weakness];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blocking => "blocking",
            Self::Conditional => "conditional",
            Self::Weakness => "weakness",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which of rdpshim's tools can prove a cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeenBy {
    /// `diagnose` (no credentials) and `connect`'s attempts.
    Both,
    /// Only `diagnose`'s probes (the TLS scan, the MCS exchange under Standard RDP
    /// Security, the NTLM identity).
    Diagnose,
    /// Only an attempt that gets as far as the stage (licensing comes after logon).
    Connect,
}

/// A known cause; its `--json` id is [`CauseId::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CauseId {
    NameResolution,
    PortRefused,
    PortFiltered,
    NotAnswering,
    NotRdp,
    ClosedBeforeTls,
    ClosedDuringTls,
    RdpSecurityOnly,
    CertificateMissing,
    CertificateUnreadable,
    TlsVersion,
    Cipher,
    CredsspVersion,
    ClosedAfterTls,
    Licensing,
    GatewayUnreachable,
    GatewayTls,
    GatewayCertificate,
    GatewayAuth,
    GatewayResourcePolicy,
    NlaRequired,
    NlaRefused,
    CertificateExpired,
    CertificateName,
    CertificateSelfSigned,
    LegacyTls,
    NoForwardSecrecy,
    RdpSecurityOffered,
    Bluekeep,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause {
    pub id: CauseId,
    /// One line for people.
    pub title: &'static str,
    pub severity: Severity,
    /// What proves it: rdpshim names the cause only on this evidence.
    pub proof: &'static str,
    /// What to change on the server.
    pub server: &'static str,
    /// What to change on the client (mstsc, FreeRDP), when anything helps there.
    pub client: &'static str,
    /// The fallback with which `rdpshim connect` gets through anyway (announced).
    pub workaround: Option<Fallback>,
    pub seen_by: SeenBy,
}

impl CauseId {
    /// In table order: blocking first, then conditional, then weaknesses.
    pub const ALL: [CauseId; 29] = [
        Self::NameResolution,
        Self::PortRefused,
        Self::PortFiltered,
        Self::NotAnswering,
        Self::NotRdp,
        Self::ClosedBeforeTls,
        Self::ClosedDuringTls,
        Self::RdpSecurityOnly,
        Self::CertificateMissing,
        Self::CertificateUnreadable,
        Self::TlsVersion,
        Self::Cipher,
        Self::CredsspVersion,
        Self::ClosedAfterTls,
        Self::Licensing,
        Self::GatewayUnreachable,
        Self::GatewayTls,
        Self::GatewayCertificate,
        Self::GatewayAuth,
        Self::GatewayResourcePolicy,
        Self::NlaRequired,
        Self::NlaRefused,
        Self::CertificateExpired,
        Self::CertificateName,
        Self::CertificateSelfSigned,
        Self::LegacyTls,
        Self::NoForwardSecrecy,
        Self::RdpSecurityOffered,
        Self::Bluekeep,
    ];

    /// The `--json` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NameResolution => "name-resolution",
            Self::PortRefused => "port-refused",
            Self::PortFiltered => "port-filtered",
            Self::NotAnswering => "not-answering",
            Self::NotRdp => "not-rdp",
            Self::ClosedBeforeTls => "closed-before-tls",
            Self::ClosedDuringTls => "closed-during-tls",
            Self::RdpSecurityOnly => "rdp-security-only",
            Self::CertificateMissing => "certificate-missing",
            Self::CertificateUnreadable => "certificate-unreadable",
            Self::TlsVersion => "tls-version",
            Self::Cipher => "cipher",
            Self::CredsspVersion => "credssp-version",
            Self::ClosedAfterTls => "closed-after-tls",
            Self::Licensing => "licensing",
            Self::GatewayUnreachable => "gateway-unreachable",
            Self::GatewayTls => "gateway-tls",
            Self::GatewayCertificate => "gateway-certificate",
            Self::GatewayAuth => "gateway-auth",
            Self::GatewayResourcePolicy => "gateway-resource-policy",
            Self::NlaRequired => "nla-required",
            Self::NlaRefused => "nla-refused",
            Self::CertificateExpired => "certificate-expired",
            Self::CertificateName => "certificate-name",
            Self::CertificateSelfSigned => "certificate-self-signed",
            Self::LegacyTls => "legacy-tls",
            Self::NoForwardSecrecy => "no-forward-secrecy",
            Self::RdpSecurityOffered => "rdp-security-offered",
            Self::Bluekeep => "bluekeep",
        }
    }

    /// The inverse of [`CauseId::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// Its row of the table.
    pub fn info(self) -> &'static Cause {
        // CAUSES is in ALL order (a test checks), so the index is the position in ALL.
        let index = Self::ALL.iter().position(|c| *c == self).unwrap_or(0);
        &CAUSES[index]
    }

    pub fn severity(self) -> Severity {
        self.info().severity
    }

    pub fn title(self) -> &'static str {
        self.info().title
    }

    /// The cause a fallback works around, for naming what a connected run got past.
    pub fn worked_around_by(fallback: Fallback) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.info().workaround == Some(fallback))
    }
}

impl fmt::Display for CauseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const WINDOWS_CERTIFICATE_FIX: &str = "on Windows: delete the certificate from the Remote \
    Desktop store (certlm.msc) and restart TermService so that Windows makes a new one; if it \
    cannot, give NETWORK SERVICE read access to the certificate's private key in \
    C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys (the System log shows Schannel event \
    36870 when TermService cannot read it); xrdp: certificate= and key_file= must name \
    readable files";

/// The table, in [`CauseId::ALL`] order.
pub const CAUSES: [Cause; 29] = [
    Cause {
        id: CauseId::NameResolution,
        title: "the host name does not lead to the RDP server",
        severity: Severity::Blocking,
        proof: "the name does not resolve, or the first address it resolves to (the one mstsc dials) \
                refuses or drops TCP while another address accepts it",
        server: "register the host in DNS with the addresses it listens on: drop a stale A or AAAA \
                 record, or make Remote Desktop listen on IPv6 too",
        client: "connect by an address that works (mstsc: that address in `full address`); check the \
                 DNS suffix and the hosts file",
        workaround: Some(Fallback::IpForHostname),
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::PortRefused,
        title: "connection refused (RST): nothing listens on the RDP port, or a firewall rejects it",
        severity: Severity::Blocking,
        proof: "every address answers the TCP SYN with a reset",
        server: "start Remote Desktop Services (TermService) or xrdp, check the listening port \
                 (HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp\\PortNumber) \
                 and allow it in the host firewall",
        client: "check the port number (HOST:PORT); a REJECT rule on the path looks the same",
        workaround: None,
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::PortFiltered,
        title: "no answer on the RDP port: a firewall drops the packets, or the host is down",
        severity: Severity::Blocking,
        proof: "TCP SYNs to every address go unanswered (or come back ICMP unreachable) within the \
                time limit",
        server: "allow inbound TCP on the RDP port in the host firewall (the Remote Desktop rule group) \
                 and in any network firewall on the path",
        client: "check the VPN and the route to the host; nothing a client does gets through a DROP",
        workaround: None,
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::NotAnswering,
        title: "the server accepts TCP but does not answer",
        severity: Severity::Blocking,
        proof: "no X.224 Connection Confirm, or no answer to the TLS ClientHello (the modern one and \
                the most tolerant one), within the time limit",
        server: "restart Remote Desktop Services; look for a hung TermService, or a proxy or IPS that \
                 accepts TCP without passing it on",
        client: "none; a longer time limit only helps a very slow server",
        workaround: None,
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::NotRdp,
        title: "something other than an RDP server answers on this port",
        severity: Severity::Blocking,
        proof: "the answer to the X.224 Connection Request is not a Connection Confirm (an HTTP page, \
                a TLS record, an SSH banner, other bytes) or a confirm that selects no single \
                protocol (0x3, 0x7FFFFFFF), or the port speaks TLS straight away without X.224, or \
                it confirms TLS and answers every ClientHello with bytes that are not TLS",
        server: "check what listens on the port (Windows: `netstat -abno`; Linux: `ss -ltnp`): another \
                 service, or a web or TLS proxy or load balancer that does not pass RDP through",
        client: "check the host and port; a port that speaks TLS straight away may be an RD Gateway \
                 (use it as a gateway, not as the server) or a TLS-wrapped service",
        workaround: None,
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::ClosedBeforeTls,
        title: "the server closes the connection right after the X.224 request",
        severity: Severity::Blocking,
        proof: "TCP accepted, the X.224 Connection Request read, the socket closed without a \
                Connection Confirm",
        server: "check that the RDP-Tcp listener is enabled and not bound to another protocol; a \
                 security product, connection broker or load balancer may be dropping RDP connections",
        client: "none: the server hangs up before any security is negotiated",
        workaround: None,
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::ClosedDuringTls,
        title: "the server resets the connection at the TLS ClientHello: it cannot use its \
                certificate (missing, or its private key unreadable)",
        severity: Severity::Blocking,
        proof: "X.224 selected TLS, then the server closed or reset the connection at the \
                ClientHello, for the modern hello and for the most tolerant one (OpenSSL offering \
                TLS 1.0 to 1.2 with every suite at security level 0), so no TLS version or suite \
                changes it",
        server: WINDOWS_CERTIFICATE_FIX,
        client: "none: every client gets the same reset (mstsc: error 0x904, extended 0x7)",
        workaround: None,
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::RdpSecurityOnly,
        title: "Standard RDP Security only (no TLS, no NLA)",
        severity: Severity::Blocking,
        proof: "asked for TLS, the server selects Standard RDP Security, or refuses TLS with \
                SSL_NOT_ALLOWED_BY_SERVER",
        server: "set the security layer to Negotiate or SSL (Group Policy: Require use of specific \
                 security layer for remote (RDP) connections; xrdp: security_layer=negotiate or tls)",
        client: "current clients refuse Standard RDP Security; FreeRDP `/sec:rdp` still speaks it, \
                 without any server authentication",
        workaround: None,
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::CertificateMissing,
        title: "the server has no certificate it can use for TLS",
        severity: Severity::Blocking,
        proof: "the server refuses TLS with SSL_CERT_NOT_ON_SERVER",
        server: WINDOWS_CERTIFICATE_FIX,
        client: "none: no client can do TLS with the server until its certificate is fixed",
        workaround: None,
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::CertificateUnreadable,
        title: "the server presents a certificate that cannot be read",
        severity: Severity::Blocking,
        proof: "rustls and then OpenSSL refuse the certificate itself in the handshake (malformed \
                DER, a chain over their 64 KB and 100 KB limits), or it passes the handshake and \
                does not parse as X.509 (impossible dates); the certificate is the same for every \
                TLS version and suite, so no downgrade changes it",
        server: "replace the Remote Desktop certificate with a well-formed one and send a short \
                 chain (Windows: delete it from the Remote Desktop store in certlm.msc and restart \
                 TermService so that Windows makes a new one, or bind a CA-issued one; xrdp: \
                 certificate= must name a PEM certificate that `openssl x509 -noout -text` reads)",
        client: "none: no client can check or pin a certificate it cannot read",
        workaround: None,
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::TlsVersion,
        title: "the server speaks only TLS versions current clients refuse (below 1.2)",
        severity: Severity::Blocking,
        proof: "handshakes complete only with TLS 1.0 or 1.1; a ClientHello offering TLS 1.2 gets a \
                protocol_version alert",
        server: "enable TLS 1.2 (Server 2008 R2: KB3080079 and the SChannel Protocols\\TLS 1.2\\Server \
                 registry keys; xrdp: ssl_protocols=TLSv1.2, TLSv1.3)",
        client: "allow TLS 1.0/1.1 for this host only (FreeRDP 3: `/tls:seclevel:0,enforce:1.0`; \
                 Windows: SChannel Protocols\\TLS 1.0\\Client Enabled=1)",
        workaround: Some(Fallback::TlsVersionDowngrade),
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::Cipher,
        title: "the server offers only cipher suites current clients no longer offer (CBC, RSA key \
                exchange)",
        severity: Severity::Blocking,
        proof: "TLS 1.2 handshakes complete only with CBC suites or RSA key exchange; a ClientHello \
                with AEAD suites and forward secrecy gets a handshake_failure alert",
        server: "enable ECDHE suites with AES-GCM (Group Policy: SSL Cipher Suite Order; xrdp: \
                 tls_ciphers=HIGH)",
        client: "allow CBC/RSA suites for this host only (FreeRDP: `/tls:seclevel:0` or \
                 `/cipher-list:AES128-SHA`)",
        workaround: Some(Fallback::CipherDowngrade),
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::CredsspVersion,
        title: "CredSSP older than the CVE-2018-0886 update (encryption oracle remediation)",
        severity: Severity::Blocking,
        proof: "the server's TSRequest carries CredSSP version 2, 3 or 4; updated servers speak 5 or \
                6 (MS-CSSP 2.2.1: the nonce that closes CVE-2018-0886 came with version 5), and \
                updated clients refuse older servers under the default Mitigated policy",
        server: "install the May 2018 CredSSP update (CVE-2018-0886) or any later cumulative update",
        client: "temporarily, on the client only: Encryption Oracle Remediation = Vulnerable \
                 (AllowEncryptionOracle=2); undo it once the server is updated",
        workaround: None,
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::ClosedAfterTls,
        title: "the server closes the connection after the TLS handshake",
        severity: Severity::Blocking,
        proof: "the TLS handshake completed, then the server closed the socket instead of answering \
                the first CredSSP or MCS message",
        server: "check the System and TerminalServices event logs: a broken certificate binding, a \
                 CredSSP policy, or a security product ends the connection after TLS",
        client: "try without NLA or with another TLS version; when every configuration is cut the \
                 same way, the fix is on the server",
        workaround: None,
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::Licensing,
        title: "the server has no Remote Desktop licence to hand out",
        severity: Severity::Blocking,
        proof: "the licensing exchange after the connection sequence failed",
        server: "check RD Licensing: the licence server is reachable and activated and has CALs, the \
                 licensing mode (per user or per device) matches; the grace period may have ended",
        client: "none (clearing HKLM\\SOFTWARE\\Microsoft\\MSLicensing helps only a client whose \
                 cached licence is corrupt)",
        workaround: None,
        seen_by: SeenBy::Connect,
    },
    Cause {
        id: CauseId::GatewayUnreachable,
        title: "the RD Gateway does not answer",
        severity: Severity::Blocking,
        proof: "the gateway's name does not resolve, or every address refuses or drops TCP on its HTTPS \
                port, within the time limit",
        server: "check that the Remote Desktop Gateway service (TSGateway) and IIS run and that the \
                 gateway's HTTPS port (443 unless changed) is allowed in its firewall and published \
                 through any reverse proxy or load balancer in front of it",
        client: "check the gateway's name and port (`gatewayhostname`), DNS and the route to it; where \
                 the host is reachable without the gateway (inside the network), connect directly",
        workaround: Some(Fallback::DirectInsteadOfGateway),
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::GatewayTls,
        title: "the RD Gateway speaks only TLS versions or cipher suites current clients refuse",
        severity: Severity::Blocking,
        proof: "the gateway's HTTPS handshakes complete only with TLS 1.0 or 1.1 (a ClientHello offering \
                TLS 1.2 gets a protocol_version alert), or only with CBC suites or RSA key exchange \
                (a ClientHello with AEAD suites and forward secrecy gets a handshake_failure alert)",
        server: "enable TLS 1.2 and ECDHE suites with AES-GCM on the gateway (SChannel Protocols\\TLS \
                 1.2\\Server registry keys and SSL Cipher Suite Order; Server 2008 R2 needs KB3080079), \
                 and on any TLS-terminating proxy in front of it",
        client: "allow legacy TLS for this gateway only (FreeRDP 2: `/tls-seclevel:0`; FreeRDP 3: \
                 `/tls:seclevel:0,enforce:1.0`, which also apply to the gateway's TLS)",
        workaround: Some(Fallback::TlsVersionDowngrade),
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::GatewayCertificate,
        title: "the RD Gateway's certificate cannot be verified by clients",
        severity: Severity::Blocking,
        proof: "the gateway's certificate has expired or is not valid yet, does not name the gateway as \
                the client addresses it, or is self-signed; mstsc checks a gateway's certificate \
                strictly and offers no way to connect anyway (a self-signed one passes only once it \
                is installed in the client's Trusted Root store)",
        server: "bind a certificate from a CA the clients trust that names the gateway's public DNS name \
                 (RD Gateway Manager > Properties > SSL Certificate), and renew it before it expires",
        client: "address the gateway by a name its certificate carries; for a self-signed certificate, \
                 compare its SHA-256 fingerprint with the gateway's and install it in the Trusted Root \
                 store (FreeRDP: `/cert:deny,fingerprint:sha256:...`)",
        workaround: None,
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::GatewayAuth,
        title: "the RD Gateway refuses the HTTP authentication",
        severity: Severity::Blocking,
        proof: "the gateway's 401 answers offer only schemes this client cannot complete (Negotiate that \
                needs Kerberos without a reachable KDC, smart card), or it refused the credentials \
                with the schemes it offered (NTLM, Basic); the schemes offered and tried are the \
                evidence",
        server: "check the gateway's connection authorization policy (RD CAP: the user's group, the \
                 supported Windows authentication methods, device redirection requirements) and that \
                 the gateway offers NTLM next to Negotiate to clients outside the domain",
        client: "give the gateway account when it differs from the host's (mstsc: clear \"Use my RD \
                 Gateway credentials for the remote computer\"; FreeRDP `/gu:` `/gd:`); a Kerberos-only \
                 gateway needs a KDC the client can reach (or a KDC proxy)",
        workaround: None,
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::GatewayResourcePolicy,
        title: "the RD Gateway's resource authorization policy does not let this user reach the host",
        severity: Severity::Blocking,
        proof: "after authentication, the gateway answered the tunnel or channel request with \
                E_PROXY_RAP_ACCESSDENIED (MS-TSGU 2.2.6)",
        server: "add the host (as the client names it: the FQDN, the NetBIOS name or the IP address) to a \
                 computer group of a resource authorization policy (RD RAP) that the user's group is \
                 in, in RD Gateway Manager",
        client: "address the host by the name the policy lists (FQDN vs NetBIOS name vs IP address), or \
                 ask for the host to be added; inside the network, connect directly",
        workaround: Some(Fallback::DirectInsteadOfGateway),
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::NlaRequired,
        title: "the server requires NLA",
        severity: Severity::Conditional,
        proof: "asked for TLS without NLA, the server answers HYBRID_REQUIRED_BY_SERVER or selects NLA; \
                a client without NLA or without credentials up front fails",
        server: "nothing to fix: NLA is the secure setting; clear \"Allow connections only from \
                 computers running Remote Desktop with Network Level Authentication\" only if clients \
                 cannot do NLA",
        client: "give credentials up front (`rdpshim connect -u USER`; .rdp `enablecredsspsupport:i:1`; \
                 FreeRDP `/sec:nla /u:USER`)",
        workaround: None,
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::NlaRefused,
        title: "the server does not do NLA (TLS-only logon)",
        severity: Severity::Conditional,
        proof: "asked for NLA, the server selects TLS (or Standard RDP Security) or answers \
                SSL_REQUIRED_BY_SERVER; a client that requires NLA fails",
        server: "enable NLA (\"Allow connections only from computers running Remote Desktop with \
                 Network Level Authentication\"); xrdp has no NLA",
        client: "allow TLS-only logon for this host (.rdp `enablecredsspsupport:i:0`, FreeRDP \
                 `/sec:tls`)",
        workaround: Some(Fallback::NlaOff),
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::CertificateExpired,
        title: "the server certificate has expired or is not valid yet",
        severity: Severity::Conditional,
        proof: "the certificate's validity period does not include the current time",
        server: "renew the Remote Desktop certificate (a self-signed one: delete it from the Remote \
                 Desktop store and restart TermService; Windows makes a new one); not valid yet: \
                 check the server's clock",
        client: "mstsc warns and connects unless `authentication level:i:1` or a policy requires a \
                 valid certificate; check this machine's clock too",
        workaround: None,
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::CertificateName,
        title: "the server certificate does not name the host as typed",
        severity: Severity::Conditional,
        proof: "none of the certificate's names (subjectAltName DNS and IP entries, else the subject \
                CN) matches the name or IP address the connection was made to",
        server: "issue a certificate that carries every name clients use: the DNS names, and the IP \
                 address in subjectAltName if clients connect by IP",
        client: "connect by a name the certificate carries; mstsc warns and connects unless a policy \
                 requires a valid certificate",
        workaround: None,
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::CertificateSelfSigned,
        title: "the server certificate is self-signed",
        severity: Severity::Conditional,
        proof: "the certificate's issuer is its own subject and its signature verifies with its own key",
        server: "deploy a certificate from a CA the clients trust (a Remote Desktop certificate \
                 template through Group Policy)",
        client: "compare the SHA-256 fingerprint with the server's (certlm.msc > Remote Desktop) \
                 before trusting it; mstsc warns and connects unless a policy forbids it",
        workaround: None,
        seen_by: SeenBy::Both,
    },
    Cause {
        id: CauseId::LegacyTls,
        title: "TLS 1.0 or 1.1 accepted besides TLS 1.2",
        severity: Severity::Weakness,
        proof: "handshakes with TLS 1.0 or 1.1 complete, and so do handshakes with TLS 1.2 or newer",
        server: "disable TLS 1.0 and 1.1 once no client needs them (SChannel Protocols registry keys; \
                 xrdp: ssl_protocols=TLSv1.2, TLSv1.3)",
        client: "none needed",
        workaround: None,
        seen_by: SeenBy::Diagnose,
    },
    Cause {
        id: CauseId::NoForwardSecrecy,
        title: "cipher suites without forward secrecy accepted",
        severity: Severity::Weakness,
        proof: "handshakes complete with suites that use RSA key exchange (recorded sessions are \
                readable if the server's key ever leaks), besides suites with forward secrecy",
        server: "remove the TLS_RSA_* suites (Group Policy: SSL Cipher Suite Order; xrdp: \
                 tls_ciphers=HIGH:!kRSA)",
        client: "none needed",
        workaround: None,
        seen_by: SeenBy::Diagnose,
    },
    Cause {
        id: CauseId::RdpSecurityOffered,
        title: "Standard RDP Security accepted besides TLS",
        severity: Severity::Weakness,
        proof: "asked for Standard RDP Security, the server selects it; an MCS Connect Initial per \
                encryption method (as nmap's rdp-enum-encryption sends them) shows the levels it \
                accepts (none, 40, 56 or 128-bit RC4, FIPS)",
        server: "set the security layer to SSL or require NLA (xrdp: security_layer=tls)",
        client: "none needed; never choose Standard RDP Security (FreeRDP `/sec:rdp`)",
        workaround: None,
        seen_by: SeenBy::Diagnose,
    },
    Cause {
        id: CauseId::Bluekeep,
        title: "possibly exposed to CVE-2019-0708 (BlueKeep) if unpatched: an estimate from the OS \
                version",
        severity: Severity::Weakness,
        proof: "the OS version in the server's NTLM CHALLENGE is 6.1 (Windows 7, Server 2008 R2) or \
                older, the versions CVE-2019-0708 affects; whether the May 2019 update is installed \
                cannot be seen from outside, and NLA required limits the attack to holders of valid \
                credentials",
        server: "install the May 2019 security update (Windows 7 / Server 2008 R2: KB4499175 or a later \
                 rollup; XP / Server 2003: KB4500331), require NLA, and plan to retire the OS",
        client: "none",
        workaround: None,
        seen_by: SeenBy::Diagnose,
    },
];

/// A cause with the evidence that proved it here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub id: CauseId,
    pub evidence: String,
}

/// The cause one failed attempt points to, if any: what `connect`'s verdict and each matrix
/// cell name. `knobs` is what the attempt offered, because the same failure means different
/// things for different offers (a TLS version mismatch means "the server lacks TLS 1.2"
/// only when TLS 1.2 was offered; a server selecting Standard RDP Security refuses NLA when
/// NLA was asked for, and TLS when TLS was).
pub fn of_failure(knobs: &Knobs, stage: Stage, class: &FailureClass) -> Option<CauseId> {
    use FailureClass as F;
    let gateway_tls = knobs.route.gateway().map(|via| &via.tls);
    let cause = match (stage, class) {
        (Stage::GatewayConnect, F::Dns | F::TcpRefused | F::TcpTimeout | F::Timeout) => {
            CauseId::GatewayUnreachable
        }
        (Stage::GatewayTls, F::TlsVersionMismatch)
            if gateway_tls.is_some_and(|t| offered_versions(t).contains(&TlsVersion::Tls12)) =>
        {
            CauseId::GatewayTls
        }
        (Stage::GatewayTls, F::TlsCipherMismatch)
            if gateway_tls.is_some_and(|t| t.stack == TlsStack::Rustls) =>
        {
            CauseId::GatewayTls
        }
        (Stage::GatewayHttp, F::GatewayAuthFailed { .. }) => CauseId::GatewayAuth,
        (Stage::GatewayTunnel, F::GatewayResourceRefused) => CauseId::GatewayResourcePolicy,
        (_, F::Dns) => CauseId::NameResolution,
        (Stage::Tcp, F::TcpRefused) => CauseId::PortRefused,
        (Stage::Tcp, F::TcpTimeout | F::Timeout) => CauseId::PortFiltered,
        (Stage::X224 | Stage::Tls, F::Timeout) => CauseId::NotAnswering,
        (Stage::X224, F::PeerClosed) => CauseId::ClosedBeforeTls,
        (Stage::X224, F::ProtocolError) => CauseId::NotRdp,
        (Stage::X224, F::NegotiationFailure(code)) => match code {
            NegotiationCode::SslRequiredByServer => CauseId::NlaRefused,
            NegotiationCode::HybridRequiredByServer => CauseId::NlaRequired,
            NegotiationCode::SslNotAllowedByServer => CauseId::RdpSecurityOnly,
            NegotiationCode::SslCertNotOnServer => CauseId::CertificateMissing,
            _ => return None,
        },
        (Stage::X224, F::RdpSecuritySelected | F::UnrequestedProtocol(_)) => {
            match class.selected()?.nla() {
                Some(true) => CauseId::NlaRequired,
                Some(false) => CauseId::NlaRefused,
                // Standard RDP Security: asked for TLS (alone or in mstsc's offer), it refuses
                // TLS; asked for NLA only, it refuses NLA.
                None if class.selected() == Some(Protocol::Rdp)
                    && offers_tls_without_nla(knobs) =>
                {
                    CauseId::RdpSecurityOnly
                }
                None if class.selected() == Some(Protocol::Rdp) => CauseId::NlaRefused,
                None => return None,
            }
        }
        (Stage::Tls, F::TlsVersionMismatch)
            if offered_versions(&knobs.tls).contains(&TlsVersion::Tls12) =>
        {
            CauseId::TlsVersion
        }
        (Stage::Tls, F::TlsCipherMismatch) if knobs.tls.stack == TlsStack::Rustls => {
            CauseId::Cipher
        }
        (Stage::Tls, F::PeerClosed) => CauseId::ClosedDuringTls,
        // rustls alone refusing it proves nothing yet: OpenSSL reads some that webpki does
        // not (X.509 v1, chains up to 100 KB), and the planner tries it next.
        (Stage::Tls, class)
            if class.is_bad_certificate() && knobs.tls.stack == TlsStack::Openssl =>
        {
            CauseId::CertificateUnreadable
        }
        (Stage::Credssp | Stage::Mcs, F::PeerClosed) => CauseId::ClosedAfterTls,
        (Stage::Licensing, F::Licensing) => CauseId::Licensing,
        _ => return None,
    };
    Some(cause)
}

/// The causes a run's attempts proved, each with the attempts that show it, blocking first.
pub fn from_history(history: &[Tried]) -> Vec<Finding> {
    let mut found: Vec<(CauseId, Vec<String>)> = Vec::new();
    for (index, tried) in history.iter().enumerate() {
        for (id, what) in proves(tried) {
            let line = format!("attempt {} ({}): {what}", index + 1, describe(&tried.knobs));
            match found.iter_mut().find(|(c, _)| *c == id) {
                Some((_, lines)) => lines.push(line),
                None => found.push((id, alloc::vec![line])),
            }
        }
    }
    found.sort_by_key(|(id, _)| id.severity());
    found
        .into_iter()
        .map(|(id, lines)| Finding {
            id,
            evidence: lines.join("; "),
        })
        .collect()
}

/// What one attempt proves: the cause its failure points to, and, for mstsc's offer
/// (TLS|HYBRID|HYBRID_EX), `nla-refused` when the server chose anything but NLA from it (a
/// server that does NLA selects it when offered, as Windows does), each with the words of
/// the evidence.
fn proves(tried: &Tried) -> Vec<(CauseId, String)> {
    let mut proved = Vec::new();
    if let Some((stage, class)) = &tried.failure {
        if let Some(id) = of_failure(&tried.knobs, *stage, class) {
            proved.push((id, format!("{class} at {stage}")));
        }
    }
    let declined_nla = tried
        .selected
        .filter(|s| tried.knobs.nla == Nla::Negotiate && s.nla() != Some(true));
    if let Some(selected) = declined_nla {
        if proved.iter().all(|(id, _)| *id != CauseId::NlaRefused) {
            let offer: Vec<&str> = offered_protocols(&tried.knobs)
                .into_iter()
                .map(Protocol::as_str)
                .collect();
            proved.push((
                CauseId::NlaRefused,
                format!(
                    "offered {}, the server selected {selected}",
                    offer.join("|")
                ),
            ));
        }
    }
    proved
}

/// README's table of causes (id, severity, what proves it, remedies, workaround), written
/// from [`CAUSES`]; a test holds README to it.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| id | severity | what proves it | server | client | rdpshim connect |\n|---|---|---|---|---|---|\n",
    );
    for cause in &CAUSES {
        let workaround = match (cause.workaround, cause.seen_by) {
            (Some(fallback), _) => format!("`{fallback}` fallback"),
            (None, SeenBy::Diagnose) => String::from("(diagnose only)"),
            (None, _) => String::from("names it"),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            cause.id,
            cause.severity,
            one_line(cause.proof),
            one_line(cause.server),
            one_line(cause.client),
            workaround
        ));
    }
    out
}

/// The table's texts are wrapped in the source with `\` line continuations; a Markdown
/// cell is one line with no `|`.
fn one_line(text: &str) -> String {
    text.replace('|', "/")
}

#[cfg(test)]
mod tests;
