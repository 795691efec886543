//! Stages of the RDP connection sequence: where an attempt got to, and where it failed.

use core::fmt;

use serde::Serialize;

/// Stages of the RDP connection sequence, in order (MS-RDPBCGR 1.3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Dns,
    /// Through an RD Gateway (`route::gateway`): name resolution and TCP to the gateway.
    GatewayConnect,
    /// The gateway's HTTPS handshake.
    GatewayTls,
    /// HTTP authentication to the gateway and the transport (WebSocket or legacy HTTP).
    GatewayHttp,
    /// MS-TSGU handshake, tunnel and channel creation (where the resource policy answers).
    GatewayTunnel,
    Tcp,
    /// X.224 Connection Request / Confirm with RDP_NEG_REQ / RDP_NEG_RSP.
    X224,
    Tls,
    Credssp,
    /// MCS Connect Initial/Response (GCC blocks), channel joins, Client Info.
    Mcs,
    Licensing,
    /// Multitransport bootstrapping, Demand/Confirm Active, finalization.
    Capabilities,
    /// Active session until the first graphics update is decoded.
    FirstFrame,
}

impl Stage {
    /// In connection order.
    pub const ALL: [Stage; 13] = [
        Self::Dns,
        Self::GatewayConnect,
        Self::GatewayTls,
        Self::GatewayHttp,
        Self::GatewayTunnel,
        Self::Tcp,
        Self::X224,
        Self::Tls,
        Self::Credssp,
        Self::Mcs,
        Self::Licensing,
        Self::Capabilities,
        Self::FirstFrame,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::GatewayConnect => "gateway-connect",
            Self::GatewayTls => "gateway-tls",
            Self::GatewayHttp => "gateway-http",
            Self::GatewayTunnel => "gateway-tunnel",
            Self::Tcp => "tcp",
            Self::X224 => "x224",
            Self::Tls => "tls",
            Self::Credssp => "credssp",
            Self::Mcs => "mcs",
            Self::Licensing => "licensing",
            Self::Capabilities => "capabilities",
            Self::FirstFrame => "first-frame",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
