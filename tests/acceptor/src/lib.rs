//! rdpshim-test-acceptor: a small, deliberately misbehaving RDP server for rdpshim's tests,
//! built on `ironrdp-acceptor` (same IronRDP generation as the client). Usable as a binary
//! and in-process ([`spawn`]) from tests.
//!
//! ```text
//! rdpshim-test-acceptor --port PORT [--bind 127.0.0.1] --mode MODE [--width 1024 --height 768]
//! ```
//!
//! Prints `listening ADDR:PORT` on stdout once bound (`--port 0` picks a free port), logs
//! to stderr, serves connections (concurrently) until killed. See `Mode` for the modes;
//! the hostile ones (`drip`, `truncate`, `flood`, `header`, ...) strike at the stage `--at`
//! names through [`hostile::Hostile`], a stream wrapper that replaces the server's writes.

mod frame;
pub mod garbage;
mod hostile;
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
    /// From the stage `--at` names on, every byte the server sends goes out alone, one per
    /// `--drip-ms`: always progressing, never finishing a message within a stage limit.
    Drip,
    /// At `--at`, the first half of the server's next message, then close.
    Truncate,
    /// At `--at`, endless random bytes instead of the server's next message.
    Flood,
    /// At `--at`, the bytes of `--header` (a length field at a boundary: TPKT, DER,
    /// fast-path) instead of the server's next message, then `--then` (endless random bytes
    /// by default).
    Header,
    /// An X.224 Connection Confirm selecting `--selected` (default 0x3, not a single
    /// protocol), then a real TLS handshake and session as if TLS had been selected.
    BadSelectedProtocol,
    /// A reset (RST) right after accept, before any byte.
    ResetAfterAccept,
    /// A reset (RST) right after reading the client's X.224 Connection Request.
    ResetAfterRequest,
    /// 512 random bytes (not TPKT) instead of the X.224 Connection Confirm; the connection
    /// stays open until the client closes it.
    GarbageX224,
    /// A certificate `--certificate` names that no client can read; otherwise plain.
    BadCertificate,
    /// At `--at` (first-frame), one fast-path update in fragments that never ends: FIRST,
    /// then NEXT forever.
    Fragments,
}

/// Where a hostile mode strikes: the server message it replaces is the first one the
/// server sends in that stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum At {
    /// The X.224 Connection Confirm.
    X224,
    /// The TLS server flight (ServerHello .. ServerHelloDone), below TLS.
    Tls,
    /// The CredSSP TSRequest with the NTLM CHALLENGE (needs --security nla).
    Credssp,
    /// The MCS Connect Response.
    Mcs,
    /// The first fast-path update after the connection sequence.
    FirstFrame,
}

/// What follows `--header` in the `header` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ThenArg {
    /// Random bytes, endlessly.
    Flood,
    /// Nothing; the connection stays open.
    Hold,
    /// Close the connection.
    Close,
}

/// The `bad-certificate` mode's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BadCertificate {
    /// The real leaf followed by copies of itself: a ~200 KB chain (over rustls' 64 KB
    /// handshake message limit and OpenSSL's 100 KB certificate list limit).
    OversizedChain,
    /// The real leaf with its notBefore patched to month 13, day 32, hour 25 (the TLS
    /// handshake still works: neither stack checks the dates or the certificate signature).
    InvalidDates,
    /// 1200 random bytes instead of a certificate.
    GarbageDer,
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
    /// Hostile modes: the stage they strike at.
    #[arg(long, value_enum, default_value = "x224")]
    pub at: At,
    /// drip: milliseconds between two bytes.
    #[arg(long, default_value_t = 400)]
    pub drip_ms: u64,
    /// header: the bytes sent instead of the server's message, in hex (`0300ffff`).
    #[arg(long, default_value = "", value_parser = parse_hex)]
    pub header: HexBytes,
    /// header: what follows it.
    #[arg(long = "then", value_enum, default_value = "flood")]
    pub then: ThenArg,
    /// bad-selected-protocol: the selectedProtocol value (hex or decimal).
    #[arg(long, default_value = "0x3", value_parser = parse_u32)]
    pub selected: u32,
    /// bad-certificate: which one.
    #[arg(long, value_enum, default_value = "garbage-der")]
    pub certificate: BadCertificate,
}

/// Bytes given in hex on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HexBytes(pub Vec<u8>);

fn parse_hex(s: &str) -> Result<HexBytes, String> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("{s}: an odd number of hex digits"));
    }
    digits
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| format!("{s}: not hex"))
        })
        .collect::<Result<Vec<u8>, String>>()
        .map(HexBytes)
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

    /// The arguments `words` (e.g. `--mode header --at x224 --header 03000000`) on a free
    /// loopback port; panics on words the command line would refuse (a test's typo).
    pub fn from_words(words: &str) -> Self {
        let argv = ["rdpshim-test-acceptor", "--port", "0"]
            .into_iter()
            .chain(words.split_whitespace());
        Self::try_parse_from(argv).unwrap_or_else(|e| panic!("acceptor arguments `{words}`: {e}"))
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
    let bad_certificate = (args.mode == Mode::BadCertificate).then_some(args.certificate);
    let tls = tls::make("rdpshim-test-acceptor", bad_certificate)?;
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
        hostile: hostile_act(&args, seed),
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
    if let Some((at, act)) = &ctx.hostile {
        eprintln!("hostile: at {at:?}: {act:?}");
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
        // Connections are served concurrently (diagnose opens several at once, and a
        // hostile connection lasts until its client gives up). A task of its own inside a
        // watcher task, so that even a panic (a bug) only ends this connection.
        let task_ctx = std::rc::Rc::clone(&ctx);
        tokio::task::spawn_local(async move {
            let handle =
                tokio::task::spawn_local(async move { session::serve(tcp, &task_ctx, conn).await });
            match handle.await {
                Ok(Ok(())) => eprintln!("conn {conn}: closed"),
                Ok(Err(e)) => eprintln!("conn {conn}: ended: {e}"),
                Err(e) => eprintln!("conn {conn}: PANIC in the server task: {e}"),
            }
        });
    }
}

/// The stage and the act of a hostile mode; `None` for the others.
fn hostile_act(args: &Args, seed: u64) -> Option<(At, hostile::Act)> {
    use hostile::{Act, Then};
    let then = match args.then {
        ThenArg::Flood => Then::Flood,
        ThenArg::Hold => Then::Hold,
        ThenArg::Close => Then::Close,
    };
    let act = match args.mode {
        Mode::Drip => (
            args.at,
            Act::Drip(Duration::from_millis(args.drip_ms.max(1))),
        ),
        Mode::Truncate => (args.at, Act::Truncate),
        Mode::Flood => (
            args.at,
            Act::Send {
                header: Vec::new(),
                then: Then::Flood,
            },
        ),
        Mode::Header => (
            args.at,
            Act::Send {
                header: args.header.0.clone(),
                then,
            },
        ),
        Mode::BadSelectedProtocol => (At::X224, Act::SelectProtocol(args.selected)),
        Mode::Fragments => (args.at, Act::Fragments),
        Mode::GarbageX224 => {
            let mut bytes = garbage::Rng::new(seed).bytes(512);
            // Never a TPKT version byte: garbage, not a confirm with a bad length.
            if bytes[0] == 0x03 {
                bytes[0] = 0x42;
            }
            (
                At::X224,
                Act::Send {
                    header: bytes,
                    then: Then::Hold,
                },
            )
        }
        _ => return None,
    };
    Some(act)
}
