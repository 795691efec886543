//! The gateway transport against the in-process test gateway (rdpshim-test-gateway), one
//! switch at a time. The target behind the gateway is a TCP echo server: these tests are
//! about the tunnel; the lab tests (`tests/integration/lab/gateway.rs`) put real RDP
//! servers behind it.

use std::net::SocketAddr;
use std::time::Duration;

use rdpshim_test_gateway::{spawn, Config, Event, Scheme, TlsMode};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::*;
use crate::attempt::{TlsStack, TlsVersion};
use crate::report::{FailureClass, Stage};

const USER: &str = "gwuser";
const PASSWORD: &str = "Gw-Passw0rd!";

/// A TCP server on loopback that echoes what it reads; its address.
async fn echo_target() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 || socket.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn spec(gateway: SocketAddr, password: &str) -> GatewaySpec {
    let mut spec = GatewaySpec::new(
        gateway.ip().to_string(),
        gateway.port(),
        GatewayCredentials {
            username: USER.into(),
            domain: None,
            password: Password::new(password),
        },
    );
    spec.timeouts = GatewayTimeouts::uniform(Duration::from_secs(5));
    spec
}

/// Bytes go through the tunnel and come back.
async fn assert_relays(tunnel: &mut Tunnel) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    tunnel
        .stream
        .write_all(b"through the gateway")
        .await
        .unwrap();
    tunnel.stream.flush().await.unwrap();
    let mut buf = [0u8; 19];
    tokio::time::timeout(Duration::from_secs(5), tunnel.stream.read_exact(&mut buf))
        .await
        .expect("echo within 5 s")
        .unwrap();
    assert_eq!(&buf, b"through the gateway");
}

async fn open_err(spec: &GatewaySpec, target: SocketAddr) -> GatewayError {
    match open(spec, &target.ip().to_string(), target.port()).await {
        Ok(tunnel) => panic!("expected a failure, got {tunnel:?}"),
        Err(error) => error,
    }
}

#[tokio::test]
async fn websocket_first_with_ntlm() {
    let target = echo_target().await;
    let gateway = spawn(Config::new(USER, PASSWORD)).await.unwrap();
    let spec = spec(gateway.addr, PASSWORD);
    let mut tunnel = open(&spec, &target.ip().to_string(), target.port())
        .await
        .unwrap();
    assert_eq!(tunnel.transport, TransportUsed::WebSocket);
    assert_eq!(tunnel.certificate.sha256, gateway.fingerprint);
    assert_relays(&mut tunnel).await;
    assert!(gateway.events().contains(&Event::Authenticated {
        scheme: "NTLM".into(),
        user: USER.into()
    }));
}

#[tokio::test]
async fn legacy_http_when_the_gateway_has_no_websocket() {
    let target = echo_target().await;
    let mut config = Config::new(USER, PASSWORD);
    config.websocket = false;
    let gateway = spawn(config).await.unwrap();
    let mut spec = spec(gateway.addr, PASSWORD);

    let mut tunnel = open(&spec, &target.ip().to_string(), target.port())
        .await
        .unwrap();
    assert_eq!(tunnel.transport, TransportUsed::LegacyHttp);
    assert_relays(&mut tunnel).await;

    spec.transport = Transport::WebSocket;
    let error = open_err(&spec, target).await;
    assert_eq!(error, GatewayError::TransportRefused { status: 200 });
    assert_eq!(error.class(), FailureClass::GatewayTransportRefused);
    assert_eq!(error.stage(), Stage::GatewayHttp);
}

#[tokio::test]
async fn legacy_http_on_request_even_when_websocket_works() {
    let target = echo_target().await;
    let gateway = spawn(Config::new(USER, PASSWORD)).await.unwrap();
    let mut spec = spec(gateway.addr, PASSWORD);
    spec.transport = Transport::LegacyHttp;
    let mut tunnel = open(&spec, &target.ip().to_string(), target.port())
        .await
        .unwrap();
    assert_eq!(tunnel.transport, TransportUsed::LegacyHttp);
    assert_relays(&mut tunnel).await;
}

#[tokio::test]
async fn basic_when_that_is_all_the_gateway_offers() {
    let target = echo_target().await;
    let mut config = Config::new(USER, PASSWORD);
    config.schemes = vec![Scheme::Basic];
    let gateway = spawn(config).await.unwrap();
    let mut tunnel = open(
        &spec(gateway.addr, PASSWORD),
        &target.ip().to_string(),
        target.port(),
    )
    .await
    .unwrap();
    assert_relays(&mut tunnel).await;
    assert!(gateway.events().contains(&Event::Authenticated {
        scheme: "Basic".into(),
        user: USER.into()
    }));
}

