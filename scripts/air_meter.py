#!/usr/bin/env python3
"""A metering TCP proxy for TLS: what an upload costs on the air.

    air_meter.py --upstream 127.0.0.1:PORT --data-dir S3DIR [--listen-port 0] [--quiet 8]

It forwards every connection to the upstream (the embedded S3 server over https)
byte for byte and counts, per direction, the TLS records as they pass on the socket
(the 5-byte record header plus its payload: what the radio sends, less TCP/IP).
Activity is grouped into uploads: a burst of connections and bytes followed by
`--quiet` seconds of silence (a window's data and health files go out together, then
nothing until the next window; keep `--quiet` above the server's idle timeout so the
idle close of a connection counts with the upload that opened it). Batched uploads
(many windows on one connection) are one burst as well, so the same meter measures
them.

How a handshake is classified (the proxy sees only plaintext records, so it reads
the hellos; everything after them is encrypted in TLS 1.3):

- TLS 1.3 (the ServerHello's supported_versions says 0x0304): *resumed* when the
  ServerHello carries the pre_shared_key extension, i.e. the server accepted a
  session ticket the client offered; *full* otherwise (the server then sends its
  Certificate, encrypted: visible as a much larger first server flight, printed as
  `server flight` for a cross-check).
- TLS 1.2: *resumed* when the server answers with the session id the client offered
  (session-id resumption) or goes straight from ServerHello to ChangeCipherSpec
  without a Certificate message (ticket resumption); *full* otherwise.

Body bytes: the objects that appeared under `--data-dir` during the burst (files of
the embedded server's store; `*.parquet`), one request each. Overhead is wire bytes
(both ways) minus body bytes: handshakes, HTTP heads, replies, TLS framing.

Prints one line per upload and, on SIGINT/SIGTERM or when `--uploads N` were seen,
a summary; `--json FILE` also writes each upload as a JSON line.
"""

import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

HANDSHAKE, CCS, ALERT, APPDATA = 22, 20, 21, 23
EXT_PSK, EXT_SUPPORTED_VERSIONS = 41, 43


class Handshake:
    """What the plaintext hellos of one connection say."""

    def __init__(self):
        self.client_session_id = b""
        self.client_offered_psk = False
        self.server_version = None
        self.server_psk = False
        self.server_session_id = b""
        self.server_certificate = False
        self.server_ccs = False
        self.done = False

    def kind(self):
        if self.server_version is None:
            return None
        if self.server_version == 0x0304:
            return "resumed" if self.server_psk else "full"
        if self.client_session_id and self.server_session_id == self.client_session_id:
            return "resumed"
        if self.server_ccs and not self.server_certificate:
            return "resumed"
        return "full"


def extensions(body, offset):
    """(type, data) of the extensions block starting at `offset` of a hello."""
    out = []
    if offset + 2 > len(body):
        return out
    (total,) = struct.unpack_from("!H", body, offset)
    pos, end = offset + 2, min(offset + 2 + total, len(body))
    while pos + 4 <= end:
        etype, elen = struct.unpack_from("!HH", body, pos)
        out.append((etype, body[pos + 4 : pos + 4 + elen]))
        pos += 4 + elen
    return out


def client_hello(hs, body):
    pos = 2 + 32  # version, random
    sid_len = body[pos]
    hs.client_session_id = bytes(body[pos + 1 : pos + 1 + sid_len])
    pos += 1 + sid_len
    (cs_len,) = struct.unpack_from("!H", body, pos)
    pos += 2 + cs_len
    pos += 1 + body[pos]  # compression methods
    hs.client_offered_psk = any(t == EXT_PSK for t, _ in extensions(body, pos))


