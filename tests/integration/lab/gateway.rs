//! Through an RD Gateway: the test gateway (rdpshim-test-gateway, in-process) in front of
//! the lab's real servers. First a real client, FreeRDP 2.11, proves that the gateway
//! speaks MS-TSGU (not only rdpshim's dialect of it); then rdpshim's engine makes one
//! attempt through `route::gateway` per case, and each gateway failure comes back as its
//! typed cause.

use std::time::Duration;

use rdpshim::attempt::{
    AttemptSpec, Credentials, Nla, StageTimeouts, TlsChoice, TlsStack, TlsVersion,
};
use rdpshim::engine::run_attempt_over;
use rdpshim::report::{AttemptReport, FailureClass, Stage};
use rdpshim::route::gateway::{
    self, GatewayCredentials, GatewayError, GatewaySpec, GatewayTimeouts, Transport, TransportUsed,
};
use rdpshim::secret::Password;
use rdpshim_lab::LabServer;
use rdpshim_test_gateway::{spawn, Config, Event, Gateway, TlsMode};

use crate::exports::xfreerdp;

pub(crate) const GW_USER: &str = "gwuser";
pub(crate) const GW_PASSWORD: &str = "Gw-Passw0rd!";

/// A runtime whose worker threads serve the in-process gateway while the test blocks
/// (also `gateway_ladder.rs`'s and `hostile.rs`'s).
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub(crate) fn start_gateway(rt: &tokio::runtime::Runtime, config: Config) -> Gateway {
    rt.block_on(spawn(config)).expect("test gateway starts")
}

/// `xfreerdp +auth-only` to `server` through `gateway`; extra arguments appended.
fn xfreerdp_via(server: &LabServer, gateway: &Gateway, extra: &[&str]) -> (bool, String) {
    let (user, password) = if server.user.is_empty() {
        ("labuser".to_owned(), "not-needed".to_owned())
    } else {
        (server.user.clone(), server.password.clone())
    };
    let mut args: Vec<String> = vec![
        "xfreerdp".into(),
        format!("/v:{}", server.addr()),
        format!("/g:{}", gateway.addr),
        format!("/gu:{GW_USER}"),
        format!("/gp:{GW_PASSWORD}"),
        format!("/u:{user}"),
        format!("/p:{password}"),
        "+auth-only".into(),
        "/cert:ignore".into(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    xfreerdp(server, &args)
}

fn tunnels(gateway: &Gateway) -> Vec<&'static str> {
    gateway
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Tunnel { transport, .. } => Some(transport),
            _ => None,
        })
        .collect()
}

#[test]
fn xfreerdp_reaches_xrdp_through_the_gateway_on_both_transports() {
    let server = lab!("xrdp-modern");
    let rt = runtime();
    let gw = start_gateway(&rt, Config::new(GW_USER, GW_PASSWORD));

    let (ok, log) = xfreerdp_via(&server, &gw, &["/gt:http"]);
    assert!(ok, "xfreerdp over the WebSocket transport:\n{log}");
    let (ok, log) = xfreerdp_via(&server, &gw, &["/gt:http,no-websockets"]);
    assert!(ok, "xfreerdp over the legacy HTTP transport:\n{log}");
    assert_eq!(tunnels(&gw), ["websocket", "legacy-http"]);
}

#[test]
fn xfreerdp_reaches_the_nla_server_through_a_tls_1_0_gateway() {
    let server = lab!("shadow-nla");
    let rt = runtime();
    let mut config = Config::new(GW_USER, GW_PASSWORD);
    config.tls = TlsMode::Legacy;
    let gw = start_gateway(&rt, config);

    // FreeRDP 2.11's default security level refuses the TLS 1.0 gateway, as it refuses a
    // TLS 1.0 RDP server; /tls-seclevel:0 is the documented remedy for both.
    let (ok, log) = xfreerdp_via(&server, &gw, &[]);
    assert!(!ok, "a TLS 1.0 gateway needs /tls-seclevel:0:\n{log}");
    let (ok, log) = xfreerdp_via(&server, &gw, &["/tls-seclevel:0"]);
    assert!(ok, "xfreerdp through the TLS 1.0 gateway to NLA:\n{log}");
    assert_eq!(tunnels(&gw), ["websocket"]);
}

#[test]
fn xfreerdp_fails_when_the_resource_policy_refuses_the_target() {
    let server = lab!("xrdp-modern");
    let rt = runtime();
    let mut config = Config::new(GW_USER, GW_PASSWORD);
    config.allow = vec!["allowed.example".into()];
    let gw = start_gateway(&rt, config);

    let (ok, log) = xfreerdp_via(&server, &gw, &[]);
    assert!(!ok, "xfreerdp must fail on a refused target:\n{log}");
    assert!(log.contains("E_PROXY_RAP_ACCESSDENIED"), "{log}");
    assert!(tunnels(&gw).is_empty());
    assert!(gw
        .events()
        .iter()
        .any(|e| matches!(e, Event::Refused { port, .. } if *port == server.port)));
}

pub(crate) fn gateway_spec(gw: &Gateway) -> GatewaySpec {
    let mut spec = GatewaySpec::new(
        gw.addr.ip().to_string(),
        gw.addr.port(),
        GatewayCredentials {
            username: GW_USER.into(),
            domain: None,
            password: Password::new(GW_PASSWORD),
        },
    );
    spec.timeouts = GatewayTimeouts::uniform(Duration::from_secs(10));
    spec
}

