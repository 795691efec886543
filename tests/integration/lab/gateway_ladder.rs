//! The route dimension end to end: the real `rdpshim` binary through the test RD Gateway
//! (rdpshim-test-gateway, in-process) to the lab's real servers. Each gateway failure mode
//! ends in its fallback or its verdict; a host only the gateway reaches is reached through
//! it; `diagnose --gateway` and `matrix --gateway` see the same; the exports go through
//! the gateway with FreeRDP 2.11.
//!
//! Credentials: the gateway's account is `gwuser` (`--gateway-user`, its password on
//! standard input when no `-u` takes it), or the host's own account, which then serves for
//! the gateway too (mstsc's "use my RD Gateway credentials for the remote computer").

use std::net::TcpListener;

use rdpshim_test_gateway::{spawn, Config, Event, Gateway, Scheme, TlsMode};
use serde_json::Value;

use crate::common::{config_dir, ladder, rdpshim, saved_profile_file, LabServer, Run};
use crate::exports::xfreerdp;
use crate::gateway::{runtime, GW_PASSWORD, GW_USER};

fn gateway(rt: &tokio::runtime::Runtime, change: impl FnOnce(&mut Config)) -> Gateway {
    let mut config = Config::new(GW_USER, GW_PASSWORD);
    change(&mut config);
    rt.block_on(spawn(config)).expect("test gateway starts")
}

/// `rdpshim connect` (the ladder, `--json`) to `server` through `gw` as `gwuser`, its
/// password on standard input (no `-u`: the host needs none).
fn via_as_gwuser(server: &LabServer, gw: &Gateway, extra: &[&str]) -> Run {
    let address = gw.addr.to_string();
    let mut args = vec![
        "--gateway",
        &address,
        "--gateway-user",
        GW_USER,
        "--password-stdin",
    ];
    args.extend_from_slice(extra);
    ladder(server, &args, Some(&format!("{GW_PASSWORD}\n")))
}

