//! `diagnose --gateway`: the RD Gateway's probes that need no credentials. Its addresses
//! (every one, as the RDP server's), its TLS versions and suites (the same scan as the RDP
//! leg's, with the handshake straight away instead of after X.224), its certificate, and
//! its answer to an `RDG_OUT_DATA` request without credentials: the HTTP status and the
//! schemes of its `WWW-Authenticate` challenges (MS-TSGU 3.3.5.1; a Windows RD Gateway
//! answers 401 with `Negotiate` and `NTLM`, `Basic` when enabled). Every connection holds a
//! permit of the gateway's own gate and every step has a time limit; the answer is read up
//! to 16 KiB.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use ironrdp_tokio::bytes::BytesMut;
use tokio::io::AsyncWriteExt as _;

use super::super::framing::{self, FrameError};
use super::super::tls::probe::{handshake, Offer};
use super::{reach, tls_scan, ProbeLimits, Target};
use crate::diagnose::findings::{CertificateDetails, DnsFinding, TlsScan};
use crate::diagnose::gateway::HttpOffer;

/// The most of a gateway's answer read: a response head beyond it is not an RD Gateway's.
const MAX_HEAD: usize = 16 * 1024;

/// Why the unauthenticated request got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpProbeError {
    #[error("sending the request: {0}")]
    Send(String),
    #[error("reading the answer: {0}")]
    Read(String),
    #[error("the gateway closed the connection without an answer")]
    Closed,
    #[error("no end of the response head in {0} bytes")]
    TooLong(usize),
    /// The first line, made printable.
    #[error("not an HTTP answer: `{0}`")]
    NotHttp(String),
}

/// What the probes without credentials found.
pub struct Reached {
    pub dns: DnsFinding,
    pub probed: Option<SocketAddr>,
    pub tls: Option<TlsScan>,
    pub certificate: Option<CertificateDetails>,
    pub http: HttpOffer,
}

/// Reachability, the TLS scan, the certificate and the unauthenticated answer of the
/// gateway `host:port`.
pub async fn probe(host: &str, port: u16, limits: &ProbeLimits) -> Reached {
    let t = limits.timeouts;
    let dns = reach::reach_all(host, port, t.dns, t.tcp).await;
    let probed = dns.first_connected();
    let Some(address) = probed else {
        return Reached {
            dns,
            probed,
            tls: None,
            certificate: None,
            http: HttpOffer {
                error: Some("the gateway was not reached".into()),
                ..HttpOffer::default()
            },
        };
    };
    let target = Arc::new(Target::new(address, host, limits));
    let endpoint = crate::host::HostPort {
        host: host.to_owned(),
        port,
    }
    .to_string();
    let ((scan, certificate_der), http) = tokio::join!(
        tls_scan::scan(target.clone(), None),
        http_offer(&target, &endpoint)
    );
    let certificate =
        certificate_der.and_then(|der| super::super::cert::details(&der, SystemTime::now()).ok());
    Reached {
        dns,
        probed,
        tls: scan.any_accepted().then_some(scan),
        certificate,
        http,
    }
}

/// An `RDG_OUT_DATA` request without credentials (asking for the WebSocket upgrade, as
/// mstsc does) and the gateway's answer.
async fn http_offer(target: &Target, endpoint: &str) -> HttpOffer {
    let failed = |error: String| HttpOffer {
        error: Some(error),
        ..HttpOffer::default()
    };
    let (_permit, tcp) = match target.connect().await {
        Ok(pair) => pair,
        Err(refusal) => return failed(refusal.to_string()),
    };
    let t = target.timeouts;
    let stream =
        match tokio::time::timeout(t.tls, handshake(tcp, &Offer::Anything, &target.server_name))
            .await
        {
            Ok(Ok((_, stream))) => stream,
            Ok(Err(e)) => return failed(format!("TLS: {}", e.detail)),
            Err(_) => return failed("no TLS handshake within the limit".into()),
        };
    match tokio::time::timeout(t.connection, exchange(stream, endpoint)).await {
        Ok(Ok(head)) => match parse_head(&head) {
            Ok((status, schemes)) => HttpOffer {
                status: Some(status),
                schemes,
                error: None,
            },
            Err(why) => failed(why.to_string()),
        },
        Ok(Err(why)) => failed(why.to_string()),
        Err(_) => failed("no HTTP answer within the limit".into()),
    }
}

/// Sends the request, reads the response head (up to [`MAX_HEAD`]).
async fn exchange(
    mut stream: super::super::tls::BoxStream,
    endpoint: &str,
) -> Result<Vec<u8>, HttpProbeError> {
    let request = format!(
        "RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1\r\nHost: {endpoint}\r\n\
         Rdg-Connection-Id: {{00000000-0000-4000-8000-000000000001}}\r\nAccept: */*\r\n\
         Cache-Control: no-cache\r\nPragma: no-cache\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: cmRwc2hpbS1kaWFnbm9zZQ==\r\nContent-Length: 0\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| HttpProbeError::Send(e.to_string()))?;
    stream
        .flush()
        .await
        .map_err(|e| HttpProbeError::Send(e.to_string()))?;
    let mut head = BytesMut::new();
    match framing::read_http_head(&mut stream, &mut head, MAX_HEAD).await {
        Ok(false) if head.is_empty() => Err(HttpProbeError::Closed),
        Ok(_) => Ok(head.to_vec()),
        Err(FrameError::Io(e)) => Err(HttpProbeError::Read(e.to_string())),
        Err(_) => Err(HttpProbeError::TooLong(MAX_HEAD)),
    }
}

/// The status and the `WWW-Authenticate` schemes of a response head (schemes made
/// printable and cut to 40 characters: the gateway controls them).
pub fn parse_head(head: &[u8]) -> Result<(u16, Vec<String>), HttpProbeError> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    let status = match (version.starts_with("HTTP/1."), status) {
        (true, Some(status)) => status,
        _ => {
            let shown: String = status_line
                .chars()
                .take(60)
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
            return Err(HttpProbeError::NotHttp(shown));
        }
    };
    let mut schemes: Vec<String> = Vec::new();
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("www-authenticate") {
            continue;
        }
        // One header may carry several challenges; a scheme is a token at the start of a
        // challenge (a parameter has `=`).
        for part in value.split(',') {
            let Some(token) = part.split_whitespace().next() else {
                continue;
            };
            if token.contains('=') {
                continue;
            }
            let token: String = token
                .chars()
                .take(40)
                .filter(|c| c.is_ascii_graphic())
                .collect();
            if !token.is_empty() && !schemes.iter().any(|s| s.eq_ignore_ascii_case(&token)) {
                schemes.push(token);
            }
        }
    }
    Ok((status, schemes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_401_gives_its_schemes_in_order() {
        let head = b"HTTP/1.1 401 Unauthorized\r\nServer: Microsoft-HTTPAPI/2.0\r\n\
            WWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM\r\n\
            www-authenticate: Basic realm=\"gw.corp\", NTLM\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            parse_head(head),
            Ok((401, vec!["Negotiate".into(), "NTLM".into(), "Basic".into()]))
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
            Ok((101, vec![]))
        );
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n").is_err());
        let (_, hostile) =
            parse_head(b"HTTP/1.1 401 x\r\nWWW-Authenticate: \x1b[2JEvil\r\n\r\n").unwrap();
        assert!(hostile.iter().all(|s| !s.contains('\x1b')), "{hostile:?}");
    }
}
