//! rdpshim-test-gateway: an RD Gateway (MS-TSGU HTTP transport) for rdpshim's tests. It
//! relays tunnels to the lab's real RDP servers on loopback, and has switches for the ways
//! gateways make clients fail. Usable as a binary and in-process ([`spawn`]).
//!
//! ```text
//! rdpshim-test-gateway --port PORT [--bind 127.0.0.1] --user U --password-env VAR
//!     [--tls modern|legacy] [--no-websocket] [--upgrade-status CODE] [--auth ntlm,basic]
//!     [--allow HOST[:PORT]]...
//!     [--map NAME=ADDR:PORT]...
//! ```
//!
//! Prints `listening ADDR:PORT` and `fingerprint SHA256` on stdout once bound, logs tunnels
//! and refusals to stderr, serves until killed.
//!
//! - HTTPS with its own self-signed certificate: rustls TLS 1.3/1.2, or only TLS 1.0 over
//!   OpenSSL at security level 0 (`--tls legacy`).
//! - Transports (MS-TSGU 3.3.5.1): `RDG_OUT_DATA` upgraded to a WebSocket, or the legacy
//!   pair of `RDG_OUT_DATA` (a close-delimited response body after a 10-byte seed) and
//!   `RDG_IN_DATA` (a chunked request body), paired by `Rdg-Connection-Id`.
//!   `--no-websocket` answers the upgrade request as a gateway without WebSocket support
//!   does: with the legacy OUT channel. `--upgrade-status CODE` answers every request asking
//!   for the upgrade with that HTTP status before authentication, as a reverse proxy in
//!   front of a gateway does when it cannot pass WebSockets (the legacy transport, which
//!   asks for no upgrade, goes through).
//! - HTTP authentication per connection: NTLM (sspi's server) and Basic, offered in the
//!   401 in `--auth` order; `negotiate` is offered but never accepted (a Kerberos-only
//!   gateway, to a client without a KDC).
//! - Resource authorization: targets outside `--allow` get `E_PROXY_RAP_ACCESSDENIED` in
//!   the channel response, as a Windows RD Gateway answers.

mod auth;
mod http;
mod packets;
mod tls;
mod tunnel;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

pub use auth::Scheme;
pub use packets::E_PROXY_RAP_ACCESSDENIED;
pub use tls::TlsMode;

use auth::{Account, ConnAuth, Verdict};
use http::Conn;
use tunnel::{Downlink, Uplink};

/// A byte stream the gateway serves (TLS over TCP).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The 10 bytes a gateway sends at the start of the legacy OUT channel's body (MS-TSGU
/// 3.3.5.1 step 4 "seed"; FreeRDP and ironrdp-mstsgu skip exactly 10).
const OUT_SEED: [u8; 10] = [0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd];
/// A client that sends no request head within this long is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Parser)]
#[command(
    name = "rdpshim-test-gateway",
    about = "RD Gateway test server for rdpshim"
)]
pub struct Args {
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// 0 picks a free port.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    #[arg(long, value_enum, default_value_t = TlsMode::Modern)]
    pub tls: TlsMode,
    /// Answer WebSocket upgrade requests with the legacy HTTP transport.
    #[arg(long)]
    pub no_websocket: bool,
    /// Answer requests asking for the WebSocket upgrade with this HTTP status (a proxy in
    /// front that cannot pass WebSockets).
    #[arg(long, value_name = "CODE", value_parser = clap::value_parser!(u16).range(400..=599))]
    pub upgrade_status: Option<u16>,
    /// HTTP authentication schemes offered in the 401, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Scheme::Ntlm, Scheme::Basic])]
    pub auth: Vec<Scheme>,
    #[arg(long)]
    pub user: String,
    /// Environment variable holding the password (never a flag: argv is world-readable).
    #[arg(long)]
    pub password_env: String,
    /// A target the resource policy allows (`HOST` or `HOST:PORT`); none = every target.
    #[arg(long)]
    pub allow: Vec<String>,
    /// Dial `ADDR:PORT` for the resource `NAME` (`NAME=ADDR:PORT`), as an internal DNS would.
    #[arg(long, value_parser = parse_map)]
    pub map: Vec<(String, SocketAddr)>,
}

fn parse_map(text: &str) -> Result<(String, SocketAddr), String> {
    let (name, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: expected NAME=ADDR:PORT"))?;
    let addr = addr
        .parse()
        .map_err(|e| format!("`{addr}`: not ADDR:PORT: {e}"))?;
    Ok((name.to_owned(), addr))
}

/// Everything a gateway is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub tls: TlsMode,
    pub websocket: bool,
    /// Answer WebSocket upgrade requests with this status, before authentication.
    pub upgrade_status: Option<u16>,
    pub schemes: Vec<Scheme>,
    pub user: String,
    pub password: String,
    pub allow: Vec<String>,
    pub map: Vec<(String, SocketAddr)>,
}

