//! The server starts, announces its address, and answers a raw X.224 Connection Request.
//! (Client-vs-acceptor tests live with the client.)

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(20);

/// The running server; killed (by its own PID) when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(mode: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rdpshim-test-acceptor"))
            .args(["--port", "0", "--mode", mode])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn rdpshim-test-acceptor");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("no `listening` line within {TIMEOUT:?}");
            }
        };
        let Some(addr) = line.trim().strip_prefix("listening ") else {
            let _ = child.kill();
            panic!("unexpected first line: {line:?}");
        };
        let addr = addr.parse().expect("address after `listening`");
        Self { child, addr }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect_timeout(&self.addr, TIMEOUT).expect("connect");
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("read timeout");
        stream
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// TPKT + X.224 Connection Request + RDP_NEG_REQ asking for `protocols`.
fn connection_request(protocols: u32) -> Vec<u8> {
    let mut v = vec![
        0x03, 0x00, 0x00, 0x13, 0x0E, 0xE0, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    v.extend_from_slice(&[0x01, 0x00, 0x08, 0x00]);
    v.extend_from_slice(&protocols.to_le_bytes());
    v
}

/// Reads one TPKT-framed PDU.
fn read_tpkt(stream: &mut TcpStream) -> Vec<u8> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).expect("TPKT header");
    assert_eq!(header[0], 0x03, "TPKT version");
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    assert!(len >= 4, "TPKT length {len}");
    let mut pdu = header.to_vec();
    pdu.resize(len, 0);
    stream.read_exact(&mut pdu[4..]).expect("TPKT body");
    pdu
}

const PROTOCOL_SSL: u32 = 1;
const PROTOCOL_HYBRID: u32 = 2;
const PROTOCOL_HYBRID_EX: u32 = 8;

/// Asserts a Connection Confirm carrying RDP_NEG_RSP and returns the selected protocol.
fn selected_protocol(pdu: &[u8]) -> u32 {
    assert_eq!(pdu.len(), 19, "Connection Confirm length: {pdu:02X?}");
    assert_eq!(pdu[5], 0xD0, "X.224 Connection Confirm code: {pdu:02X?}");
    assert_eq!(pdu[11], 0x02, "TYPE_RDP_NEG_RSP: {pdu:02X?}");
    u32::from_le_bytes([pdu[15], pdu[16], pdu[17], pdu[18]])
}

#[test]
fn announces_address_and_confirms_ssl() {
    let server = Server::start("plain");
    let mut stream = server.connect();
    stream
        .write_all(&connection_request(PROTOCOL_SSL))
        .expect("send request");
    let confirm = read_tpkt(&mut stream);
    assert_eq!(selected_protocol(&confirm), PROTOCOL_SSL);
}

#[test]
fn every_mode_confirms_ssl() {
    for mode in [
        "plain",
        "offer-udp",
        "udp-blackhole",
        "stall-after-tls",
        "garbage-after-x224",
    ] {
        let server = Server::start(mode);
        let mut stream = server.connect();
        stream
            .write_all(&connection_request(PROTOCOL_SSL | PROTOCOL_HYBRID))
            .expect("send");
        let confirm = read_tpkt(&mut stream);
        assert_eq!(selected_protocol(&confirm), PROTOCOL_SSL, "mode {mode}");
    }
}

#[test]
fn nla_only_request_gets_a_negotiation_failure() {
    let server = Server::start("plain");
    let mut stream = server.connect();
    stream
        .write_all(&connection_request(PROTOCOL_HYBRID | PROTOCOL_HYBRID_EX))
        .expect("send");
    let confirm = read_tpkt(&mut stream);
    assert_eq!(
        confirm[5], 0xD0,
        "X.224 Connection Confirm code: {confirm:02X?}"
    );
    assert_eq!(confirm[11], 0x03, "TYPE_RDP_NEG_FAILURE: {confirm:02X?}");
    // SSL_REQUIRED_BY_SERVER
    assert_eq!(
        u32::from_le_bytes([confirm[15], confirm[16], confirm[17], confirm[18]]),
        1
    );
}

#[test]
fn survives_garbage_from_a_client() {
    let server = Server::start("plain");
    for junk in [
        vec![0xFFu8; 3000],
        vec![0x03, 0x00, 0x00, 0x02],
        vec![0x03, 0x00, 0xFF, 0xFF, 0x0E],
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        vec![
            0x03, 0x00, 0x00, 0x0B, 0x06, 0xE0, 0x00, 0x00, 0x00, 0x00, 0x00,
        ],
    ] {
        let mut stream = server.connect();
        let _ = stream.write_all(&junk);
        // The server may answer or close; either way it must go on serving.
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
    let mut stream = server.connect();
    stream
        .write_all(&connection_request(PROTOCOL_SSL))
        .expect("send");
    assert_eq!(selected_protocol(&read_tpkt(&mut stream)), PROTOCOL_SSL);
}
