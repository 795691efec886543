//! Bench helper for `bench/gateway.sh`: one attempt to first frame, direct or through an RD
//! Gateway, printing `direct|gateway TOTAL_MS [TUNNEL_MS]` (TOTAL from starting to dial
//! (the gateway, or the server) to the first decoded frame).
//!
//! ```text
//! gateway_first_frame HOST:PORT [--gateway GW:PORT] [--user U] [--tls10]
//! ```
//! Passwords come from `RDPSHIM_PASSWORD` (the server's, for NLA) and
//! `RDPSHIM_GATEWAY_PASSWORD`, never from argv. The gateway user is `gwuser`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use rdpshim::attempt::{
    parse_host_port, AttemptSpec, Credentials, Nla, StageTimeouts, TlsChoice, TlsStack, TlsVersion,
};
use rdpshim::route::gateway::{self, GatewayCredentials, GatewaySpec};
use rdpshim::secret::Password;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(target) = args.first() else {
        eprintln!("usage: gateway_first_frame HOST:PORT [--gateway GW:PORT] [--user U] [--tls10]");
        return ExitCode::from(2);
    };
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let (host, port) = match parse_host_port(target) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut spec = AttemptSpec::strongest(host.clone(), port);
    spec.udp = false;
    spec.timeouts = StageTimeouts::uniform(Duration::from_secs(10));
    match flag("--user") {
        Some(user) => {
            spec.credentials = Some(Credentials {
                username: user,
                domain: None,
                password: Password::new(std::env::var("RDPSHIM_PASSWORD").unwrap_or_default()),
            });
        }
        None => spec.nla = Nla::Off,
    }
    if args.iter().any(|a| a == "--tls10") {
        spec.tls = TlsChoice {
            stack: TlsStack::Openssl,
            version: Some(TlsVersion::Tls10),
            ciphers: None,
        };
    }
    let gateway = flag("--gateway");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let started = Instant::now();
        let report = match &gateway {
            None => rdpshim::engine::run_attempt(&spec).await,
            Some(gw) => {
                let (gw_host, gw_port) = match parse_host_port(gw) {
                    Ok(parsed) => parsed,
                    Err(e) => {
                        eprintln!("{e}");
                        return ExitCode::from(2);
                    }
                };
                let credentials = GatewayCredentials {
                    username: "gwuser".into(),
                    domain: None,
                    password: Password::new(
                        std::env::var("RDPSHIM_GATEWAY_PASSWORD").unwrap_or_default(),
                    ),
                };
                let gw_spec = GatewaySpec::new(gw_host, gw_port, credentials);
                let tunnel = match gateway::open(&gw_spec, &host, port).await {
                    Ok(tunnel) => tunnel,
                    Err(e) => {
                        eprintln!("gateway: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                let tunnel_ms = started.elapsed().as_secs_f64() * 1000.0;
                let report = rdpshim::engine::run_attempt_over(&spec, tunnel.stream).await;
                if report.is_connected() {
                    println!(
                        "gateway {:.1} {tunnel_ms:.1} {}",
                        started.elapsed().as_secs_f64() * 1000.0,
                        tunnel.transport.as_str()
                    );
                }
                report
            }
        };
        match &report.result {
            Ok(_) if gateway.is_none() => {
                println!("direct {:.1}", started.elapsed().as_secs_f64() * 1000.0);
                ExitCode::SUCCESS
            }
            Ok(_) => ExitCode::SUCCESS,
            Err(failure) => {
                eprintln!("{failure}");
                ExitCode::FAILURE
            }
        }
    })
}