def server_hello(hs, body):
    (version,) = struct.unpack_from("!H", body, 0)
    pos = 2 + 32
    sid_len = body[pos]
    hs.server_session_id = bytes(body[pos + 1 : pos + 1 + sid_len])
    pos += 1 + sid_len + 2 + 1  # cipher suite, compression
    hs.server_version = version
    for etype, data in extensions(body, pos):
        if etype == EXT_SUPPORTED_VERSIONS and len(data) == 2:
            (hs.server_version,) = struct.unpack("!H", data)
        elif etype == EXT_PSK:
            hs.server_psk = True


class Direction:
    """Reassembles TLS records of one direction and reads its plaintext handshake."""

    def __init__(self, from_client, hs):
        self.from_client = from_client
        self.hs = hs
        self.buf = bytearray()
        self.hbuf = bytearray()  # handshake messages across records
        self.record_bytes = 0
        self.records = 0
        self.encrypted = False

    def feed(self, data):
        self.buf += data
        while len(self.buf) >= 5:
            ctype, _ver, length = struct.unpack_from("!BHH", self.buf, 0)
            if len(self.buf) < 5 + length:
                break
            payload = bytes(self.buf[5 : 5 + length])
            del self.buf[: 5 + length]
            self.records += 1
            self.record_bytes += 5 + length
            self.record(ctype, payload)

    def record(self, ctype, payload):
        if ctype == CCS:
            if not self.from_client:
                self.hs.server_ccs = True
            self.encrypted = True  # TLS 1.2: what follows is encrypted
            return
        if ctype != HANDSHAKE or self.encrypted:
            return
        self.hbuf += payload
        while len(self.hbuf) >= 4:
            mtype = self.hbuf[0]
            mlen = int.from_bytes(self.hbuf[1:4], "big")
            if len(self.hbuf) < 4 + mlen:
                break
            body = bytes(self.hbuf[4 : 4 + mlen])
            del self.hbuf[: 4 + mlen]
            try:
                if mtype == 1 and self.from_client:
                    client_hello(self.hs, body)
                elif mtype == 2 and not self.from_client:
                    server_hello(self.hs, body)
                    if self.hs.server_version == 0x0304:
                        self.encrypted = True  # the rest of the flight is encrypted
                elif mtype == 11 and not self.from_client:
                    self.hs.server_certificate = True
            except (IndexError, struct.error):
                pass


class Meter:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.last_activity = None
        self.burst = None
        self.uploads = []
        self.seen_files = set()
        self.stop = threading.Event()

    def activity(self):
        now = time.monotonic()
        self.last_activity = now
        if self.burst is None:
            self.burst = {"start": time.time(), "conns": []}

    def new_connection(self, conn):
        with self.lock:
            self.activity()
            self.burst["conns"].append(conn)

    def bytes_seen(self):
        with self.lock:
            self.activity()

    def new_files(self):
        files = []
        for root, _dirs, names in os.walk(self.args.data_dir):
            for name in names:
                if name.endswith(".parquet"):
                    path = os.path.join(root, name)
                    if path not in self.seen_files:
                        self.seen_files.add(path)
                        files.append(os.path.getsize(path))
        return files

    def close_burst(self):
        with self.lock:
            burst, self.burst = self.burst, None
        if burst is None:
            return
        conns = burst["conns"]
        kinds = [c["hs"].kind() for c in conns]
        up = sum(c["up"].record_bytes for c in conns)
        down = sum(c["down"].record_bytes for c in conns)
        flights = [c["server_flight"] for c in conns]
        files = self.new_files()
        body = sum(files)
        u = {
            "upload": len(self.uploads) + 1,
            "connections": len(conns),
            "full": kinds.count("full"),
            "resumed": kinds.count("resumed"),
            "up": up,
            "down": down,
            "requests": len(files),
            "body": body,
            "overhead": up + down - body,
            "server_flights": flights,
        }
        self.uploads.append(u)
        per_req = u["overhead"] / u["requests"] if u["requests"] else float("nan")
        print(
            f"upload {u['upload']}: connections {u['connections']}, handshakes full "
            f"{u['full']} resumed {u['resumed']}, wire up {up} B down {down} B, body "
            f"{body} B in {u['requests']} requests, overhead {u['overhead']} B "
            f"({per_req:.0f} B/request), server flight {flights} B",
            flush=True,
        )
        if self.args.json:
            with open(self.args.json, "a", encoding="utf-8") as f:
                f.write(json.dumps(u) + "\n")
        if self.args.uploads and len(self.uploads) >= self.args.uploads:
            self.stop.set()

    def watch(self):
        while not self.stop.is_set():
            time.sleep(0.2)
            with self.lock:
                idle = (
                    self.burst is not None
                    and time.monotonic() - self.last_activity >= self.args.quiet
                )
            if idle:
                self.close_burst()

    def summary(self):
        later = self.uploads[1:]
        def total(key, us):
            return sum(u[key] for u in us)
        print(f"summary: {len(self.uploads)} uploads")
        for label, us in (("all", self.uploads), ("after the first", later)):
            if not us:
                continue
            hs = total("full", us) + total("resumed", us)
            reqs = total("requests", us) or 1
            print(
                f"  {label}: connections {total('connections', us)} "
                f"({total('connections', us) / len(us):.2f} per upload), "
                f"files {total('requests', us) / len(us):.1f} per upload, full handshakes "
                f"{total('full', us)}, resumed {total('resumed', us)} "
                f"({100 * total('resumed', us) / max(hs, 1):.0f}% resumed), "
                f"wire {(total('up', us) + total('down', us)) / len(us):.0f} B per upload, "
                f"body {total('body', us) / len(us):.0f} B per upload, "
                f"overhead {total('overhead', us) / reqs:.0f} B per request (file)",
                flush=True,
            )


