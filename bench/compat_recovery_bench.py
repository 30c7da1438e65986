"""Benchmark: how soon proxying resumes after the upstream comes back, with and without a connect flood.

On a real stack (PostgreSQL behind the Toxiproxy server the harness uses), PostgreSQL is stopped
for 1.5 s (``stack.postgres.stop(grace_s=5)``) and started again while
  - a workload client opens a fresh connection through the proxy every 25 ms (open loop, one thread
    each, 2 s connect timeout, like the harness's 40/s workloads), and, in the "flood" rounds,
  - extra clients open a fresh connection through the proxy every 20 ms (the same, on top).
(The workload client was a closed loop before: a connect begun before the upstream was back could
hold its next attempt for up to its 2 s timeout, which showed as a sporadic late round, +0.5..+0.9 s,
that measured the client and not the proxy.)
"Upstream back" is the first success of a tight probe loop straight at the container's own
published port; the figure is the time from then to the first successful proxied connection
(workload client; flood clients), and how many proxied connects that started after it failed.

Both upstream-lookup modes of toxiproxy_compat are measured side by side in one run: the stack's
own server (the current code) and, in a second container of the same image on the same network,
the server with ``TOXIPROXY_COMPAT_RESOLVER=executor`` (lookups through asyncio's default executor,
as before issue 14). Target: the current server resumes within 0.3 s with and without the flood.
Each cell is the median of ``--rounds`` stop/start rounds (3 by default), with the worst round
beside it. Prints PASS/MISS on the medians; exits 0 unless ``--strict``. Not a test: machines are
noisy.

Usage: .venv/bin/python bench/compat_recovery_bench.py [--rounds 3] [--strict]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import Stack, StackOptions  # noqa: E402
from harness.stack.cleanup import remove_run  # noqa: E402
from harness.stack.engine import connect  # noqa: E402
from harness.stack.images import SPECS, resolve  # noqa: E402
from harness.stack.labels import new_run_id  # noqa: E402

FLOOD_EVERY_S = 0.02
WORKLOAD_EVERY_S = 0.025
CONNECT_TIMEOUT_S = 2
DOWN_S = 1.5
TARGET_S = 0.3
BACK_LIMIT_S = 30.0
AFTER_S = 6.0          # how long clients keep connecting after the upstream is back
LEGACY_PROXY_PORT = 15432


@dataclass
class Rows:
    """(client, started, ended, ok) of every proxied connect, monotonic seconds."""

    rows: list[tuple[str, float, float, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, who: str, began: float, ok: bool) -> None:
        with self.lock:
            self.rows.append((who, began, time.monotonic(), ok))

    def snapshot(self) -> list[tuple[str, float, float, bool]]:
        with self.lock:
            return list(self.rows)


def _connect(info: dict[str, Any]) -> bool:
    try:
        with psycopg.connect(**info, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True) as conn:
            conn.execute("SELECT 1").fetchone()
        return True
    except psycopg.Error:
        return False


def _open_loop(who: str, every_s: float, info: dict[str, Any], rows: Rows, stop: threading.Event,
               max_s: float) -> None:
    """A fresh proxied connect every ``every_s`` on its own thread, whether or not earlier ones
    returned (open loop, as the harness's workloads are: a connect that hangs holds up no other)."""
    threads: list[threading.Thread] = []
    began = due = time.monotonic()
    while not stop.is_set() and time.monotonic() - began < max_s:
        def one() -> None:
            t = time.monotonic()
            rows.add(who, t, _connect(info))
        thread = threading.Thread(target=one, daemon=True)
        thread.start()
        threads.append(thread)
        due += every_s
        time.sleep(max(0.0, due - time.monotonic()))
    for thread in threads:
        thread.join(timeout=CONNECT_TIMEOUT_S + 3)


def _direct_back(stack: Any, info: dict[str, Any], since: float) -> float | None:
    box = stack.client.containers.get(stack.postgres.container.id)
    while time.monotonic() - since < BACK_LIMIT_S:
        try:
            box.reload()
            bound = (box.ports or {}).get("5432/tcp")
            if bound and _connect(info | {"port": int(bound[0]["HostPort"])}):
                return time.monotonic()
        except Exception:  # noqa: BLE001 - mid-restart answers: probe again
            pass
        time.sleep(0.005)
    return None


@dataclass(frozen=True)
class Round:
    workload_s: float | None
    flood_s: float | None
    failed_after: int
    after: int


def one_round(stack: Any, proxied: dict[str, Any], flood: bool) -> Round:
    rows = Rows()
    stop = threading.Event()
    threads = [threading.Thread(target=_open_loop, args=("workload", WORKLOAD_EVERY_S, proxied, rows, stop, 40.0),
                                daemon=True)]
    if flood:
        threads.append(threading.Thread(target=_open_loop, args=("flood", FLOOD_EVERY_S, proxied, rows, stop, 40.0),
                                        daemon=True))
    for thread in threads:
        thread.start()
    back = None
    try:
        time.sleep(1.0)
        with stack.postgres.stop(grace_s=5):
            down_at = time.monotonic()
            time.sleep(DOWN_S)
            result: list[float | None] = []
            prober = threading.Thread(target=lambda: result.append(
                _direct_back(stack, stack.postgres.conninfo, time.monotonic())), daemon=True)
            prober.start()
        prober.join(timeout=BACK_LIMIT_S + CONNECT_TIMEOUT_S + 2)
        back = result[0] if result else None
        if back is not None:
            time.sleep(max(0.0, back + AFTER_S - time.monotonic()))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    if back is None:
        raise SystemExit("PostgreSQL did not accept on its own port after the restart")
    snap = rows.snapshot()

    def first(who: str) -> float | None:
        ends = [e for w, _, e, ok in snap if w == who and ok and e >= down_at]
        return min(ends) - back if ends else None

    after = [r for r in snap if r[1] >= back]
    return Round(first("workload"), first("flood") if flood else None,
                 sum(not ok for *_, ok in after), len(after))


def _start_legacy_server(stack: Any) -> tuple[Any, dict[str, Any]]:
    """A second compat server (same image, same network) with the pre-issue-14 lookup mode."""
    labels = dict(stack.postgres.container.labels)
    box = stack.client.containers.run(
        stack.images["toxiproxy"].ref, detach=True, labels=labels, network=stack.network_name,
        environment={"TOXIPROXY_COMPAT_RESOLVER": "executor", "LOG_LEVEL": "error"},
        ports={"8474/tcp": ("127.0.0.1", None), f"{LEGACY_PROXY_PORT}/tcp": ("127.0.0.1", None)})
    deadline = time.monotonic() + 30
    while True:
        box.reload()
        ports = box.ports or {}
        try:
            api = f"http://127.0.0.1:{ports['8474/tcp'][0]['HostPort']}"
            body = json.dumps({"name": "postgres", "listen": f"0.0.0.0:{LEGACY_PROXY_PORT}",
                               "upstream": "postgres:5432"}).encode()
            urllib.request.urlopen(urllib.request.Request(f"{api}/proxies", data=body, method="POST"),
                                   timeout=5).read()
            break
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                box.remove(force=True, v=True)
                raise
            time.sleep(0.2)
    port = int(box.ports[f"{LEGACY_PROXY_PORT}/tcp"][0]["HostPort"])
    return box, stack.postgres.conninfo | {"port": port}


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:+.2f}"