fn attempt_spec(server: &LabServer, tls: TlsChoice) -> AttemptSpec {
    let mut spec = AttemptSpec::strongest(server.host.clone(), server.port);
    spec.tls = tls;
    spec.timeouts = StageTimeouts::uniform(Duration::from_secs(10));
    if server.user.is_empty() {
        spec.nla = Nla::Off;
    } else {
        spec.credentials = Some(Credentials {
            username: server.user.clone(),
            domain: None,
            password: Password::new(server.password.clone()),
        });
    }
    spec
}

/// One engine attempt to `server` through the gateway in `gw_spec`.
fn attempt_via(
    rt: &tokio::runtime::Runtime,
    gw_spec: &GatewaySpec,
    server: &LabServer,
    tls: TlsChoice,
) -> Result<(TransportUsed, AttemptReport), GatewayError> {
    let spec = attempt_spec(server, tls);
    rt.block_on(async {
        let tunnel = gateway::open(gw_spec, &server.host, server.port).await?;
        let transport = tunnel.transport;
        Ok((transport, run_attempt_over(&spec, tunnel.stream).await))
    })
}

fn openssl_tls10() -> TlsChoice {
    TlsChoice {
        stack: TlsStack::Openssl,
        version: Some(TlsVersion::Tls10),
        ciphers: None,
    }
}

#[test]
fn the_engine_reaches_a_tls_1_0_server_through_the_gateway() {
    let server = lab!("xrdp-tls10");
    let rt = runtime();
    let gw = start_gateway(&rt, Config::new(GW_USER, GW_PASSWORD));
    let spec = gateway_spec(&gw);

    let (transport, report) =
        attempt_via(&rt, &spec, &server, openssl_tls10()).expect("tunnel opens");
    assert_eq!(transport, TransportUsed::WebSocket);
    let connected = report
        .result
        .as_ref()
        .expect("first frame through the gateway");
    assert!(connected.desktop_width > 0);
    assert_eq!(report.tls.as_ref().unwrap().version, TlsVersion::Tls10);
    // The RDP leg keeps its own TLS rungs through the tunnel: modern TLS still fails there.
    let (_, report) = attempt_via(&rt, &spec, &server, TlsChoice::modern()).expect("tunnel opens");
    let failure = report.result.unwrap_err();
    assert_eq!(
        (failure.stage, failure.class),
        (Stage::Tls, FailureClass::TlsVersionMismatch)
    );
}

#[test]
fn the_engine_reaches_the_nla_server_through_a_legacy_gateway() {
    let server = lab!("shadow-nla");
    let rt = runtime();
    let mut config = Config::new(GW_USER, GW_PASSWORD);
    config.tls = TlsMode::Legacy;
    config.websocket = false;
    let gw = start_gateway(&rt, config);
    let mut spec = gateway_spec(&gw);

    // The gateway's own TLS: the modern rung fails as a version mismatch at gateway-tls.
    let error = attempt_via(&rt, &spec, &server, TlsChoice::modern()).unwrap_err();
    assert_eq!(error.stage(), Stage::GatewayTls);
    assert_eq!(error.class(), FailureClass::TlsVersionMismatch);

    // WebSocket only: refused, typed.
    spec.tls = openssl_tls10();
    spec.transport = Transport::WebSocket;
    let error = attempt_via(&rt, &spec, &server, TlsChoice::modern()).unwrap_err();
    assert_eq!(error.class(), FailureClass::GatewayTransportRefused);

    spec.transport = Transport::Auto;
    let (transport, report) =
        attempt_via(&rt, &spec, &server, TlsChoice::modern()).expect("tunnel opens");
    assert_eq!(transport, TransportUsed::LegacyHttp);
    let connected = report
        .result
        .as_ref()
        .expect("NLA to first frame through the gateway");
    assert!(
        connected.selected_protocol.starts_with("hybrid"),
        "NLA: {connected:?}"
    );
}

#[test]
fn gateway_refusals_are_typed_with_real_servers_behind() {
    let server = lab!("shadow-nla");
    let rt = runtime();
    let mut config = Config::new(GW_USER, GW_PASSWORD);
    config.allow = vec![format!("{}:{}", server.host, server.port + 1)];
    let gw = start_gateway(&rt, config);
    let mut spec = gateway_spec(&gw);

    let error = attempt_via(&rt, &spec, &server, TlsChoice::modern()).unwrap_err();
    assert_eq!(
        error.class(),
        FailureClass::GatewayResourceRefused,
        "{error}"
    );
    assert_eq!(error.failure().stage, Stage::GatewayTunnel);

    spec.credentials.password = Password::new("wrong");
    let error = attempt_via(&rt, &spec, &server, TlsChoice::modern()).unwrap_err();
    assert!(
        matches!(&error, GatewayError::Authentication { offered, .. } if offered == &["NTLM", "Basic"]),
        "{error:?}"
    );
    // The gateway password is never part of what a failure says.
    assert!(!format!("{error} {error:?}").contains(GW_PASSWORD));
    assert!(!format!("{error} {error:?}").contains("wrong"));
}
