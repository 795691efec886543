//! One tunnel, once the HTTP transport is up (MS-TSGU 3.3.5): handshake, tunnel create,
//! tunnel authorization, channel create (where the resource authorization policy answers),
//! then data packets relayed to the target over TCP until either side closes.

use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::http::Conn;
use crate::packets::{self, HEADER_LEN, MAX_PACKET};
use crate::{Event, Io, Shared};

/// How long a setup packet may take to arrive.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// Where client packets come from.
pub enum Uplink {
    WebSocket(SplitStream<WebSocketStream<Box<dyn Io>>>),
    /// The legacy IN channel: a chunked request body.
    Chunked(Conn<Box<dyn Io>>),
    /// The legacy IN channel with a `Content-Length` body.
    Raw(Conn<Box<dyn Io>>),
}

/// Where gateway packets go.
pub enum Downlink {
    WebSocket(SplitSink<WebSocketStream<Box<dyn Io>>, Message>),
    /// The legacy OUT channel: a close-delimited response body.
    Raw(WriteHalf<Box<dyn Io>>),
}

impl Downlink {
    async fn send(&mut self, packet: Vec<u8>) -> Result<(), String> {
        match self {
            Self::WebSocket(sink) => sink
                .send(Message::Binary(packet.into()))
                .await
                .map_err(|e| format!("websocket send: {e}")),
            Self::Raw(out) => {
                out.write_all(&packet).await.map_err(|e| e.to_string())?;
                out.flush().await.map_err(|e| e.to_string())
            }
        }
    }

    async fn close(&mut self) {
        match self {
            Self::WebSocket(sink) => {
                let _ = sink.close().await;
            }
            Self::Raw(out) => {
                let _ = out.shutdown().await;
            }
        }
    }
}

/// Client bytes reassembled into packets (a WebSocket message or an HTTP chunk need not
/// hold exactly one packet: FreeRDP 2 writes them as a byte stream).
struct Packets {
    up: Uplink,
    buf: Vec<u8>,
}

impl Packets {
    /// The next whole packet; `None` when the client closed.
    async fn next(&mut self) -> Result<Option<Vec<u8>>, String> {
        loop {
            if self.buf.len() >= HEADER_LEN {
                let length = packets::announced_length(&self.buf).unwrap_or(0);
                if !(HEADER_LEN..=MAX_PACKET).contains(&length) {
                    return Err(format!("client packet length {length} out of bounds"));
                }
                if self.buf.len() >= length {
                    return Ok(Some(self.buf.drain(..length).collect()));
                }
            }
            let more = match &mut self.up {
                Uplink::WebSocket(stream) => match stream.next().await {
                    None | Some(Ok(Message::Close(_))) => None,
                    Some(Ok(Message::Binary(data))) => Some(data.to_vec()),
                    Some(Ok(_)) => Some(Vec::new()),
                    Some(Err(e)) => return Err(format!("websocket read: {e}")),
                },
                Uplink::Chunked(conn) => conn.read_chunk().await.map_err(|e| e.to_string())?,
                Uplink::Raw(conn) => {
                    let bytes = conn.read_raw(16 * 1024).await.map_err(|e| e.to_string())?;
                    (!bytes.is_empty()).then_some(bytes)
                }
            };
            match more {
                Some(bytes) => {
                    if self.buf.len() + bytes.len() > 2 * MAX_PACKET {
                        return Err("client sent more than a packet without a boundary".into());
                    }
                    self.buf.extend_from_slice(&bytes);
                }
                None if self.buf.is_empty() => return Ok(None),
                None => return Err("client closed mid-packet".into()),
            }
        }
    }

    /// The next packet that is not a keepalive, within the setup time limit.
    async fn expect(&mut self, ty: u16, what: &str) -> Result<Vec<u8>, String> {
        loop {
            let packet = tokio::time::timeout(SETUP_TIMEOUT, self.next())
                .await
                .map_err(|_| format!("no {what} within {SETUP_TIMEOUT:?}"))??
                .ok_or_else(|| format!("client closed before {what}"))?;
            let (got, body) = packets::split(&packet)
                .ok_or_else(|| format!("malformed packet instead of {what}"))?;
            if got == packets::KEEPALIVE {
                continue;
            }
            if got != ty {
                return Err(format!("packet type 0x{got:02x} instead of {what}"));
            }
            return Ok(body.to_vec());
        }
    }
}

