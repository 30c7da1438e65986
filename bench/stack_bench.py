"""Benchmark: how fast a stack starts and resets, beside the floor measured in the same run.

Prints, side by side:
  - a bare container's start time (the floor: create + start + exit of `true`),
  - each service started alone (`docker run`) until its own readiness probe passes,
  - the whole stack's start to all-ready (images present),
  - the per-scenario reset time (median and max of N resets).
Targets (issue 3): stack ready within twice the slowest single service's own start; reset under
200 ms. Prints PASS/MISS per target; exits 0 unless --strict. Not a test: machines are noisy.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import redis

os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.stack.cleanup import remove_run  # noqa: E402
from harness.stack.core import Stack, StackOptions  # noqa: E402
from harness.stack.engine import connect  # noqa: E402
from harness.stack.images import SPECS, resolve  # noqa: E402
from harness.stack.labels import new_run_id, run_labels  # noqa: E402


def bare_start(client, image: str, run_id: str) -> float:
    """Create, start and wait for a container that runs `true`: the engine's floor."""
    began = time.monotonic()
    box = client.containers.run(image, ["true"], labels=run_labels(run_id), detach=True, entrypoint=[])
    box.wait()
    took = time.monotonic() - began
    box.remove(force=True, v=True)   # with its anonymous volumes (the image may declare VOLUME)
    return took


def _probe_until(probe, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while True:
        try:
            probe()
            return
        except Exception:  # noqa: BLE001 - not ready yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def alone(client, images, service: str, run_id: str) -> float:
    """One service started by itself until its own readiness probe passes (direct port)."""
    password = secrets.token_urlsafe(12)
    kwargs = {"labels": run_labels(run_id), "detach": True}
    began = time.monotonic()
    if service == "postgres":
        box = client.containers.run(images["postgres"].ref, environment={
            "POSTGRES_USER": "bench", "POSTGRES_PASSWORD": password, "POSTGRES_DB": "bench"},
            ports={"5432/tcp": ("127.0.0.1", None)}, **kwargs)

        def probe() -> None:
            with psycopg.connect(host="127.0.0.1", port=_port(box, 5432), user="bench",
                                 password=password, dbname="bench", connect_timeout=2) as conn:
                conn.execute("SELECT 1")
    elif service == "redis":
        box = client.containers.run(images["redis"].ref, ["redis-server", "--protected-mode", "no"],
                                    ports={"6379/tcp": ("127.0.0.1", None)}, **kwargs)

        def probe() -> None:
            redis.Redis(host="127.0.0.1", port=_port(box, 6379), socket_timeout=1).ping()
    else:
        box = client.containers.run(images["toxiproxy"].ref,
                                    ports={"8474/tcp": ("127.0.0.1", None)}, **kwargs)

        def probe() -> None:
            with urllib.request.urlopen(f"http://127.0.0.1:{_port(box, 8474)}/version",
                                        timeout=1) as answer:
                answer.read()
    try:
        _probe_until(probe)
        return time.monotonic() - began
    finally:
        box.remove(force=True, v=True)


def _port(box, port: int) -> int:
    box.reload()
    return int(box.ports[f"{port}/tcp"][0]["HostPort"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resets", type=int, default=20)
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()
    client = connect()
    run_id = "bench-" + new_run_id()
    quiet = lambda line: None  # noqa: E731
    images = {name: resolve(client, SPECS[name], progress=print)
              for name in ("postgres", "redis", "toxiproxy")}
    try:
        floor = min(bare_start(client, images["redis"].ref, run_id) for _ in range(3))
        singles = {name: alone(client, images, name, run_id)
                   for name in ("postgres", "redis", "toxiproxy")}
        stack = Stack(client, run_id, images, StackOptions(), progress=quiet).start()
        stack_s = stack.started_s
        resets = [stack.reset() for _ in range(args.resets)]
        stack.close()
    finally:
        remove_run(client, run_id)
    slowest = max(singles.values())
    median_reset = statistics.median(resets)
    rows = [("bare container start (floor)", floor)]
    rows += [(f"{name} alone: start to ready", secs) for name, secs in sorted(singles.items())]
    rows += [("stack: start to all ready", stack_s),
             (f"reset median of {len(resets)}", median_reset), ("reset max", max(resets))]
    print(f"\n{'measure':40} {'seconds':>9} {'x floor':>8}")
    for label, secs in rows:
        print(f"{label:40} {secs:9.3f} {secs / floor:8.1f}")
    targets = [(f"stack ready <= 2 x slowest service ({2 * slowest:.2f} s)", stack_s <= 2 * slowest,
                f"{stack_s / slowest:.2f}x"),
               ("reset median < 200 ms", median_reset < 0.2, f"{median_reset * 1000:.0f} ms")]
    print()
    for label, ok, value in targets:
        print(f"{'PASS' if ok else 'MISS'}  {label}: {value}")
    return 1 if args.strict and not all(ok for _, ok, _ in targets) else 0


if __name__ == "__main__":
    sys.exit(main())