impl Config {
    /// A modern gateway on a free loopback port: WebSocket, NTLM then Basic, every target.
    pub fn new(user: &str, password: &str) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: TlsMode::Modern,
            websocket: true,
            upgrade_status: None,
            schemes: vec![Scheme::Ntlm, Scheme::Basic],
            user: user.to_owned(),
            password: password.to_owned(),
            allow: Vec::new(),
            map: Vec::new(),
        }
    }

    pub fn from_args(args: Args) -> Result<Self, String> {
        let password = std::env::var(&args.password_env)
            .map_err(|_| format!("${} is not set", args.password_env))?;
        Ok(Self {
            bind: SocketAddr::new(args.bind, args.port),
            tls: args.tls,
            websocket: !args.no_websocket,
            upgrade_status: args.upgrade_status,
            schemes: args.auth,
            user: args.user,
            password,
            allow: args.allow,
            map: args.map,
        })
    }

    /// The resource authorization policy: `HOST` allows every port, `HOST:PORT` one.
    pub fn allows(&self, resource: &str, port: u16) -> bool {
        self.allow.is_empty()
            || self.allow.iter().any(|rule| {
                rule.eq_ignore_ascii_case(resource)
                    || rule.eq_ignore_ascii_case(&format!("{resource}:{port}"))
            })
    }

    fn destination(&self, resource: &str, port: u16) -> String {
        match self
            .map
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(resource))
        {
            Some((_, addr)) => addr.to_string(),
            None if resource.contains(':') => format!("[{resource}]:{port}"),
            None => format!("{resource}:{port}"),
        }
    }
}

/// What the gateway did, for tests to assert on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A connection authenticated with this scheme (`NTLM`, `Basic`).
    Authenticated {
        scheme: String,
        user: String,
    },
    /// A tunnel reached its target over `websocket` or `legacy-http`.
    Tunnel {
        transport: &'static str,
        resource: String,
        port: u16,
    },
    /// The resource policy refused the target.
    Refused {
        resource: String,
        port: u16,
    },
    TunnelClosed,
    TunnelError(String),
    /// A WebSocket upgrade request answered with `--upgrade-status`.
    UpgradeRefused,
}

pub struct Shared {
    config: Config,
    events: Mutex<Vec<Event>>,
    /// Legacy channels waiting for their other half, by `Rdg-Connection-Id`.
    pending: Mutex<HashMap<String, Half>>,
}

enum Half {
    Out(Downlink),
    In(Uplink),
}

impl Shared {
    fn record(&self, event: Event) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event);
    }
}

/// A gateway running in this process (on the caller's tokio runtime).
pub struct Gateway {
    pub addr: SocketAddr,
    /// SHA-256 of its certificate, `AB:CD:..`.
    pub fingerprint: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Gateway {
    pub fn events(&self) -> Vec<Event> {
        self.shared
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds and serves in the background.
pub async fn spawn(config: Config) -> Result<Gateway, String> {
    let (listener, server_tls) = bind(&config).await?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let fingerprint = server_tls.fingerprint.clone();
    let shared = Arc::new(Shared {
        config,
        events: Mutex::new(Vec::new()),
        pending: Mutex::new(HashMap::new()),
    });
    let task = tokio::spawn(serve(listener, Arc::new(server_tls), Arc::clone(&shared)));
    Ok(Gateway {
        addr,
        fingerprint,
        shared,
        task,
    })
}

/// Binds, calls `ready(addr, fingerprint)`, serves until killed (the binary).
pub async fn run(config: Config, ready: impl FnOnce(SocketAddr, &str)) -> Result<(), String> {
    let (listener, server_tls) = bind(&config).await?;
    ready(
        listener.local_addr().map_err(|e| e.to_string())?,
        &server_tls.fingerprint,
    );
    let shared = Arc::new(Shared {
        config,
        events: Mutex::new(Vec::new()),
        pending: Mutex::new(HashMap::new()),
    });
    serve(listener, Arc::new(server_tls), shared).await;
    Ok(())
}

async fn bind(config: &Config) -> Result<(TcpListener, tls::ServerTls), String> {
    let server_tls = tls::make(config.tls, "rdpshim-test-gateway")?;
    let listener = TcpListener::bind(config.bind)
        .await
        .map_err(|e| format!("bind {}: {e}", config.bind))?;
    Ok((listener, server_tls))
}

async fn serve(listener: TcpListener, server_tls: Arc<tls::ServerTls>, shared: Arc<Shared>) {
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let server_tls = Arc::clone(&server_tls);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(
                REQUEST_TIMEOUT,
                server_tls.acceptor.accept(tcp),
            )
            .await
            {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return eprintln!("gateway: {peer}: {e}"),
                Err(_) => return eprintln!("gateway: {peer}: TLS handshake timed out"),
            };
            if let Err(e) = connection(&shared, Conn::new(stream)).await {
                eprintln!("gateway: {peer}: {e}");
            }
        });
    }
}