/// Runs the tunnel; every outcome is recorded as an [`Event`].
pub async fn run(shared: &Shared, up: Uplink, mut down: Downlink, transport: &'static str) {
    let mut packets = Packets {
        up,
        buf: Vec::new(),
    };
    match setup(shared, &mut packets, &mut down, transport).await {
        Ok(Some(target)) => relay(shared, packets, down, target).await,
        Ok(None) => down.close().await,
        Err(e) => {
            eprintln!("gateway: tunnel ended: {e}");
            shared.record(Event::TunnelError(e));
            down.close().await;
        }
    }
}

/// Setup up to the channel; `None` when the policy refused the target (already answered).
async fn setup(
    shared: &Shared,
    packets: &mut Packets,
    down: &mut Downlink,
    transport: &'static str,
) -> Result<Option<TcpStream>, String> {
    packets
        .expect(packets::HANDSHAKE_REQUEST, "handshake request")
        .await?;
    down.send(packets::handshake_response(0)).await?;
    packets
        .expect(packets::TUNNEL_CREATE, "tunnel create")
        .await?;
    down.send(packets::tunnel_response(0)).await?;
    let body = packets.expect(packets::TUNNEL_AUTH, "tunnel auth").await?;
    let client = packets::decode_tunnel_auth(&body).unwrap_or_default();
    down.send(packets::tunnel_auth_response(0)).await?;
    let body = packets
        .expect(packets::CHANNEL_CREATE, "channel create")
        .await?;
    let channel = packets::decode_channel_create(&body)
        .ok_or_else(|| "malformed channel create".to_owned())?;
    let resource = channel.resources.first().cloned().unwrap_or_default();

    if !shared.config.allows(&resource, channel.port) {
        let code = packets::E_PROXY_RAP_ACCESSDENIED;
        eprintln!(
            "gateway: {resource}:{} refused by the resource policy: {}",
            channel.port,
            packets::code_name(code)
        );
        shared.record(Event::Refused {
            resource,
            port: channel.port,
        });
        down.send(packets::channel_response(code)).await?;
        return Ok(None);
    }
    let dial = shared.config.destination(&resource, channel.port);
    let target = match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(&dial)).await {
        Ok(Ok(target)) => target,
        outcome => {
            let why = match outcome {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_owned(),
            };
            eprintln!("gateway: {dial}: {why}");
            shared.record(Event::TunnelError(format!("dial {dial}: {why}")));
            down.send(packets::channel_response(packets::E_PROXY_TS_CONNECTFAILED))
                .await?;
            return Ok(None);
        }
    };
    let _ = target.set_nodelay(true);
    eprintln!(
        "gateway: {transport} tunnel for {client:?} to {resource}:{} ({dial})",
        channel.port
    );
    shared.record(Event::Tunnel {
        transport,
        resource,
        port: channel.port,
    });
    down.send(packets::channel_response(0)).await?;
    Ok(Some(target))
}

/// Data both ways until one side closes; the other side is told (close packet or TCP FIN).
async fn relay(shared: &Shared, mut packets: Packets, mut down: Downlink, target: TcpStream) {
    let (mut from_target, mut to_target) = target.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(16);

    let writer = async move {
        while let Some(packet) = rx.recv().await {
            if down.send(packet).await.is_err() {
                break;
            }
        }
        down.close().await;
    };
    let target_to_client = {
        let tx = tx.clone();
        async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match from_target.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(packets::close_channel(0)).await;
                        break;
                    }
                    Ok(n) => {
                        if tx.send(packets::data(&buf[..n])).await.is_err() {
                            break;
                        }
                    }
                }
            }
        }
    };
    let client_to_target = async move {
        loop {
            let packet = match packets.next().await {
                Ok(Some(packet)) => packet,
                Ok(None) => break,
                Err(e) => {
                    eprintln!("gateway: {e}");
                    break;
                }
            };
            let Some((ty, body)) = packets::split(&packet) else {
                break;
            };
            match ty {
                packets::DATA => {
                    let Some(data) = packets::decode_data(body) else {
                        break;
                    };
                    if to_target.write_all(data).await.is_err() {
                        break;
                    }
                }
                packets::CLOSE_CHANNEL => {
                    let _ = tx.send(packets::close_channel_response()).await;
                    break;
                }
                packets::CLOSE_CHANNEL_RESPONSE => break,
                _ => {}
            }
        }
        let _ = to_target.shutdown().await;
        drop(tx);
    };
    // The client closing shuts the target's side down, which closes it; the target closing
    // sends the client a close packet; the writer ends when both have dropped their sender.
    tokio::join!(client_to_target, target_to_client, writer);
    shared.record(Event::TunnelClosed);
}
