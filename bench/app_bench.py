"""Benchmark of the reference service: requests per second, direct vs through a Toxiproxy proxy.

Starts PostgreSQL and Redis containers (the images the harness resolves, on a network labelled
with this run, ports on 127.0.0.1), the app as a local process (``python -m app``, one uvicorn
worker, sound mode) and ``python -m toxiproxy_compat`` with one proxy (no toxics) in front of the
app. A keep-alive HTTP/1.1 load generator (asyncio, ``--connections`` connections, closed loop)
then measures, side by side in one run and interleaved (direct, proxied, direct, proxied ...):

  /health           the server and framework alone (no dependency asked)
  /items/<id>       a cached read: one Redis GET per request (the service's hot path)

It prints requests per second (the median of ``--rounds`` runs of ``--seconds`` each), p50/p99
latency and errors per side, and the ratio proxied/direct per endpoint. All processes share
this machine's cores, the load generator included: the figures are for this machine, not a
capacity plan. Everything it starts is stopped by PID and removed by label at the end.

Usage: .venv/bin/python bench/app_bench.py [--seconds 4] [--rounds 3] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from harness.stack.cleanup import remove_run  # noqa: E402
from harness.stack.engine import connect  # noqa: E402
from harness.stack.images import SPECS, resolve  # noqa: E402
from harness.stack.labels import new_run_id, run_labels  # noqa: E402

PASSWORD = "bench"
READ_TIMEOUT_S = 5.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, body: object | None = None, timeout_s: float = 5.0) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (loopback only)
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def wait_until(what: str, check, within_s: float) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} not ready within {within_s:g} s")


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)


def start(name: str, args: list[str], env: dict[str, str]) -> Process:
    popen = subprocess.Popen(args, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env={**os.environ, **env})
    return Process(name, popen)


# -- the load generator ----------------------------------------------------------------------
@dataclass(frozen=True)
class Result:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


async def _connection(port: int, path: str, stop_at: float, latencies: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    try:
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
            lines = head.decode("latin-1").split("\r\n")
            length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
            await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT_S)
            latencies.append(time.perf_counter() - started)
            if lines[0].split()[1] != "200":
                errors.append(1)
    finally:
        writer.close()


def load(port: int, path: str, seconds: float, connections: int) -> Result:
    latencies: list[float] = []
    errors: list[int] = []

    async def run() -> float:
        started = time.monotonic()
        stop_at = started + seconds
        await asyncio.gather(*(_connection(port, path, stop_at, latencies, errors) for _ in range(connections)))
        return time.monotonic() - started

    elapsed = asyncio.run(run())
    ordered = sorted(latencies) or [float("nan")]
    return Result(len(latencies), len(errors), elapsed, ordered[len(ordered) // 2] * 1000,
                  ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000)


def median_result(results: list[Result]) -> Result:
    by_rps = sorted(results, key=lambda r: r.rps)
    return by_rps[len(by_rps) // 2]


# -- set-up ------------------------------------------------------------------------------------
def data_services(client, run_id: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """PostgreSQL and Redis on a labelled network; their 127.0.0.1 ports."""
    labels = run_labels(run_id)
    net = client.networks.create(f"dr-harness-bench-app-{run_id}", driver="bridge", labels=labels)
    images = {name: resolve(client, SPECS[name], progress=lambda _m: None).ref for name in ("postgres", "redis")}
    pg = client.containers.run(images["postgres"], environment={"POSTGRES_PASSWORD": PASSWORD}, labels=labels,
                               network=net.name, ports={"5432/tcp": ("127.0.0.1", None)}, detach=True,
                               name=f"dr-harness-bench-pg-{run_id}")
    redis = client.containers.run(images["redis"], labels=labels, network=net.name, detach=True,
                                  ports={"6379/tcp": ("127.0.0.1", None)}, name=f"dr-harness-bench-redis-{run_id}")
    ports = []
    for box, port in ((pg, "5432/tcp"), (redis, "6379/tcp")):
        wait_until(f"{box.name} port", lambda: box.reload() or bool(box.ports.get(port)), 30)  # type: ignore[func-returns-value]
        ports.append(int(box.ports[port][0]["HostPort"]))
    return ports[0], ports[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one measured run (default 4 s)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per side and endpoint (default 3)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections (default 32)")
    args = parser.parse_args()
    if not (0 < args.seconds <= 30 and 1 <= args.rounds <= 10 and 1 <= args.connections <= 256):
        parser.error("--seconds in (0, 30], --rounds in 1..10, --connections in 1..256")

    client = connect(timeout_s=60)
    run_id = new_run_id()
    processes: list[Process] = []
    try:
        pg_port, redis_port = data_services(client, run_id)
        app_port, tox_port = free_port(), free_port()
        processes.append(start("app", [sys.executable, "-m", "app"], {
            "DATABASE_URL": f"postgresql://postgres:{PASSWORD}@127.0.0.1:{pg_port}/postgres",
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "HOST": "127.0.0.1", "PORT": str(app_port),
            "APP_LOG_LEVEL": "warning", "APP_CACHE_FRESH_S": "3600", "APP_PG_TIMEOUT_S": "2",
            "APP_REQUEST_DEADLINE_S": "5"}))
        processes.append(start("toxiproxy_compat", [sys.executable, "-m", "toxiproxy_compat", "-host", "127.0.0.1",
                                                    "-port", str(tox_port)], {"LOG_LEVEL": "error"}))
        base = f"http://127.0.0.1:{app_port}"
        wait_until("app /ready", lambda: http("GET", base + "/ready")[0] == 200, 60)
        wait_until("toxiproxy_compat", lambda: http("GET", f"http://127.0.0.1:{tox_port}/version")[0] == 200, 15)
        status, proxy = http("POST", f"http://127.0.0.1:{tox_port}/proxies",
                             {"name": "bench_app", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{app_port}"})
        if status != 201:
            raise SystemExit(f"creating the proxy: HTTP {status}")
        proxied_port = int(proxy["listen"].rpartition(":")[2])  # type: ignore[index]
        status, item = http("POST", base + "/items", {"name": "bench lamp", "price_cents": 1})
        assert status == 201, status
        path_item = f"/items/{item['id']}"  # type: ignore[index]
        assert http("GET", base + path_item)[0] == 200  # fills the cache

        print(f"app_bench: {os.cpu_count()} cores; app pid {processes[0].popen.pid} (uvicorn, 1 worker, sound mode), "
              f"toxiproxy_compat pid {processes[1].popen.pid}; {args.connections} connections, "
              f"{args.rounds} x {args.seconds:g} s per side, interleaved")
        rows = []
        for path in ("/health", path_item):
            load(app_port, path, 0.5, args.connections)  # warm-up, not counted
            sides: dict[str, list[Result]] = {"direct": [], "proxied": []}
            for _ in range(args.rounds):
                sides["direct"].append(load(app_port, path, args.seconds, args.connections))
                sides["proxied"].append(load(proxied_port, path, args.seconds, args.connections))
            direct, proxied = median_result(sides["direct"]), median_result(sides["proxied"])
            rows.append((path, direct, proxied))
        print(f"{'endpoint':<14}{'side':<9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
        for path, direct, proxied in rows:
            label = "/items/<id>" if path.startswith("/items") else path
            for side, r in (("direct", direct), ("proxied", proxied)):
                print(f"{label:<14}{side:<9}{r.rps:>9.0f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}{r.errors:>8}")
        for path, direct, proxied in rows:
            label = "/items/<id>" if path.startswith("/items") else path
            print(f"ratio proxied/direct {label}: {proxied.rps / direct.rps:.2f} "
                  f"({proxied.rps:.0f} / {direct.rps:.0f} req/s)")
    finally:
        for process in reversed(processes):
            process.stop()
        remove_run(client, run_id)
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
