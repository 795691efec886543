//! The bridge's data path alone: a screen-update-sized byte stream from a TLS server,
//! through the bridge's splice (TLS decrypted on the server leg, encrypted again on the
//! client leg), to a TLS client; and the same stream straight from the server to the
//! client, for comparison.
//!
//! `cargo bench --bench bridge_splice -- [MB] [RUNS]` (default 512 MB, 3 runs). Prints one
//! JSON object per run on stdout (`bench/bridge.sh` summarizes them into bench/BRIDGE.md):
//! `mode` (`direct` or `bridge`), `server_leg` (`rustls-1.3` or `openssl-1.0-cbc`), `mb`,
//! `seconds`, `mb_per_s`, and for the bridge the CPU time of the thread that runs the
//! splice (`bridge_cpu_ms`, from /proc/thread-self/schedstat, so client and server work
//! are not counted) and the process's RSS before and after (`rss_kb_before/after`).
//!
//! The parts are the bridge's own: the client leg's TLS acceptor with a bridge
//! certificate (`bridge::client_leg::accept_tls`), the engine's TLS client for the server
//! leg (`engine::tls::upgrade`, rustls or OpenSSL at security level 0), and
//! `bridge::splice::splice` with its fixed buffers. The server writes 16 KiB chunks (a
//! full-screen 32-bit update is a few hundred KiB of fast-path PDUs in such chunks).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openssl::ssl::{SslAcceptor, SslMethod, SslVersion};
use rdpshim::attempt::{TlsChoice, TlsStack, TlsVersion};
use rdpshim::bridge::{client_leg, splice, Identity};
use rdpshim::engine::tls;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const CHUNK: usize = 16 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum ServerLeg {
    /// rustls, TLS 1.3 (AES-GCM): a modern server.
    Modern,
    /// OpenSSL at security level 0, TLS 1.0, ECDHE-RSA-AES128-SHA (CBC + HMAC-SHA1): the
    /// legacy server the bridge exists for.
    Legacy,
}

impl ServerLeg {
    fn name(self) -> &'static str {
        match self {
            Self::Modern => "rustls-1.3",
            Self::Legacy => "openssl-1.0-cbc",
        }
    }

    fn client_choice(self) -> TlsChoice {
        match self {
            Self::Modern => TlsChoice::modern(),
            Self::Legacy => TlsChoice {
                stack: TlsStack::Openssl,
                version: Some(TlsVersion::Tls10),
                ciphers: Some("ECDHE-RSA-AES128-SHA".into()),
            },
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A TLS server on its own thread that streams `bytes` to every client, then closes.
fn start_server(leg: ServerLeg, identity_dir: &std::path::Path, bytes: u64) -> SocketAddr {
    let identity = Identity::load_or_create(identity_dir).unwrap();
    let pem_dir = identity_dir.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        runtime().block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let legacy = (leg == ServerLeg::Legacy).then(|| {
                let mut builder =
                    SslAcceptor::mozilla_intermediate(SslMethod::tls_server()).unwrap();
                builder.set_security_level(0);
                builder
                    .set_min_proto_version(Some(SslVersion::TLS1))
                    .unwrap();
                builder
                    .set_max_proto_version(Some(SslVersion::TLS1))
                    .unwrap();
                builder
                    .set_cipher_list("ECDHE-RSA-AES128-SHA:@SECLEVEL=0")
                    .unwrap();
                builder
                    .set_certificate_chain_file(pem_dir.join("certificate.pem"))
                    .unwrap();
                builder
                    .set_private_key_file(pem_dir.join("key.pem"), openssl::ssl::SslFiletype::PEM)
                    .unwrap();
                builder.build()
            });
            let payload: Vec<u8> = (0..CHUNK as u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect();
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let _ = tcp.set_nodelay(true);
                let mut stream: tls::BoxStream = match &legacy {
                    Some(acceptor) => {
                        let ssl = openssl::ssl::Ssl::new(acceptor.context()).unwrap();
                        let mut s = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
                        Pin::new(&mut s).accept().await.unwrap();
                        Box::new(s)
                    }
                    None => Box::new(
                        tokio_rustls::TlsAcceptor::from(identity.tls_config())
                            .accept(tcp)
                            .await
                            .unwrap(),
                    ),
                };
                let mut sent = 0u64;
                while sent < bytes {
                    let n = CHUNK.min((bytes - sent) as usize);
                    if stream.write_all(&payload[..n]).await.is_err() {
                        break;
                    }
                    sent += n as u64;
                }
                let _ = stream.shutdown().await;
            }
        });
    });
    rx.recv().unwrap()
}