/// One HTTPS connection: requests until the connection becomes a channel.
async fn connection(shared: &Shared, mut conn: Conn<Box<dyn Io>>) -> Result<(), String> {
    let account = Account {
        user: shared.config.user.clone(),
        password: shared.config.password.clone(),
    };
    let mut auth = ConnAuth::new(&shared.config.schemes, &account);
    let mut authenticated = false;
    loop {
        let request = match tokio::time::timeout(REQUEST_TIMEOUT, conn.read_request()).await {
            Err(_) => return Err("no request".into()),
            Ok(Err(e)) => return Err(format!("request: {e}")),
            Ok(Ok(None)) => return Ok(()),
            Ok(Ok(Some(request))) => request,
        };
        let out = match request.method.as_str() {
            "RDG_OUT_DATA" => true,
            "RDG_IN_DATA" => false,
            other => {
                conn.skip_body(&request).await.map_err(|e| e.to_string())?;
                let status = format!("405 {other} is not an RD Gateway method");
                conn.respond(&status, &[], b"")
                    .await
                    .map_err(|e| e.to_string())?;
                continue;
            }
        };
        if let (true, Some(status)) = (
            out && request.wants_websocket(),
            shared.config.upgrade_status,
        ) {
            conn.skip_body(&request).await.map_err(|e| e.to_string())?;
            let status = format!("{status} WebSocket upgrade not supported by this proxy");
            conn.respond(&status, &[], b"")
                .await
                .map_err(|e| e.to_string())?;
            shared.record(Event::UpgradeRefused);
            return Ok(());
        }
        if !authenticated {
            match auth.check(request.header("authorization")) {
                Verdict::Challenge(values) => {
                    conn.skip_body(&request).await.map_err(|e| e.to_string())?;
                    let headers: Vec<(&str, String)> = values
                        .into_iter()
                        .map(|v| ("WWW-Authenticate", v))
                        .collect();
                    conn.respond("401 Unauthorized", &headers, b"")
                        .await
                        .map_err(|e| e.to_string())?;
                    continue;
                }
                Verdict::Authenticated(user) => {
                    let scheme = request
                        .header("authorization")
                        .and_then(|v| v.split_whitespace().next())
                        .unwrap_or("")
                        .to_owned();
                    shared.record(Event::Authenticated { scheme, user });
                    authenticated = true;
                }
            }
        }
        let id = request.header("rdg-connection-id").unwrap_or("").to_owned();

        if out && request.wants_websocket() && shared.config.websocket {
            return websocket(shared, conn, &request).await;
        }
        if out {
            conn.skip_body(&request).await.map_err(|e| e.to_string())?;
            conn.respond_streaming("200 OK")
                .await
                .map_err(|e| e.to_string())?;
            conn.io
                .write_all(&OUT_SEED)
                .await
                .map_err(|e| e.to_string())?;
            conn.io.flush().await.map_err(|e| e.to_string())?;
            let (_, write) = tokio::io::split(conn.io);
            pair(shared, id, Half::Out(Downlink::Raw(write))).await;
            return Ok(());
        }
        // IN: a request without a body ends the authentication (200, as FreeRDP and
        // ironrdp-mstsgu expect); the one with a body is the channel itself.
        if request.is_chunked() {
            pair(shared, id, Half::In(Uplink::Chunked(conn))).await;
            return Ok(());
        }
        if request.content_length() > 0 {
            pair(shared, id, Half::In(Uplink::Raw(conn))).await;
            return Ok(());
        }
        conn.respond("200 OK", &[], b"")
            .await
            .map_err(|e| e.to_string())?;
    }
}

async fn websocket(
    shared: &Shared,
    mut conn: Conn<Box<dyn Io>>,
    request: &http::Request,
) -> Result<(), String> {
    let key = request.header("sec-websocket-key").unwrap_or("");
    let headers = [
        ("Connection", "Upgrade".to_owned()),
        ("Upgrade", "websocket".to_owned()),
        ("Sec-WebSocket-Accept", derive_accept_key(key.as_bytes())),
    ];
    let mut head = "HTTP/1.1 101 Switching Protocols\r\n".to_owned();
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    conn.io
        .write_all(head.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    conn.io.flush().await.map_err(|e| e.to_string())?;
    if !conn.buf.is_empty() {
        return Err("client sent data before the WebSocket was up".into());
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(packets::MAX_PACKET * 4))
        .max_frame_size(Some(packets::MAX_PACKET * 4));
    let ws = WebSocketStream::from_raw_socket(conn.io, Role::Server, Some(config)).await;
    let (sink, stream) = futures_util::StreamExt::split(ws);
    tunnel::run(
        shared,
        Uplink::WebSocket(stream),
        Downlink::WebSocket(sink),
        "websocket",
    )
    .await;
    Ok(())
}

/// Stores one legacy channel, or runs the tunnel when its other half is already there.
async fn pair(shared: &Shared, id: String, half: Half) {
    let other = {
        let mut pending = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
        match (pending.remove(&id), half) {
            (Some(Half::Out(down)), Half::In(up)) | (Some(Half::In(up)), Half::Out(down)) => {
                Some((up, down))
            }
            (previous, half) => {
                if previous.is_some() {
                    eprintln!("gateway: two channels of the same kind for {id}");
                }
                pending.insert(id, half);
                None
            }
        }
    };
    if let Some((up, down)) = other {
        tunnel::run(shared, up, down, "legacy-http").await;
    }
}