def _worst(median: float | None, values: list[float]) -> str:
    return _fmt(median) if len(values) < 2 else f"{_fmt(median)} ({_fmt(max(values))})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="stop/start rounds per cell (default 3)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 5:
        parser.error("--rounds must be in 1..5")
    client = connect()
    run_id = new_run_id()
    images = {name: resolve(client, SPECS[name], progress=lambda _m: None)
              for name in ("postgres", "redis", "toxiproxy")}
    if images["toxiproxy"].source != "built":
        print(f"note: toxiproxy is {images['toxiproxy'].ref} (not toxiproxy_compat); "
              "the 'executor' column then runs the same server")
    stack = Stack(client, run_id, images, StackOptions(), progress=lambda _m: None)
    legacy = None
    table: list[tuple[str, str, list[Round]]] = []
    try:
        stack.start()
        legacy, legacy_info = _start_legacy_server(stack)
        servers = [("executor (before)", legacy_info), ("merged (now)", stack.postgres.conninfo)]
        for flood in (False, True):
            for name, info in servers:
                rounds = [one_round(stack, info, flood) for _ in range(args.rounds)]
                table.append((name, "flood" if flood else "no flood", rounds))
    finally:
        if legacy is not None:
            legacy.remove(force=True, v=True)
        stack.close()
        remove_run(client, run_id)

    print(f"recovery after PostgreSQL restart: first successful proxied connection, seconds after it "
          f"accepted on its own port (median of {args.rounds} rounds, worst in brackets); "
          f"{os.cpu_count()} cores")
    header = ("lookup mode", "clients", "workload", "flood", "failed after back", "target", "verdict")
    lines = [header]
    all_met = True
    for name, clients, rounds in table:
        w = [r.workload_s for r in rounds if r.workload_s is not None]
        f = [r.flood_s for r in rounds if r.flood_s is not None]
        wm = statistics.median(w) if w else None
        fm = statistics.median(f) if f else None
        failed = f"{sum(r.failed_after for r in rounds)}/{sum(r.after for r in rounds)}"
        current = name.startswith("merged")
        ok = wm is not None and wm <= TARGET_S and (clients == "no flood" or (fm is not None and fm <= TARGET_S))
        verdict = ("PASS" if ok else "MISS") if current else "(info)"
        all_met &= ok or not current
        lines.append((name, clients, _worst(wm, w), _worst(fm, f) if clients == "flood" else "-", failed,
                      f"<= {TARGET_S}" if current else "", verdict))
    widths = [max(len(str(row[i])) for row in lines) for i in range(len(header))]
    for row in lines:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    return 1 if args.strict and not all_met else 0


if __name__ == "__main__":
    sys.exit(main())
