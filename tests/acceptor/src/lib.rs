//! rdpshim-test-acceptor: a small, deliberately misbehaving RDP server for rdpshim's tests,
//! built on `ironrdp-acceptor` (same IronRDP generation as the client). Usable as a binary
//! and in-process ([`spawn`]) from tests.
//!
//! ```text
//! rdpshim-test-acceptor --port PORT [--bind 127.0.0.1] --mode MODE [--width 1024 --height 768]
//! ```
//!
//! Prints `listening ADDR:PORT` on stdout once bound (`--port 0` picks a free port), logs
//! to stderr, serves one connection at a time until killed. See `Mode` for the modes.

mod frame;
mod garbage;
mod session;
/// Server certificates; also used by rdpshim-test-gateway.
pub mod tls;

use std::net::IpAddr;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, ValueEnum};
use ironrdp_acceptor::DesktopSize;
use ironrdp_pdu::gcc::MultiTransportFlags;
use ironrdp_pdu::rdp::client_info::Credentials;
use tokio::net::TcpListener;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Full connection sequence, then one fast-path bitmap frame, then idle.
    Plain,
    /// Like plain, but sends an Initiate Multitransport Request when the client advertised
    /// UDP, waits for (and logs) its response, and carries on over TCP.
    OfferUdp,
    /// Sends the Initiate Multitransport Request when the client advertised UDP, then drops
    /// the TCP connection ~1 s later whatever the answer; like plain otherwise.
    UdpBlackhole,
    /// Completes TLS, then never answers (the MCS Connect Initial goes unanswered).
    StallAfterTls,
    /// Completes TLS, then closes the socket without reading anything (what a Windows
    /// server with a broken certificate binding or a security product does).
    CloseAfterTls,
    /// Valid X.224 Connection Confirm and TLS, then malformed bytes (see --seed), then close.
    GarbageAfterX224,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Security {
    /// PROTOCOL_SSL: TLS without NLA.
    Tls,
    /// PROTOCOL_HYBRID / HYBRID_EX: TLS + CredSSP (NTLM) with --user/--password.
    Nla,
}

/// Where `garbage-after-x224` replaces the server's answer with garbage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GarbageAt {
    /// Instead of the MCS Connect Response (right after the client's Connect Initial).
    Mcs,
    /// Instead of the licensing PDU (after channel joins and Client Info).
    Licensing,
    /// Instead of the Demand Active.
    Capabilities,
    /// After a complete connection sequence, instead of the first frame.
    FirstFrame,
}

impl GarbageAt {
    /// Whether the acceptor step from `state` would produce the PDU replaced by garbage.
    pub fn replaces_state(self, state: &str) -> bool {
        matches!(
            (self, state),
            (Self::Mcs, "BasicSettingsSendResponse")
                | (Self::Licensing, "LicensingExchange")
                | (Self::Capabilities, "CapabilitiesSendServer")
        )
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::Mcs => "MCS Connect Response",
            Self::Licensing => "licensing PDU",
            Self::Capabilities => "Demand Active",
            Self::FirstFrame => "first frame",
        }
    }
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "rdpshim-test-acceptor",
    version,
    about = "Hostile / multitransport RDP test server for rdpshim"
)]
pub struct Args {
    /// TCP port (0: any free port; the chosen one is printed).
    #[arg(long)]
    pub port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    #[arg(long, value_enum)]
    pub mode: Mode,
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u16).range(200..=8192))]
    pub width: u16,
    #[arg(long, default_value_t = 768, value_parser = clap::value_parser!(u16).range(200..=8192))]
    pub height: u16,
    #[arg(long, value_enum, default_value = "tls")]
    pub security: Security,
    /// NLA user name (--security nla).
    #[arg(long, default_value = "rdpshim")]
    pub user: String,
    /// NLA password (--security nla).
    #[arg(long, default_value = "rdpshim")]
    pub password: String,
    /// NLA domain (--security nla).
    #[arg(long)]
    pub domain: Option<String>,
    /// garbage-after-x224: seed of the first connection (the n-th connection uses seed+n-1).
    /// Default: derived from the clock, and logged.
    #[arg(long)]
    pub seed: Option<u64>,
    /// garbage-after-x224: which server PDU the garbage replaces.
    #[arg(long, value_enum, default_value = "mcs")]
    pub garbage_at: GarbageAt,
    /// Server Multitransport Channel Data flags in the udp modes (hex or decimal).
    /// Default 0x201: TRANSPORT_TYPE_UDP_FECR | SOFTSYNC_TCP_TO_UDP.
    #[arg(long, default_value = "0x201", value_parser = parse_u32)]
    pub server_multitransport_flags: u32,
    /// offer-udp: how long to wait for the Initiate Multitransport Response before the
    /// Demand Active (ms). 0: do not wait (the acceptor's own behaviour; it then drops a late
    /// response itself and reports it in its result).
    #[arg(long, default_value_t = 5000)]
    pub multitransport_wait_ms: u64,
    /// udp-blackhole: drop the TCP connection this long after the request (ms).
    #[arg(long, default_value_t = 1000)]
    pub blackhole_after_ms: u64,
    /// Give up on a client that is silent this long during the connection sequence (s).
    #[arg(long, default_value_t = 30)]
    pub io_timeout: u64,
}

