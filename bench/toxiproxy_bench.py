"""Benchmark of a Toxiproxy-compatible server: added latency and bulk throughput, direct vs proxied.

Starts ``python -m toxiproxy_compat`` on a free 127.0.0.1 port (or uses ``TOXIPROXY_URL``), an upstream
in a separate process (an echo port and a source port on 127.0.0.1), creates one proxy per upstream
with no toxics, and measures side by side in one run:

  (a) 64-byte ping-pong round trips, N of them on one connection: median and p99, direct vs proxied;
  (b) bulk throughput, upstream -> client, up to --bulk-bytes or --bulk-seconds, direct vs proxied.

Targets: added median RTT <= 0.25 ms; proxied throughput >= 300 MB/s (1 MB = 10^6 B) and >= 25% of
direct. Prints a table with PASS/MISS per target; exits 0 either way unless ``--strict``.

Usage: .venv/bin/python bench/toxiproxy_bench.py [--pings 5000] [--bulk-seconds 5] [--strict]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[1]
PING_BYTES = 64
CHUNK = 1 << 20
TARGET_ADDED_MEDIAN_MS = 0.25
TARGET_PROXIED_MBPS = 300.0
TARGET_RATIO = 0.25


# -- upstream process -------------------------------------------------------------------------
def _serve_echo(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


def _serve_source(conn: socket.socket) -> None:
    """Read an 8-byte big-endian count, send that many bytes, then close."""
    block = memoryview(bytes(CHUNK))
    with conn:
        header = b""
        while len(header) < 8:
            part = conn.recv(8 - len(header))
            if not part:
                return
            header += part
        left = struct.unpack(">Q", header)[0]
        try:
            while left > 0:
                n = min(left, CHUNK)
                conn.sendall(block[:n])
                left -= n
        except OSError:
            return


def _upstream_main(ports: "multiprocessing.Queue[tuple[int, int]]") -> None:
    listeners = [socket.create_server(("127.0.0.1", 0), backlog=128) for _ in range(2)]
    ports.put((listeners[0].getsockname()[1], listeners[1].getsockname()[1]))

    def accept_loop(listener: socket.socket, handler) -> None:
        while True:
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_loop, args=(listeners[1], _serve_source), daemon=True).start()
    accept_loop(listeners[0], _serve_echo)


# -- the server under test ----------------------------------------------------------------------
@dataclass
class Server:
    host: str
    port: int
    process: subprocess.Popen[bytes] | None

    def call(self, method: str, path: str, body: object | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body))
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=35)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_server() -> Server:
    url = os.environ.get("TOXIPROXY_URL")
    if url:
        parts = urlsplit(url)
        return Server(parts.hostname or "127.0.0.1", parts.port or 8474, None)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "toxiproxy_compat", "-host", "127.0.0.1", "-port", str(port)],
                            cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "LOG_LEVEL": os.environ.get("LOG_LEVEL", "error")})
    server = Server("127.0.0.1", port, proc)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"toxiproxy_compat exited with {proc.returncode} at startup; run it by hand to see why")
        try:
            if server.call("GET", "/version")[0] == 200:
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise SystemExit(f"toxiproxy_compat did not answer /version on 127.0.0.1:{port} within 15 s")


def create_proxy(server: Server, name: str, upstream_port: int) -> tuple[str, int]:
    server.call("DELETE", f"/proxies/{name}")
    status, body = server.call("POST", "/proxies", {"name": name, "listen": "127.0.0.1:0",
                                                    "upstream": f"127.0.0.1:{upstream_port}"})
    if status != 201:
        raise SystemExit(f"creating proxy {name}: HTTP {status} {body[:200]!r}")
    host, _, port = json.loads(body)["listen"].rpartition(":")
    return "127.0.0.1", int(port)


# -- measurements -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PingResult:
    median_ms: float
    p99_ms: float


@dataclass(frozen=True)
class BulkResult:
    bytes_moved: int
    seconds: float

    @property
    def mb_per_s(self) -> float:
        return self.bytes_moved / self.seconds / 1e6


def ping_pong(addr: tuple[str, int], count: int, warmup: int = 200) -> PingResult:
    payload = bytes(range(PING_BYTES))
    buf = bytearray(PING_BYTES)
    view = memoryview(buf)
    samples: list[int] = []
    with socket.create_connection(addr, timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(warmup + count):
            start = time.perf_counter_ns()
            sock.sendall(payload)
            got = 0
            while got < PING_BYTES:
                n = sock.recv_into(view[got:])
                if n == 0:
                    raise SystemExit(f"connection to {addr} closed during ping-pong")
                got += n
            if i >= warmup:
                samples.append(time.perf_counter_ns() - start)
    samples.sort()
    return PingResult(statistics.median(samples) / 1e6, samples[min(len(samples) - 1, int(len(samples) * 0.99))] / 1e6)


def bulk(addr: tuple[str, int], max_bytes: int, max_seconds: float) -> BulkResult:
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    moved = 0
    with socket.create_connection(addr, timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        start = time.perf_counter()
        deadline = start + max_seconds
        sock.sendall(struct.pack(">Q", max_bytes))
        while moved < max_bytes and time.perf_counter() < deadline:
            n = sock.recv_into(view)
            if n == 0:
                break
            moved += n
        elapsed = time.perf_counter() - start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return BulkResult(moved, elapsed)


# -- report -------------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(direct_ping: PingResult, proxied_ping: PingResult, direct_bulk: BulkResult,
           proxied_bulk: BulkResult, pings: int) -> bool:
    added = proxied_ping.median_ms - direct_ping.median_ms
    ratio = proxied_bulk.mb_per_s / direct_bulk.mb_per_s if direct_bulk.mb_per_s else 0.0
    rows = [
        (f"{PING_BYTES}B ping-pong median RTT (ms), N={pings}", f"{direct_ping.median_ms:.4f}",
         f"{proxied_ping.median_ms:.4f}", f"+{added:.4f}", f"added <= {TARGET_ADDED_MEDIAN_MS}",
         verdict(added <= TARGET_ADDED_MEDIAN_MS)),
        (f"{PING_BYTES}B ping-pong p99 RTT (ms)", f"{direct_ping.p99_ms:.4f}", f"{proxied_ping.p99_ms:.4f}",
         f"+{proxied_ping.p99_ms - direct_ping.p99_ms:.4f}", "(info)", ""),
        ("bulk throughput (MB/s)", f"{direct_bulk.mb_per_s:.0f}", f"{proxied_bulk.mb_per_s:.0f}",
         f"{ratio:.0%}", f">= {TARGET_PROXIED_MBPS:.0f} MB/s", verdict(proxied_bulk.mb_per_s >= TARGET_PROXIED_MBPS)),
        ("bulk proxied / direct", "", "", f"{ratio:.0%}", f">= {TARGET_RATIO:.0%} of direct", verdict(ratio >= TARGET_RATIO)),
        ("bulk bytes moved (MB) / seconds", f"{direct_bulk.bytes_moved / 1e6:.0f} / {direct_bulk.seconds:.2f}",
         f"{proxied_bulk.bytes_moved / 1e6:.0f} / {proxied_bulk.seconds:.2f}", "", "(info)", ""),
    ]
    header = ("metric", "direct", "proxied", "added/ratio", "target", "verdict")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    return all(r[5] != "MISS" for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pings", type=int, default=5000, help="ping-pong round trips per side (default 5000)")
    parser.add_argument("--bulk-bytes", type=int, default=1 << 30, help="bytes per bulk run (default 1 GiB)")
    parser.add_argument("--bulk-seconds", type=float, default=5.0, help="time bound per bulk run (default 5 s)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any target is missed")
    args = parser.parse_args()
    if not (0 < args.pings <= 100_000 and 0 < args.bulk_seconds <= 30):
        parser.error("--pings must be in 1..100000 and --bulk-seconds in (0, 30]")

    ctx = multiprocessing.get_context("spawn")
    ports: multiprocessing.Queue[tuple[int, int]] = ctx.Queue()
    upstream = ctx.Process(target=_upstream_main, args=(ports,), daemon=True)
    upstream.start()
    server = None
    try:
        echo_port, source_port = ports.get(timeout=10)
        server = start_server()
        echo_proxy = create_proxy(server, "bench_echo", echo_port)
        source_proxy = create_proxy(server, "bench_source", source_port)
        print(f"server: {'TOXIPROXY_URL ' if server.process is None else 'toxiproxy_compat '}"
              f"{server.host}:{server.port}; upstream pid {upstream.pid}; {os.cpu_count()} cores")
        direct_ping = ping_pong(("127.0.0.1", echo_port), args.pings)
        proxied_ping = ping_pong(echo_proxy, args.pings)
        direct_bulk = bulk(("127.0.0.1", source_port), args.bulk_bytes, args.bulk_seconds)
        proxied_bulk = bulk(source_proxy, args.bulk_bytes, args.bulk_seconds)
        all_met = report(direct_ping, proxied_ping, direct_bulk, proxied_bulk, args.pings)
        for name in ("bench_echo", "bench_source"):
            server.call("DELETE", f"/proxies/{name}")
    finally:
        if server is not None:
            server.stop()
        if upstream.is_alive():
            os.kill(upstream.pid, signal.SIGTERM)
        upstream.join(timeout=5)
    return 1 if args.strict and not all_met else 0


if __name__ == "__main__":
    sys.exit(main())