fn attempts(run: &Run) -> Vec<Value> {
    run.json()["attempts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn routes(run: &Run) -> Vec<String> {
    attempts(run)
        .iter()
        .map(|a| a["route"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn last(run: &Run) -> Value {
    attempts(run).last().cloned().unwrap_or(Value::Null)
}

fn tunnels(gw: &Gateway) -> Vec<&'static str> {
    gw.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Tunnel { transport, .. } => Some(transport),
            _ => None,
        })
        .collect()
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn cause_ids(run: &Run) -> Vec<String> {
    run.json()["verdict"]["causes"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn through_the_gateway_to_the_tls_1_0_server() {
    let server = lab!("xrdp-tls10");
    let rt = runtime();
    let gw = gateway(&rt, |_| {});

    let run = via_as_gwuser(&server, &gw, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The RDP leg's own ladder, through the tunnel, every attempt through the gateway.
    assert_eq!(run.fallbacks(), ["nla-off", "tls-version-downgrade"]);
    assert!(
        routes(&run).iter().all(|r| r == "gateway"),
        "{:?}",
        routes(&run)
    );
    let won = last(&run);
    assert_eq!(won["tls"]["version"], "1.0");
    assert_eq!(won["gateway"]["transport"], "websocket");
    assert_eq!(won["gateway"]["tls"]["version"], "1.3");
    assert!(tunnels(&gw).iter().all(|t| *t == "websocket"));
    assert_eq!(tunnels(&gw).len(), run.attempts(), "one tunnel per attempt");
    // The gateway password never reaches output or the profile.
    assert!(!run.stdout.contains(GW_PASSWORD) && !run.stderr.contains(GW_PASSWORD));
    let profile = std::fs::read_to_string(saved_profile_file(&server)).unwrap();
    assert!(!profile.contains(GW_PASSWORD), "{profile}");
    assert!(
        profile.starts_with("schema = 2\n") && profile.contains("[gateway]"),
        "{profile}"
    );
    assert!(profile.contains("username = \"gwuser\""), "{profile}");

    // The profile remembers the route: one attempt next time, without --gateway.
    let again = ladder(
        &server,
        &["--password-stdin"],
        Some(&format!("{GW_PASSWORD}\n")),
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.attempts(), 1, "{}", again.stderr);
    assert_eq!(routes(&again), ["gateway"]);
}

/// A gateway that speaks only TLS 1.0 and only the legacy HTTP transport, in front of the
/// NLA server; the host's account serves for the gateway.
#[test]
fn through_a_legacy_gateway_to_the_nla_server() {
    let server = lab!("shadow-nla");
    let rt = runtime();
    let gw = gateway(&rt, |c| {
        c.tls = TlsMode::Legacy;
        c.websocket = false;
        c.user = server.user.clone();
        c.password = server.password.clone();
    });
    let address = gw.addr.to_string();
    let run = ladder(
        &server,
        &[
            "-u",
            &server.user,
            "--password-stdin",
            "--gateway",
            &address,
        ],
        Some(&format!("{}\n", server.password)),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The gateway's TLS walked its own rungs, announced as such; the RDP leg stayed modern.
    assert_eq!(run.fallbacks(), ["tls-version-downgrade"]);
    assert!(
        run.stderr
            .contains("warning: tls-version-downgrade (the RD Gateway's TLS)"),
        "{}",
        run.stderr
    );
    let firsts: Vec<String> = attempts(&run)
        .iter()
        .map(|a| {
            format!(
                "{} at {}",
                a["outcome"].as_str().unwrap(),
                a["stage"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        firsts,
        // TLS 1.3/1.2 refused, then the legacy hello, from which the gateway picks TLS 1.0.
        ["tls-version-mismatch at gateway-tls", "ok at first-frame"]
    );
    let won = last(&run);
    assert_eq!(won["gateway"]["tls"]["version"], "1.0");
    assert_eq!(won["gateway"]["transport"], "legacy-http");
    assert_eq!(won["tls"]["stack"], "rustls");
    assert!(
        won["selected_protocol"]
            .as_str()
            .unwrap()
            .starts_with("hybrid"),
        "NLA through the tunnel: {won}"
    );
    assert!(
        run.stderr.contains("through the RD Gateway with TLS 1.0"),
        "{}",
        run.stderr
    );
    assert_eq!(tunnels(&gw), ["legacy-http"]);
    assert!(gw
        .events()
        .iter()
        .any(|e| matches!(e, Event::Authenticated { user, .. } if *user == server.user)));
}

/// A proxy in front of the gateway answers the WebSocket upgrade with an error: the legacy
/// transport next (`gateway-transport`).
#[test]
fn a_proxy_that_refuses_websockets_gets_the_legacy_transport() {
    let server = lab!("xrdp-modern");
    let rt = runtime();
    let gw = gateway(&rt, |c| c.upgrade_status = Some(501));
    let run = via_as_gwuser(&server, &gw, &["--nla", "off"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.fallbacks(), ["gateway-transport"]);
    let first = &attempts(&run)[0];
    assert_eq!(
        (first["outcome"].as_str(), first["stage"].as_str()),
        (Some("protocol-error"), Some("gateway-http")),
        "{first}"
    );
    assert_eq!(last(&run)["gateway"]["transport"], "legacy-http");
    assert!(gw.events().contains(&Event::UpgradeRefused));
    assert_eq!(tunnels(&gw), ["legacy-http"]);
}

/// A Kerberos-only Negotiate offered first, NTLM and Basic behind it: NTLM next
/// (`gateway-auth-scheme`, announced); a wrong gateway password then stops the run at
/// once, and never goes around the gateway.
#[test]
fn a_negotiate_offered_first_gets_ntlm_and_a_wrong_password_stops() {
    let server = lab!("xrdp-modern");
    let rt = runtime();
    let gw = gateway(&rt, |c| {
        c.schemes = vec![Scheme::Negotiate, Scheme::Ntlm, Scheme::Basic];
    });
    let run = via_as_gwuser(&server, &gw, &["--nla", "off"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.fallbacks(), ["gateway-auth-scheme"]);
    assert!(
        run.stderr.contains("warning: gateway-auth-scheme"),
        "{}",
        run.stderr
    );
    assert_eq!(attempts(&run)[0]["outcome"], "gateway-auth-failed");
    assert_eq!(last(&run)["gateway"]["auth"], "ntlm");
    assert!(gw.events().iter().any(
        |e| matches!(e, Event::Authenticated { scheme, .. } if scheme.eq_ignore_ascii_case("NTLM"))
    ));

    let address = gw.addr.to_string();
    let wrong = ladder(
        &server,
        &[
            "--nla",
            "off",
            "--gateway",
            &address,
            "--gateway-user",
            GW_USER,
            "--password-stdin",
        ],
        Some("not-the-password\n"),
    );
    assert_eq!(wrong.code, 3, "{}", wrong.stderr);
    assert_eq!(wrong.verdict(), "auth-failed");
    assert!(
        routes(&wrong).iter().all(|r| r == "gateway"),
        "{}",
        wrong.stderr
    );
    assert!(wrong.attempts() <= 2, "{}", wrong.stderr);
    assert!(
        cause_ids(&wrong).contains(&"gateway-auth".to_owned()),
        "{}",
        wrong.stdout
    );
    assert!(
        wrong.reason().contains("--gateway-user"),
        "{}",
        wrong.reason()
    );
}

/// The resource policy refuses the host: going around the gateway is announced as what it
/// gives up, and the connection is made directly.
#[test]
fn a_refused_host_goes_around_the_gateway_announced() {
    let server = lab!("xrdp-modern");
    let rt = runtime();
    let gw = gateway(&rt, |c| c.allow = vec!["other.example".into()]);
    let run = via_as_gwuser(&server, &gw, &["--nla", "off"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.fallbacks(), ["direct-instead-of-gateway"]);
    assert_eq!(routes(&run), ["gateway", "direct"]);
    assert_eq!(attempts(&run)[0]["outcome"], "gateway-resource-refused");
    assert!(
        run.stderr
            .contains("warning: direct-instead-of-gateway: this attempt gives up the RD Gateway"),
        "{}",
        run.stderr
    );
    assert!(tunnels(&gw).is_empty());
    assert!(gw
        .events()
        .iter()
        .any(|e| matches!(e, Event::Refused { port, .. } if *port == server.port)));

    // A single attempt is exactly that: through the gateway, refused, the verdict.
    let single = via_as_gwuser(&server, &gw, &["--nla", "off", "--no-fallback"]);
    assert_ne!(single.code, 0);
    assert_eq!(single.attempts(), 1);
    assert_eq!(routes(&single), ["gateway"]);
}

/// The gateway does not answer: around it to a host that answers; when the host does not
/// resolve either, the verdict names both causes and the run is unreachable (exit 5).
#[test]
fn an_unreachable_gateway_goes_direct_or_names_both() {
    let server = lab!("xrdp-modern");
    let dead = format!("127.0.0.1:{}", closed_port());
    let run = ladder(
        &server,
        &[
            "--nla",
            "off",
            "--gateway",
            &dead,
            "--gateway-user",
            GW_USER,
            "--password-stdin",
        ],
        Some(&format!("{GW_PASSWORD}\n")),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.fallbacks(), ["direct-instead-of-gateway"]);
    let first = &attempts(&run)[0];
    assert_eq!(
        (first["outcome"].as_str(), first["stage"].as_str()),
        (Some("tcp-refused"), Some("gateway-connect"))
    );

    let mut command = server.command(crate::common::RDPSHIM);
    command
        .args([
            "connect",
            "desk.internal.invalid",
            "--json",
            "--no-save",
            "--gateway",
            &dead,
        ])
        .args(["--gateway-user", GW_USER, "--password-stdin"])
        .env_remove("RDPSHIM_PASSWORD")
        .env_remove("RDPSHIM_GATEWAY_PASSWORD")
        .env("RDPSHIM_CONFIG_DIR", config_dir(&server))
        .env("RDPSHIM_NO_KEYRING", "1");
    let both = crate::common::run(command, Some(&format!("{GW_PASSWORD}\n")));
    assert_eq!(both.code, 5, "{}", both.stderr);
    assert_eq!(both.verdict(), "unreachable");
    assert_eq!(cause_ids(&both), ["gateway-unreachable", "name-resolution"]);
    assert!(
        both.reason().contains("RD Gateway refuses"),
        "{}",
        both.reason()
    );
}

/// mstsc's "bypass the RD Gateway for local addresses" (`--gateway-usage detect`): direct
/// first; a host name only the gateway resolves (its internal DNS, here `--map`) is then
/// reached through it (`via-gateway`).
#[test]
fn a_host_only_the_gateway_reaches_is_reached_via_the_gateway() {
    let server = lab!("xrdp-modern");
    let rt = runtime();
    let internal = "desk.internal.invalid";
    let target: std::net::SocketAddr = server.addr().parse().unwrap();
    let gw = gateway(&rt, |c| c.map = vec![(internal.to_owned(), target)]);
    let address = gw.addr.to_string();
    let mut command = server.command(crate::common::RDPSHIM);
    command
        .args([
            "connect",
            internal,
            "--json",
            "--nla",
            "off",
            "--gateway",
            &address,
        ])
        .args([
            "--gateway-usage",
            "detect",
            "--gateway-user",
            GW_USER,
            "--password-stdin",
        ])
        .env_remove("RDPSHIM_PASSWORD")
        .env_remove("RDPSHIM_GATEWAY_PASSWORD")
        .env("RDPSHIM_CONFIG_DIR", config_dir(&server))
        .env("RDPSHIM_NO_KEYRING", "1");
    let run = crate::common::run(command, Some(&format!("{GW_PASSWORD}\n")));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.fallbacks(), ["via-gateway"]);
    assert_eq!(routes(&run), ["direct", "gateway"]);
    assert_eq!(attempts(&run)[0]["outcome"], "dns");
    assert!(gw
        .events()
        .iter()
        .any(|e| matches!(e, Event::Tunnel { resource, .. } if resource == internal)));
}

/// `rdpshim diagnose SERVER --json --gateway GW --gateway-user gwuser`, `password` on
/// standard input.
fn diagnose_as_gwuser(server: &LabServer, gateway: &str, password: &str) -> Value {
    let run = rdpshim(
        server,
        &[
            "diagnose",
            &server.addr(),
            "--json",
            "--gateway",
            gateway,
            "--gateway-user",
            GW_USER,
            "--password-stdin",
        ],
        Some(&format!("{password}\n")),
    );
    assert!(
        !run.stdout.contains(GW_PASSWORD),
        "the password is never shown"
    );
    serde_json::from_str(&run.stdout).expect("diagnose JSON")
}

/// `diagnose --gateway`: without credentials what the gateway shows (TLS, certificate,
/// the schemes of its 401); with them the tunnel, WebSocket support and the policy.
#[test]
fn diagnose_sees_the_gateway() {
    let server = lab!("xrdp-tls10");
    let rt = runtime();
    let legacy = gateway(&rt, |c| {
        c.tls = TlsMode::Legacy;
        c.websocket = false;
    });
    let address = legacy.addr.to_string();
    let anonymous = rdpshim(
        &server,
        &["diagnose", &server.addr(), "--json", "--gateway", &address],
        None,
    );
    let json: Value = serde_json::from_str(&anonymous.stdout).expect("diagnose JSON");
    let g = &json["gateway"];
    let accepted: Vec<&str> = g["tls"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["accepted"] == true)
        .filter_map(|v| v["version"].as_str())
        .collect();
    assert_eq!(accepted, ["1.0"], "{g}");
    assert_eq!(g["http"]["status"], 401);
    assert_eq!(g["http"]["schemes"], serde_json::json!(["NTLM", "Basic"]));
    assert_eq!(g["websocket"], "unknown");
    assert!(g["tunnel"].is_null());
    let status = |json: &Value, id: &str| {
        json["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["cause"] == id)
            .map(|v| v["status"].as_str().unwrap_or("").to_owned())
            .unwrap_or_else(|| panic!("no verdict {id}"))
    };
    assert_eq!(status(&json, "gateway-tls"), "found");
    assert_eq!(status(&json, "gateway-certificate"), "found");
    assert_eq!(status(&json, "gateway-auth"), "not-found");
    assert_eq!(status(&json, "gateway-resource-policy"), "cannot-tell");
    assert_eq!(anonymous.code, 4, "blocking causes found");

    let json = diagnose_as_gwuser(&server, &address, GW_PASSWORD);
    assert_eq!(json["gateway"]["websocket"], "no");
    assert_eq!(json["gateway"]["tunnel"]["transport"], "legacy-http");
    assert_eq!(status(&json, "gateway-resource-policy"), "not-found");

    let refusing = gateway(&rt, |c| c.allow = vec!["other.example".into()]);
    let address = refusing.addr.to_string();
    let json = diagnose_as_gwuser(&server, &address, GW_PASSWORD);
    assert_eq!(json["gateway"]["websocket"], "yes", "{}", json["gateway"]);
    assert_eq!(status(&json, "gateway-resource-policy"), "found");
    assert_eq!(status(&json, "gateway-tls"), "not-found");

    let json = diagnose_as_gwuser(&server, &address, "wrong");
    assert_eq!(status(&json, "gateway-auth"), "found");

    let dead = format!("127.0.0.1:{}", closed_port());
    let unreachable = rdpshim(
        &server,
        &["diagnose", &server.addr(), "--json", "--gateway", &dead],
        None,
    );
    let json: Value = serde_json::from_str(&unreachable.stdout).expect("diagnose JSON");
    assert_eq!(status(&json, "gateway-unreachable"), "found");
    let text = rdpshim(
        &server,
        &["diagnose", &server.addr(), "--gateway", &dead],
        None,
    );
    assert!(
        text.stdout.contains("RD Gateway 127.0.0.1:"),
        "{}",
        text.stdout
    );
}

/// `matrix --gateway`: every configuration both ways; a host only the gateway resolves
/// gets its by-name gateway cells.
#[test]
fn the_matrix_runs_both_routes() {
    let server = lab!("xrdp-tls10");
    let rt = runtime();
    let internal = "desk.internal.invalid";
    let target: std::net::SocketAddr = server.addr().parse().unwrap();
    let gw = gateway(&rt, |c| c.map = vec![(internal.to_owned(), target)]);
    let configs = server.dir().join("route.toml");
    std::fs::write(
        &configs,
        "[matrix]\nnla = [false]\ntls = [\"rustls-auto\", \"openssl-1.0\"]\ndial = [\"name\"]\nudp = [false]\n",
    )
    .unwrap();
    let address = gw.addr.to_string();
    let run = rdpshim(
        &server,
        &[
            "matrix",
            &server.addr(),
            internal,
            "--gateway",
            &address,
            "--gateway-user",
            GW_USER,
            "--password-stdin",
            "--configs",
            configs.to_str().unwrap(),
            "--json",
        ],
        Some(&format!("{GW_PASSWORD}\n")),
    );
    let json: Value = serde_json::from_str(&run.stdout).expect("matrix JSON");
    let cell = |host: &str, id: &str| {
        json["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| {
                c["host"].as_str().unwrap_or("").starts_with(host) && c["configuration"] == id
            })
            .map(|c| c["outcome"].as_str().unwrap_or("").to_owned())
            .unwrap_or_else(|| panic!("no cell {host} {id}"))
    };
    let h = server.addr();
    assert_eq!(cell(&h, "no-nla/openssl-1.0/name/no-udp"), "ok");
    assert_eq!(cell(&h, "no-nla/openssl-1.0/name/no-udp/gateway"), "ok");
    assert_eq!(
        cell(&h, "no-nla/rustls-auto/name/no-udp/gateway"),
        "tls-version-mismatch"
    );
    assert_eq!(cell(internal, "no-nla/openssl-1.0/name/no-udp"), "dns");
    assert_eq!(
        cell(internal, "no-nla/openssl-1.0/name/no-udp/gateway"),
        "ok"
    );
    let routes: Vec<&str> = json["configurations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["route"].as_str())
        .collect();
    assert_eq!(routes, ["direct", "direct", "gateway", "gateway"]);
}

/// The `.rdp` file and the FreeRDP command line written from a profile made through the
/// gateway keep it, and FreeRDP 2.11 connects with each through the same gateway.
#[test]
fn the_exports_go_through_the_gateway_with_xfreerdp() {
    let server = lab!("shadow-nla");
    let rt = runtime();
    let gw = gateway(&rt, |_| {});
    let address = gw.addr.to_string();
    let stdin = format!("{}\n", server.password);
    // The host's password on standard input, the gateway account's in its variable.
    let mut command = server.command(crate::common::RDPSHIM);
    command
        .args([
            "connect",
            &server.dial_addr(),
            "--json",
            "-u",
            &server.user,
            "--password-stdin",
        ])
        .args(["--gateway", &address, "--gateway-user", GW_USER])
        .env_remove("RDPSHIM_PASSWORD")
        .env("RDPSHIM_GATEWAY_PASSWORD", GW_PASSWORD)
        .env("RDPSHIM_CONFIG_DIR", config_dir(&server))
        .env("RDPSHIM_NO_KEYRING", "1");
    let run = crate::common::run(command, Some(&stdin));
    assert_eq!(run.code, 0, "{}", run.stderr);

    let target = server.dial_addr();
    let export = |args: &[&str]| {
        let mut full = vec!["profile", "export", target.as_str()];
        full.extend_from_slice(args);
        let out = rdpshim(&server, &full, None);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out
    };
    let rdp = server.dir().join("gateway.rdp");
    export(&["--format", "rdp", "-o", rdp.to_str().unwrap()]);
    let back = rdpshim(&server, &["import", rdp.to_str().unwrap(), "--json"], None);
    assert_eq!(back.code, 0, "{}", back.stderr);
    let text = export(&["--format", "rdp", "--utf8"]).stdout;
    assert!(
        text.contains(&format!("gatewayhostname:s:{address}")),
        "{text}"
    );
    assert!(text.contains("gatewayusagemethod:i:1"), "{text}");
    assert!(!text.contains(GW_PASSWORD) && !text.contains(&server.password));

    let args: Vec<String> = vec![
        "xfreerdp".into(),
        rdp.display().to_string(),
        format!("/p:{}", server.password),
        format!("/gu:{GW_USER}"),
        format!("/gp:{GW_PASSWORD}"),
        "+auth-only".into(),
        "/cert:tofu".into(),
    ];
    let before = tunnels(&gw).len();
    let (ok, log) = xfreerdp(&server, &args);
    assert!(ok, "xfreerdp FILE.rdp through the gateway:\n{log}");
    assert_eq!(
        tunnels(&gw).len(),
        before + 1,
        "FreeRDP went through the gateway"
    );

    let line = export(&["--format", "freerdp", "--freerdp-version", "2"]).stdout;
    let line = line.trim();
    assert!(
        line.contains(&format!("/g:{address}")) && line.contains("/gu:gwuser"),
        "{line}"
    );
    assert_eq!(
        line.matches("fingerprint:sha256:").count(),
        2,
        "both pins: {line}"
    );
    let shell = format!(
        "{line} +auth-only '/p:{}' '/gp:{GW_PASSWORD}'",
        server.password
    );
    let before = tunnels(&gw).len();
    let (ok, log) = xfreerdp(&server, &["sh".into(), "-c".into(), shell.clone()]);
    assert!(ok, "the FreeRDP line through the gateway: {shell}\n{log}");
    assert_eq!(tunnels(&gw).len(), before + 1);
}
