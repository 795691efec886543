#!/usr/bin/env python3
"""Small python helpers for the rdpshim test lab (stdlib only).

Subcommands:
  closer  HOST PORT          accept, read the X.224 Connection Request, close
  staller HOST PORT [--tls]  accept, read the X.224 Connection Request, never answer;
                             with --tls: answer a Connection Confirm selecting
                             PROTOCOL_SSL, then never answer the TLS ClientHello
  resetter HOST PORT [--select asked|ssl]
                             a Windows server whose Remote Desktop certificate is unusable
                             (missing, or its private key in MachineKeys unreadable): answer
                             the X.224 request selecting one requested protocol (asked:
                             HYBRID_EX, HYBRID, SSL in that order) or PROTOCOL_SSL whatever
                             was asked (ssl), then reset (RST) at the TLS ClientHello
  probe   HOST PORT [--x224] [--deadline S]
                             poll until a TCP connect succeeds (and, with --x224, until an
                             X.224 request gets a TPKT answer); exit 0 ok, 1 deadline
  connect HOST PORT [--timeout S]
                             one connect attempt; prints accepted|refused|timeout|error:..
                             and the elapsed seconds
  selects-tls LHOST LPORT HOST PORT
                             a TLS-only server that selects PROTOCOL_SSL whatever was asked
                             (Windows without NLA does; MS-RDPBCGR has it choose from the
                             request): answer the client's X.224 request selecting TLS, do the
                             X.224 exchange (TLS) with the RDP server HOST:PORT, relay the rest
  rdp-tls-proxy LPORT HOST PORT
                             listen on 127.0.0.1:LPORT; for each connection do the X.224
                             exchange (asking for PROTOCOL_SSL) with HOST:PORT, then relay raw
                             bytes, so plain TLS tools work: openssl s_client -connect 127.0.0.1:LPORT
  xwd-colors FILE            number of distinct pixel values in an xwd dump (ZPixmap)
"""

import argparse
import socket
import struct
import sys
import threading
import time

# TPKT + X.224 Connection Request + RDP_NEG_REQ asking for PROTOCOL_SSL | PROTOCOL_HYBRID.
X224_CR = bytes.fromhex("03000013" "0ee00000000000" "01000800" "03000000")
# TPKT + X.224 Connection Confirm + RDP_NEG_RSP selecting PROTOCOL_SSL.
X224_CC_SSL = bytes.fromhex("03000013" "0ed00000123400" "0200080001000000")


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return buf
        buf += chunk
    return buf


def read_tpkt(conn):
    """Read one TPKT packet (or whatever arrives if it is not TPKT)."""
    head = recv_exact(conn, 4)
    if len(head) < 4 or head[0] != 3:
        return head
    length = struct.unpack(">H", head[2:4])[0]
    return head + recv_exact(conn, max(0, length - 4))