/// The bridge on its own thread: one session, splice; returns the thread's CPU time.
fn start_bridge(
    identity: Arc<rustls::ServerConfig>,
    server: SocketAddr,
    leg: ServerLeg,
) -> (SocketAddr, std::sync::mpsc::Receiver<Duration>) {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (cpu_tx, cpu_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        runtime().block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let (client, _) = listener.accept().await.unwrap();
            let _ = client.set_nodelay(true);
            let started = thread_cpu();
            let server_tcp = TcpStream::connect(server).await.unwrap();
            let _ = server_tcp.set_nodelay(true);
            let choice = leg.client_choice();
            let (accepted, upgraded) = tokio::join!(
                client_leg::accept_tls(client, &[], identity),
                tls::upgrade(server_tcp, &choice, "127.0.0.1")
            );
            let (mut client_stream, _) = accepted.unwrap();
            let mut server_stream = upgraded.map_err(|e| e.detail).unwrap().stream;
            let spliced = splice::splice(&mut client_stream, &mut server_stream, &[], &[]).await;
            assert!(spliced.to_client > 0);
            cpu_tx.send(thread_cpu() - started).unwrap();
        });
    });
    (addr_rx.recv().unwrap(), cpu_rx)
}

/// Reads everything from `target` over TLS with `choice`; the bytes and the time.
async fn receive(target: SocketAddr, choice: &TlsChoice) -> (u64, Duration) {
    let started = Instant::now();
    let tcp = TcpStream::connect(target).await.unwrap();
    let _ = tcp.set_nodelay(true);
    let mut stream = tls::upgrade(tcp, choice, "127.0.0.1")
        .await
        .map_err(|e| e.detail)
        .unwrap()
        .stream;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n as u64,
        }
    }
    (total, started.elapsed())
}

/// CPU time of the calling thread (ns on the CPU, /proc/thread-self/schedstat).
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = text
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

fn rss_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mb: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(512);
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let bytes = mb * 1_000_000;
    let dir = std::env::temp_dir().join(format!("rdpshim-splice-bench-{}", std::process::id()));
    let bridge_identity = Identity::load_or_create(&dir.join("bridge")).unwrap();

    for leg in [ServerLeg::Modern, ServerLeg::Legacy] {
        let server = start_server(leg, &dir.join(format!("server-{}", leg.name())), bytes);
        for run in 0..runs {
            let (got, took) = runtime().block_on(receive(server, &leg.client_choice()));
            assert_eq!(got, bytes, "direct run received everything");
            println!(
                "{{\"mode\":\"direct\",\"server_leg\":\"{}\",\"run\":{run},\"mb\":{mb},\"seconds\":{:.3},\"mb_per_s\":{:.1}}}",
                leg.name(),
                took.as_secs_f64(),
                mb as f64 / took.as_secs_f64()
            );

            let before = rss_kb("VmRSS:");
            let (bridge, cpu) = start_bridge(bridge_identity.tls_config(), server, leg);
            let (got, took) = runtime().block_on(receive(bridge, &TlsChoice::modern()));
            assert_eq!(got, bytes, "bridged run received everything");
            let cpu = cpu.recv().unwrap();
            println!(
                "{{\"mode\":\"bridge\",\"server_leg\":\"{}\",\"run\":{run},\"mb\":{mb},\"seconds\":{:.3},\"mb_per_s\":{:.1},\"bridge_cpu_ms\":{:.1},\"bridge_cpu_ms_per_mb\":{:.3},\"rss_kb_before\":{before},\"rss_kb_after\":{},\"rss_kb_peak\":{}}}",
                leg.name(),
                took.as_secs_f64(),
                mb as f64 / took.as_secs_f64(),
                cpu.as_secs_f64() * 1e3,
                cpu.as_secs_f64() * 1e3 / mb as f64,
                rss_kb("VmRSS:"),
                rss_kb("VmHWM:"),
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
