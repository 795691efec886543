//! `diagnose HOST --gateway GW`: the gateway's probes without credentials
//! (`engine::probe::gateway`: reachability, TLS scan, certificate, the schemes of its 401),
//! and with credentials a tunnel to the host: first asking for the WebSocket transport only
//! (so its answer tells whether the gateway upgrades), then the legacy HTTP transport when
//! it does not, and NTLM when a Kerberos-only `Negotiate` offered first could not complete.
//! The tunnel is closed again at once: whether the gateway lets the account reach the host
//! is all it is for.

use crate::attempt::{TlsChoice, TlsStack};
use crate::diagnose::findings::{Refusal, TlsScan, Tri};
use crate::diagnose::gateway::{GatewayFindings, TunnelFinding};
use crate::engine::probe::{gateway as probes, ProbeLimits};
use crate::report::{FailureClass, Stage};

use super::{
    open, GatewayAuth, GatewayCredentials, GatewayError, GatewaySpec, GatewayTimeouts, Transport,
};

/// Everything `diagnose` learns about the gateway `gateway:port` in front of
/// `target_host:target_port`; the tunnel only with `credentials`.
pub async fn diagnose(
    gateway: &str,
    port: u16,
    target_host: &str,
    target_port: u16,
    credentials: Option<GatewayCredentials>,
    limits: &ProbeLimits,
) -> GatewayFindings {
    let reached = probes::probe(gateway, port, limits).await;
    let mut findings = GatewayFindings {
        host: gateway.to_owned(),
        port,
        dns: reached.dns,
        probed: reached.probed,
        tls: reached.tls,
        certificate: reached.certificate,
        http: reached.http,
        websocket: Tri::Unknown,
        tunnel: None,
    };
    let (Some(credentials), Some(_)) = (credentials, findings.probed) else {
        return findings;
    };
    let user = match &credentials.domain {
        Some(domain) if !domain.is_empty() => format!("{domain}\\{}", credentials.username),
        _ => credentials.username.clone(),
    };
    let t = limits.timeouts;
    let mut spec = GatewaySpec::new(gateway, port, credentials);
    spec.tls = best_tls(findings.tls.as_ref());
    spec.timeouts = GatewayTimeouts {
        dns: t.dns,
        tcp: t.tcp,
        tls: t.tls,
        tunnel: t.connection,
    };
    spec.transport = Transport::WebSocket;
    let mut result = open(&spec, target_host, target_port).await;
    findings.websocket = websocket(&result);
    if findings.websocket == Tri::No {
        spec.transport = Transport::LegacyHttp;
        result = open(&spec, target_host, target_port).await;
    }
    if negotiate_alone_failed(&result) {
        spec.auth = GatewayAuth::Ntlm;
        result = open(&spec, target_host, target_port).await;
        if findings.websocket == Tri::Unknown && spec.transport == Transport::WebSocket {
            findings.websocket = websocket(&result);
        }
    }
    findings.tunnel = Some(match result {
        Ok(tunnel) => TunnelFinding {
            user,
            transport: Some(tunnel.transport),
            refusal: None,
        },
        Err(error) => TunnelFinding {
            user,
            transport: None,
            refusal: Some(Refusal::Failed(error.failure())),
        },
    });
    findings
}

/// The TLS the scan proved: the modern stack when a modern client gets through, else
/// OpenSSL with the newest version the gateway accepted.
fn best_tls(scan: Option<&TlsScan>) -> TlsChoice {
    let Some(scan) = scan.filter(|s| !s.modern_client_ok) else {
        return TlsChoice::modern();
    };
    TlsChoice {
        stack: TlsStack::Openssl,
        version: scan
            .versions
            .iter()
            .filter(|v| v.accepted)
            .map(|v| v.version)
            .max(),
        ciphers: None,
    }
}

/// What an attempt asking for the WebSocket transport only says about it.
fn websocket<T>(result: &Result<T, GatewayError>) -> Tri {
    match result {
        Ok(_) => Tri::Yes,
        Err(e) => match (e.stage(), e.class()) {
            (_, FailureClass::GatewayTransportRefused)
            | (Stage::GatewayHttp, FailureClass::ProtocolError) => Tri::No,
            // Past the upgrade: the tunnel's packets went over the WebSocket.
            (Stage::GatewayTunnel, _) => Tri::Yes,
            _ => Tri::Unknown,
        },
    }
}

/// `Negotiate` was tried alone and failed while the gateway also offered NTLM.
fn negotiate_alone_failed<T>(result: &Result<T, GatewayError>) -> bool {
    let Err(GatewayError::Authentication { offered, tried }) = result else {
        return false;
    };
    let named = |list: &[String], scheme: &str| list.iter().any(|s| s.eq_ignore_ascii_case(scheme));
    named(offered, "NTLM") && !named(tried, "NTLM") && !named(tried, "Basic")
}
