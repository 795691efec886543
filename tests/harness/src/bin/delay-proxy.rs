//! `delay-proxy --upstream HOST:PORT --rtt-ms N [--loss P] [--seed S] [--listen ADDR:PORT]`
//!
//! Puts a server behind [`rdpshim_lab::delay::DelayProxy`] for benchmarks and hand tests:
//! prints `listening ADDR:PORT` once bound, then relays until killed, printing a line as each
//! connection is accepted (`accepted id=1`) and as it ends (`closed id=1 round_trips=10
//! flights=9 up=... down=... ms=...`, see
//! [`ConnectionStats::line`](rdpshim_lab::delay::ConnectionStats::line)); stdout is
//! line-buffered, so a file it is redirected to is current.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use rdpshim_lab::delay::{DelayProxy, Link, ProxyEvent};

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("delay-proxy: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut upstream: Option<SocketAddr> = None;
    let mut listen: Option<SocketAddr> = None;
    let mut rtt_ms: u64 = 50;
    let mut loss = 0.0;
    let mut seed = 1;
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--upstream" => {
                let text = value()?;
                upstream = text
                    .to_socket_addrs()
                    .map_err(|e| format!("--upstream {text}: {e}"))?
                    .next();
            }
            "--listen" => {
                let text = value()?;
                listen = Some(text.parse().map_err(|e| format!("--listen {text}: {e}"))?);
            }
            "--rtt-ms" => rtt_ms = value()?.parse().map_err(|e| format!("--rtt-ms: {e}"))?,
            "--loss" => loss = value()?.parse().map_err(|e| format!("--loss: {e}"))?,
            "--seed" => seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let upstream = upstream.ok_or("--upstream HOST:PORT is required")?;
    let link = Link::rtt_ms(rtt_ms).with_loss(loss, seed);
    let bind = listen.unwrap_or_else(|| {
        let any = if upstream.is_ipv6() {
            "[::1]:0"
        } else {
            "127.0.0.1:0"
        };
        any.parse().expect("literal")
    });
    let proxy = DelayProxy::start_reporting(bind, upstream, link, |event| match event {
        ProxyEvent::Accepted(id) => println!("accepted id={id}"),
        ProxyEvent::Closed(stats) => println!("{}", stats.line()),
    })
    .map_err(|e| format!("cannot listen: {e}"))?;
    println!("listening {}", proxy.addr());
    loop {
        std::thread::park();
    }
}
