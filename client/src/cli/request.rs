//! `connect`'s and `bridge`'s flags into the library's requests: the one conversion between
//! what clap parsed and what the session and the bridge run (ripgrep's low args to high
//! args). Nothing after this reads a flag.

use std::net::IpAddr;

use rdpshim::attempt::{StageTimeouts, TlsChoice, TlsStack, TlsVersion};
use rdpshim::bridge;
use rdpshim::ladder::Request;
use rdpshim::planner::{Dial, GatewayUsage, Grade, Pins, Policy};
use rdpshim::session::{ConnectRequest, GatewayRequest};

use super::args::{ConnectArgs, FloorArg, OnOff, StackArg, TlsArg};
use super::flags::{BridgeOptions, Gateway, GatewayUsageArg};

/// The session's request for these flags.
pub fn connect_request(args: &ConnectArgs) -> Result<ConnectRequest, String> {
    let target = &args.target.target;
    let host_ip = target.host.parse::<IpAddr>().ok();
    let mut policy = Policy::new(host_ip, target.port);
    policy.pins = Pins {
        dial: args
            .address
            .map(|a| Dial::Ip(a.with_default_port(target.port))),
        server_name: args.server_name.is_some(),
        nla: args.nla.map(OnOff::is_on),
        tls: tls_pin(args)?,
        udp: args.udp.map(OnOff::is_on),
        route: None,
    };
    let gateway = gateway_request(&args.gateway);
    // Known before a single attempt pins its route (the profile's gateway comes in later,
    // and a single attempt leaves the profile out).
    policy.gateway = gateway.as_ref().map(|g| g.usage);
    if args.no_fallback {
        policy = policy.single_attempt();
    } else {
        policy.max_attempts = usize::from(args.max_attempts);
    }
    policy.floor = grade(args.min_security);
    policy.accept_downgrade = args.accept_downgrade;
    policy.deadline = args.deadline;
    policy.known_addresses = args
        .resolve
        .iter()
        .filter(|hint| hint.host.eq_ignore_ascii_case(&target.host))
        .map(|hint| std::net::SocketAddr::new(hint.ip, hint.port.unwrap_or(target.port)))
        .collect();

    let mut request = ConnectRequest::new(Request {
        host: target.host.clone(),
        port: target.port,
        policy,
        server_name: args.server_name.clone(),
        credentials: None,
        timeouts: StageTimeouts::uniform(args.timeout.timeout),
        screenshot: args.screenshot.clone(),
        pinned_certificate: None,
        gateway: None,
    });
    request.gateway = gateway;
    request.user.clone_from(&args.login.user);
    request.domain.clone_from(&args.login.domain);
    request.password_stdin = args.login.password_stdin;
    request.accept_new_cert = args.accept_new_cert;
    request.save = !args.no_save;
    Ok(request)
}

/// `--gateway` and its account; `None` without it (a profile's gateway may still come in,
/// and `--gateway-user` then names that gateway's account).
pub fn gateway_request(flags: &Gateway) -> Option<GatewayRequest> {
    let given = flags.gateway.as_ref()?;
    Some(GatewayRequest {
        host: given.host.clone(),
        port: given.port,
        usage: match flags.gateway_usage {
            None | Some(GatewayUsageArg::Always) => GatewayUsage::Always,
            Some(GatewayUsageArg::Detect) => GatewayUsage::Detect,
        },
        user: flags.gateway_user.clone(),
        domain: flags.gateway_domain.clone(),
    })
}

/// The TLS pin, when any TLS flag was given; a combination the stacks cannot do is a
/// usage error, never a server's fault.
fn tls_pin(args: &ConnectArgs) -> Result<Option<TlsChoice>, String> {
    if args.tls.is_none() && args.tls_stack.is_none() && args.ciphers.is_none() {
        return Ok(None);
    }
    let version = args.tls.and_then(version);
    let stack = match (args.tls_stack, version) {
        (Some(StackArg::Rustls), Some(v @ (TlsVersion::Tls10 | TlsVersion::Tls11))) => {
            return Err(format!(
                "--tls {} needs --tls-stack openssl (rustls speaks only TLS 1.2 and 1.3)",
                v.as_str()
            ));
        }
        (Some(StackArg::Rustls), _) => TlsStack::Rustls,
        (Some(StackArg::Openssl), _) => TlsStack::Openssl,
        (None, Some(TlsVersion::Tls10 | TlsVersion::Tls11)) => TlsStack::Openssl,
        (None, _) => TlsStack::Rustls,
    };
    let tls = TlsChoice {
        stack,
        version,
        ciphers: args.ciphers.clone(),
    };
    rdpshim::engine::tls::validate(&tls).map_err(|e| e.to_string())?;
    Ok(Some(tls))
}

/// The bridge's request: where to listen, how many sessions, and the stage limits of every
/// session's legs (connect's `--timeout`).
pub fn bridge_request(connect: &ConnectArgs, options: &BridgeOptions) -> bridge::Request {
    bridge::Request {
        listen: options.listen,
        once: options.once,
        max_sessions: usize::from(options.max_sessions),
        timeouts: StageTimeouts::uniform(connect.timeout.timeout),
    }
}