#[tokio::test]
async fn a_wrong_password_names_the_schemes_offered_and_tried() {
    let target = echo_target().await;
    let gateway = spawn(Config::new(USER, PASSWORD)).await.unwrap();
    let error = open_err(&spec(gateway.addr, "wrong"), target).await;
    let GatewayError::Authentication { offered, tried } = &error else {
        panic!("expected an authentication failure, got {error:?}");
    };
    assert_eq!(offered, &["NTLM", "Basic"]);
    assert_eq!(tried.first().map(String::as_str), Some("NTLM"), "{error}");
    assert_eq!(error.class().as_str(), "gateway-auth-failed");
    assert!(!gateway
        .events()
        .iter()
        .any(|e| matches!(e, Event::Authenticated { .. })));
}

#[tokio::test]
async fn a_scheme_we_cannot_complete_is_an_authentication_failure() {
    // A Kerberos-only gateway (Negotiate offered, never accepted here) with no KDC.
    let target = echo_target().await;
    let mut config = Config::new(USER, PASSWORD);
    config.schemes = vec![Scheme::Negotiate];
    let gateway = spawn(config).await.unwrap();
    let error = open_err(&spec(gateway.addr, PASSWORD), target).await;
    let GatewayError::Authentication { offered, .. } = &error else {
        panic!("expected an authentication failure, got {error:?}");
    };
    assert_eq!(offered, &["Negotiate"]);
}

#[tokio::test]
async fn the_resource_policy_refuses_a_target() {
    let target = echo_target().await;
    let mut config = Config::new(USER, PASSWORD);
    config.allow = vec!["allowed.example".into()];
    let gateway = spawn(config).await.unwrap();
    let error = open_err(&spec(gateway.addr, PASSWORD), target).await;
    assert!(
        matches!(error, GatewayError::ResourceRefused { .. }),
        "{error:?}"
    );
    assert_eq!(error.class(), FailureClass::GatewayResourceRefused);
    assert_eq!(error.stage(), Stage::GatewayTunnel);
    assert!(error.to_string().contains("E_PROXY_RAP_ACCESSDENIED"));
}

#[tokio::test]
async fn a_target_the_gateway_cannot_reach() {
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let gateway = spawn(Config::new(USER, PASSWORD)).await.unwrap();
    let error = open_err(&spec(gateway.addr, PASSWORD), closed).await;
    assert!(
        matches!(error, GatewayError::TargetUnreachable { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_tls_1_0_gateway_needs_the_openssl_rung() {
    let target = echo_target().await;
    let mut config = Config::new(USER, PASSWORD);
    config.tls = TlsMode::Legacy;
    let gateway = spawn(config).await.unwrap();
    let mut spec = spec(gateway.addr, PASSWORD);

    let error = open_err(&spec, target).await;
    assert_eq!(error.class(), FailureClass::TlsVersionMismatch, "{error}");
    assert_eq!(error.stage(), Stage::GatewayTls);

    spec.tls = TlsChoice {
        stack: TlsStack::Openssl,
        version: Some(TlsVersion::Tls10),
        ciphers: None,
    };
    let mut tunnel = open(&spec, &target.ip().to_string(), target.port())
        .await
        .unwrap();
    assert_eq!(tunnel.tls.version, TlsVersion::Tls10);
    assert_relays(&mut tunnel).await;
}

#[tokio::test]
async fn a_changed_gateway_certificate_stops_before_authentication() {
    let target = echo_target().await;
    let gateway = spawn(Config::new(USER, PASSWORD)).await.unwrap();
    let mut spec = spec(gateway.addr, PASSWORD);
    spec.pinned_certificate = Some("00:11".into());
    let error = open_err(&spec, target).await;
    assert!(
        matches!(error, GatewayError::CertificateChanged { .. }),
        "{error:?}"
    );
    assert!(gateway.events().is_empty(), "{:?}", gateway.events());
}

#[tokio::test]
async fn an_unreachable_gateway() {
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let error = open_err(&spec(closed, PASSWORD), closed).await;
    assert_eq!(error.stage(), Stage::GatewayConnect);
    assert_eq!(error.class(), FailureClass::TcpRefused);
}