fn parse_u32(s: &str) -> Result<u32, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|e| format!("{s}: {e}"))
}

impl Args {
    /// Defaults for `mode` on a free loopback port, as the command line would give them.
    pub fn for_mode(mode: &str) -> Self {
        Self::parse_from(["rdpshim-test-acceptor", "--port", "0", "--mode", mode])
    }
}

/// Starts the server on a thread of its own (in-process, for tests) and returns the bound
/// address once it accepts connections. The thread lives as long as the test process.
pub fn spawn(args: Args) -> Result<SocketAddr, String> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let failed_tx = ready_tx.clone();
    std::thread::Builder::new()
        .name(format!("acceptor-{:?}", args.mode))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = failed_tx.send(Err(format!("tokio runtime: {e}")));
                    return;
                }
            };
            let local = tokio::task::LocalSet::new();
            let result = local.block_on(
                &runtime,
                run(args, move |address| {
                    let _ = ready_tx.send(Ok(address));
                }),
            );
            if let Err(e) = result {
                let _ = failed_tx.send(Err(e));
            }
        })
        .map_err(|e| format!("spawning the acceptor thread: {e}"))?;
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|e| format!("the acceptor did not start: {e}"))?
}

/// Serves until the process ends; `ready` is called with the bound address.
pub async fn run(args: Args, ready: impl FnOnce(SocketAddr)) -> Result<(), String> {
    let desktop = DesktopSize {
        width: args.width,
        height: args.height,
    };
    let tls = tls::make("rdpshim-test-acceptor")?;
    let frame = frame::desktop_pdus(desktop.width, desktop.height)
        .map_err(|e| format!("encoding the frame: {e}"))?;
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    let server_multitransport_flags =
        MultiTransportFlags::from_bits_retain(args.server_multitransport_flags);
    let nla_credentials = (args.security == Security::Nla).then(|| Credentials {
        username: args.user.clone(),
        password: args.password.clone(),
        domain: args.domain.clone(),
    });

    let ctx = std::rc::Rc::new(session::Context {
        mode: args.mode,
        security: args.security,
        desktop,
        tls,
        server_multitransport_flags,
        io_timeout: Duration::from_secs(args.io_timeout.max(1)),
        multitransport_wait: Duration::from_millis(args.multitransport_wait_ms),
        blackhole_after: Duration::from_millis(args.blackhole_after_ms),
        seed,
        garbage_at: args.garbage_at,
        nla_credentials,
        frame,
    });

    let listener = TcpListener::bind((args.bind, args.port))
        .await
        .map_err(|e| format!("bind {}:{}: {e}", args.bind, args.port))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("local_addr: {e}"))?;

    eprintln!(
        "mode {:?}, security {:?}, desktop {}x{}, certificate sha256 {}",
        args.mode, args.security, desktop.width, desktop.height, ctx.tls.fingerprint
    );
    if matches!(args.mode, Mode::OfferUdp | Mode::UdpBlackhole) {
        eprintln!(
            "server multitransport flags: 0x{:X} ({})",
            server_multitransport_flags.bits(),
            session::flag_names(server_multitransport_flags)
        );
    }
    if args.mode == Mode::GarbageAfterX224 {
        eprintln!(
            "garbage seed: {seed}, replacing the {}",
            args.garbage_at.describe()
        );
    }
    ready(address);

    let mut conn = 0u64;
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        conn += 1;
        eprintln!("conn {conn}: from {peer}");
        // A task of its own, so that even a panic (a bug) only ends this connection.
        let task_ctx = std::rc::Rc::clone(&ctx);
        let handle =
            tokio::task::spawn_local(async move { session::serve(tcp, &task_ctx, conn).await });
        match handle.await {
            Ok(Ok(())) => eprintln!("conn {conn}: closed"),
            Ok(Err(e)) => eprintln!("conn {conn}: ended: {e}"),
            Err(e) => eprintln!("conn {conn}: PANIC in the server task: {e}"),
        }
    }
}