fn version(tls: TlsArg) -> Option<TlsVersion> {
    match tls {
        TlsArg::Auto => None,
        TlsArg::V13 => Some(TlsVersion::Tls13),
        TlsArg::V12 => Some(TlsVersion::Tls12),
        TlsArg::V11 => Some(TlsVersion::Tls11),
        TlsArg::V10 => Some(TlsVersion::Tls10),
    }
}

fn grade(floor: FloorArg) -> Grade {
    match floor {
        FloorArg::Modern => Grade::Modern,
        FloorArg::Tls12 => Grade::Tls12,
        FloorArg::Legacy => Grade::Legacy,
        FloorArg::NoNla => Grade::NoNla,
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use clap::Parser as _;

    use super::*;
    use crate::cli::args::{Cli, Command};

    fn parse(args: &[&str]) -> Result<ConnectRequest, String> {
        let mut full = vec!["rdpshim", "connect"];
        full.extend_from_slice(args);
        match Cli::try_parse_from(full).expect("parses").command {
            Command::Connect(c) => connect_request(&c.connect),
            other => panic!("not connect: {other:?}"),
        }
    }

    #[test]
    fn no_fallback_is_the_planners_single_attempt() {
        let request = parse(&["host", "--no-fallback"]).unwrap();
        let policy = &request.ladder.policy;
        assert!(policy.is_single_attempt());
        assert_eq!(policy.pins.dial, Some(Dial::ByName));
        assert_eq!(policy.max_attempts, 1);
        assert_eq!(request.ladder.port, 3389);
    }

    #[test]
    fn the_ladder_pins_only_what_was_given() {
        let request = parse(&["host", "--nla", "off"]).unwrap();
        let policy = &request.ladder.policy;
        assert_eq!(policy.pins.nla, Some(false));
        assert_eq!(policy.pins.tls, None);
        assert_eq!(policy.pins.udp, None);
        assert!(policy.max_attempts > 1);
        assert!(!policy.is_single_attempt());
    }

    #[test]
    fn old_tls_picks_openssl_unless_rustls_is_forced() {
        let request = parse(&["host", "--tls", "1.0"]).unwrap();
        assert_eq!(
            request.ladder.policy.pins.tls.unwrap().stack,
            TlsStack::Openssl
        );
        assert!(parse(&["host", "--tls", "1.0", "--tls-stack", "rustls"]).is_err());
    }

    #[test]
    fn address_pins_the_dial_and_keeps_the_host_name() {
        let request = parse(&["name:3390", "--address", "127.0.0.1"]).unwrap();
        assert_eq!(
            request.ladder.policy.pins.dial,
            Some(Dial::Ip("127.0.0.1:3390".parse().unwrap()))
        );
        assert_eq!(request.ladder.host, "name");
        let request = parse(&["name", "--address", "[::1]:4000"]).unwrap();
        assert_eq!(
            request.ladder.policy.pins.dial,
            Some(Dial::Ip("[::1]:4000".parse().unwrap()))
        );
        assert!(Cli::try_parse_from(["rdpshim", "connect", "h", "--address", "nope"]).is_err());
    }

    #[test]
    fn resolve_hints_in_the_manner_of_curl() {
        let request = parse(&[
            "srv:3390",
            "--resolve",
            "srv:10.1.2.3",
            "--resolve",
            "srv:3390:[fd00::5]",
            "--resolve",
            "other:10.9.9.9",
        ])
        .unwrap();
        let expected: Vec<SocketAddr> = vec![
            "10.1.2.3:3390".parse().unwrap(),
            "[fd00::5]:3390".parse().unwrap(),
        ];
        assert_eq!(request.ladder.policy.known_addresses, expected);
        assert!(Cli::try_parse_from(["rdpshim", "connect", "srv", "--resolve", "srv"]).is_err());
    }

    #[test]
    fn bridge_flags_reach_the_bridge_with_connects_stage_limit() {
        let parsed = Cli::try_parse_from([
            "rdpshim",
            "bridge",
            "h",
            "--timeout",
            "3",
            "--listen",
            ":4000",
            "--once",
        ])
        .expect("parses");
        let Command::Bridge(args) = parsed.command else {
            panic!("not bridge");
        };
        let request = bridge_request(&args.connect, &args.options);
        assert_eq!(request.listen, Some("127.0.0.1:4000".parse().unwrap()));
        assert!(request.once);
        assert_eq!(request.max_sessions, 1);
        assert_eq!(
            request.timeouts,
            StageTimeouts::uniform(std::time::Duration::from_secs(3))
        );
        assert!(connect_request(&args.connect).is_ok());
    }

    #[test]
    fn login_flags_reach_the_session() {
        let request = parse(&[
            "h",
            "-u",
            "alice",
            "-d",
            "CORP",
            "--password-stdin",
            "--no-save",
        ])
        .unwrap();
        assert_eq!(request.user.as_deref(), Some("alice"));
        assert_eq!(request.domain.as_deref(), Some("CORP"));
        assert!(request.password_stdin);
        assert!(!request.save);
    }
}