def listen(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(64)
    log(f"listening on {host}:{port}")
    return srv


def serve(host, port, handler):
    srv = listen(host, port)
    while True:
        conn, peer = srv.accept()
        threading.Thread(target=handler, args=(conn, peer), daemon=True).start()


def closer_handler(conn, peer):
    try:
        conn.settimeout(30)
        data = read_tpkt(conn)
        log(f"{peer}: read {len(data)} bytes: {data.hex()}; closing")
    except OSError as e:
        log(f"{peer}: {e!r}")
    finally:
        conn.close()


def make_staller_handler(tls):
    def handler(conn, peer):
        try:
            data = read_tpkt(conn)
            log(f"{peer}: read {len(data)} bytes: {data.hex()}")
            if tls and data:
                conn.sendall(X224_CC_SSL)
                log(f"{peer}: sent X.224 CC selecting PROTOCOL_SSL; stalling")
            else:
                log(f"{peer}: stalling")
            total = 0
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                total += len(chunk)
            log(f"{peer}: peer closed after {total} more bytes")
        except OSError as e:
            log(f"{peer}: {e!r}")
        finally:
            conn.close()

    return handler


def requested_protocols(tpkt):
    """requestedProtocols of an X.224 Connection Request's RDP_NEG_REQ (0 when absent)."""
    if len(tpkt) >= 19 and tpkt[-8] == 0x01:
        return struct.unpack("<I", tpkt[-4:])[0]
    return 0


def x224_confirm(kind, value):
    """TPKT + X.224 Connection Confirm + RDP_NEG_RSP (kind 2) or RDP_NEG_FAILURE (kind 3)."""
    return bytes.fromhex("03000013" "0ed00000123400") + struct.pack("<BBHI", kind, 0, 8, value)


def reset(conn):
    """Close with an RST instead of a FIN (SO_LINGER on, time 0), as Windows does."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def make_resetter_handler(select):
    def handler(conn, peer):
        try:
            conn.settimeout(30)
            data = read_tpkt(conn)
            requested = requested_protocols(data)
            if select == "ssl":
                chosen = 0x1
            else:
                chosen = next((p for p in (0x8, 0x2, 0x1) if requested & p), None)
            if chosen is None:
                # Asked for Standard RDP Security only: SSL_REQUIRED_BY_SERVER.
                conn.sendall(x224_confirm(3, 1))
                log(f"{peer}: requested 0x{requested:x}; sent SSL_REQUIRED_BY_SERVER")
                conn.close()
                return
            conn.sendall(x224_confirm(2, chosen))
            hello = conn.recv(65536)
            log(f"{peer}: requested 0x{requested:x}, selected 0x{chosen:x}; "
                f"{len(hello)} bytes of ClientHello; reset")
            reset(conn)
        except OSError as e:
            log(f"{peer}: {e!r}")
            conn.close()

    return handler


# TPKT + X.224 Connection Request + RDP_NEG_REQ asking for PROTOCOL_SSL only.
X224_CR_SSL = bytes.fromhex("03000013" "0ee00000000000" "01000800" "01000000")


def relay(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def tls_front(lhost, lport, host, port, answer_client):
    """Listen on LHOST:LPORT; per connection do the X.224 exchange (asking for PROTOCOL_SSL)
    with HOST:PORT, then relay raw bytes. With answer_client, first read the client's X.224
    request and answer it selecting PROTOCOL_SSL, whatever it asked for."""

    def handler(conn, peer):
        try:
            conn.settimeout(30)
            if answer_client:
                asked = read_tpkt(conn)
                conn.sendall(X224_CC_SSL)
                log(f"{peer}: asked 0x{requested_protocols(asked):x}; selected PROTOCOL_SSL")
            up = socket.create_connection((host, port), timeout=10)
            up.sendall(X224_CR_SSL)
            cc = read_tpkt(up)
            log(f"{peer}: X.224 answer {cc.hex()}")
            # RDP_NEG_RSP type 0x02 selecting PROTOCOL_SSL (1) is what lets TLS go on.
            if len(cc) < 19 or cc[11] != 0x02 or cc[15] & 0x01 == 0:
                log(f"{peer}: server did not select PROTOCOL_SSL; closing")
                conn.close()
                up.close()
                return
            conn.settimeout(None)
            up.settimeout(None)
        except OSError as e:
            log(f"{peer}: {e!r}")
            conn.close()
            return
        threading.Thread(target=relay, args=(up, conn), daemon=True).start()
        relay(conn, up)

    serve(lhost, lport, handler)


def probe(host, port, x224, deadline):
    end = time.monotonic() + deadline
    last = "no attempt"
    while time.monotonic() < end:
        try:
            with socket.create_connection((host, port), timeout=1.0) as s:
                if not x224:
                    return 0
                s.settimeout(2.0)
                s.sendall(X224_CR)
                reply = s.recv(64)
                if len(reply) >= 4 and reply[0] == 3:
                    return 0
                last = f"X.224 reply {reply.hex() or 'empty (closed)'}"
        except OSError as e:
            last = repr(e)
        time.sleep(0.1)
    print(f"probe {host}:{port}: not ready after {deadline}s ({last})", file=sys.stderr)
    return 1


def connect_once(host, port, timeout):
    t = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            result = "accepted"
    except ConnectionRefusedError:
        result = "refused"
    except (socket.timeout, TimeoutError):
        result = "timeout"
    except OSError as e:
        result = f"error:{e.errno}"
    print(f"{result} {time.monotonic() - t:.3f}")
    return 0


def xwd_colors(path):
    with open(path, "rb") as f:
        data = f.read()
    (header_size, _version, _fmt, _depth, width, height) = struct.unpack(">6I", data[:24])
    bpl = struct.unpack(">I", data[48:52])[0]
    bpp = struct.unpack(">I", data[44:48])[0]
    ncolors = struct.unpack(">I", data[76:80])[0]
    off = header_size + ncolors * 12
    step = bpp // 8
    seen = set()
    for y in range(height):
        row = data[off + y * bpl : off + y * bpl + width * step]
        for x in range(0, len(row), step):
            seen.add(row[x : x + step])
    print(f"{width}x{height} {len(seen)} colors")
    return 0


def main(argv):
    p = argparse.ArgumentParser(description="rdpshim lab helpers")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("closer", "staller", "probe", "connect"):
        sp = sub.add_parser(name)
        sp.add_argument("host")
        sp.add_argument("port", type=int)
        if name == "staller":
            sp.add_argument("--tls", action="store_true")
        if name == "probe":
            sp.add_argument("--x224", action="store_true")
            sp.add_argument("--deadline", type=float, default=15.0)
        if name == "connect":
            sp.add_argument("--timeout", type=float, default=3.0)
    sp = sub.add_parser("resetter")
    sp.add_argument("host")
    sp.add_argument("port", type=int)
    sp.add_argument("--select", choices=("asked", "ssl"), default="asked")
    sp = sub.add_parser("selects-tls")
    sp.add_argument("lhost")
    sp.add_argument("lport", type=int)
    sp.add_argument("host")
    sp.add_argument("port", type=int)
    sp = sub.add_parser("rdp-tls-proxy")
    sp.add_argument("lport", type=int)
    sp.add_argument("host")
    sp.add_argument("port", type=int)
    sub.add_parser("xwd-colors").add_argument("file")
    a = p.parse_args(argv[1:])
    if a.cmd == "closer":
        serve(a.host, a.port, closer_handler)
    elif a.cmd == "staller":
        serve(a.host, a.port, make_staller_handler(a.tls))
    elif a.cmd == "resetter":
        serve(a.host, a.port, make_resetter_handler(a.select))
    elif a.cmd == "probe":
        return probe(a.host, a.port, a.x224, a.deadline)
    elif a.cmd == "connect":
        return connect_once(a.host, a.port, a.timeout)
    elif a.cmd == "selects-tls":
        tls_front(a.lhost, a.lport, a.host, a.port, answer_client=True)
    elif a.cmd == "rdp-tls-proxy":
        tls_front("127.0.0.1", a.lport, a.host, a.port, answer_client=False)
    elif a.cmd == "xwd-colors":
        return xwd_colors(a.file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