def pump(meter, src, dst, direction, conn, first_flight):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            direction.feed(data)
            if first_flight and not conn["client_done"]:
                conn["server_flight"] += len(data)
            if not first_flight and conn["hs"].server_version is not None:
                conn["client_done"] = True
            dst.sendall(data)
            meter.bytes_seen()
    except OSError:
        pass
    finally:
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass


def handle(meter, client, upstream):
    try:
        server = socket.create_connection(upstream)
    except OSError as e:
        print(f"air_meter: upstream: {e}", file=sys.stderr)
        client.close()
        return
    for s in (client, server):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    hs = Handshake()
    conn = {
        "hs": hs,
        "up": Direction(True, hs),
        "down": Direction(False, hs),
        # Server bytes before the client's second flight: its handshake flight
        # (ServerHello .. Finished, with the Certificate in a full handshake).
        "server_flight": 0,
        "client_done": False,
    }
    meter.new_connection(conn)
    t = threading.Thread(
        target=pump, args=(meter, server, client, conn["down"], conn, True), daemon=True
    )
    t.start()
    pump(meter, client, server, conn["up"], conn, False)
    t.join()
    client.close()
    server.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--upstream", required=True, help="HOST:PORT of the TLS server")
    p.add_argument("--data-dir", required=True, help="the server's store, for body bytes")
    p.add_argument("--listen-port", type=int, default=0)
    p.add_argument("--quiet", type=float, default=8.0, help="seconds that end an upload")
    p.add_argument("--uploads", type=int, default=0, help="stop after this many uploads")
    p.add_argument("--json", help="append each upload as a JSON line to this file")
    args = p.parse_args()
    host, port = args.upstream.rsplit(":", 1)
    upstream = (host, int(port))

    meter = Meter(args)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.listen_port))
    listener.listen(16)
    print(f"listening on {listener.getsockname()[1]}", flush=True)

    def stop(*_):
        meter.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def accept():
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(meter, client, upstream), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    threading.Thread(target=meter.watch, daemon=True).start()
    while not meter.stop.wait(0.5):
        pass
    meter.close_burst()
    meter.summary()


if __name__ == "__main__":
    main()
