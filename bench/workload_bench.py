"""Benchmark: the highest rate each workload sustains open-loop, beside the closed-loop client.

For each workload (PostgreSQL inserts and reads, Redis writes and reads, an HTTP probe of the
Toxiproxy API), through the stack's Toxiproxy proxies as scenarios use them, and for each asked
rate on a ladder, runs the open-loop workload and then the closed-loop one (``closed_loop=True``)
for a few seconds each, every op recorded in a History, and prints side by side:
  - achieved / asked: attempts sent per attempt scheduled (open loop: the rest are not-sent),
  - the scheduling lag p99: how late attempts started after their scheduled time, in ms (started:
    a lane began connecting for it or running it),
  - open loop only, the connection wait p99: how late attempts had a connection to run on, in ms
    (the lag plus any wait for a connect or a connection to come free; part of the op's latency).
A rate is *sustained* when achieved / asked >= 0.95, the lag p99 <= 20 ms and at most 1 % of the
ops did not succeed; the ceiling is the highest sustained rate of the ladder. Prints the ceiling per workload against the highest default
rate of the scenarios (50/s). Not a test: machines are noisy; exits 0 unless --strict.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.history import NOT_SENT, History  # noqa: E402
from harness.judging.phases import quantile  # noqa: E402
from harness.stack.cleanup import remove_run  # noqa: E402
from harness.stack.core import Stack, StackOptions  # noqa: E402
from harness.stack.engine import connect  # noqa: E402
from harness.stack.images import SPECS, resolve  # noqa: E402
from harness.stack.labels import new_run_id  # noqa: E402
from harness.workloads import HttpProbe, PostgresInserts, PostgresReads, RedisReads, RedisWrites  # noqa: E402

SUSTAINED_SHARE, SUSTAINED_LAG_MS = 0.95, 20.0
SCENARIO_MAX_RATE_HZ = 50.0


def workloads(stack: Stack) -> dict:
    pg, rd = stack.postgres.conninfo, stack.redis.conninfo
    return {
        "PostgresInserts": lambda h, **kw: PostgresInserts(h, **pg, **kw),
        "PostgresReads": lambda h, **kw: PostgresReads(h, **pg, **kw),
        "RedisWrites": lambda h, **kw: RedisWrites(h, **rd, **kw),
        "RedisReads": lambda h, **kw: RedisReads(h, **rd, **kw),
        "HttpProbe": lambda h, **kw: HttpProbe(h, f"{stack.toxiproxy_url}/version", **kw),
    }


def one(make, rate_hz: float, seconds: float, closed_loop: bool) -> tuple[float, float, int]:
    """(achieved / asked, lag p99 in ms, connection wait p99 in ms, ops not ok) of one run."""
    history = History()
    workload = make(history, rate_hz=rate_hz, max_seconds=seconds, max_ops=int(rate_hz * seconds) + 1,
                    closed_loop=closed_loop)
    with workload:
        workload.wait(seconds + 10)
    pairs = history.pairs()
    asked = max(1, round(rate_hz * seconds))
    sent = sum(1 for _, done in pairs if done is None or done.type != NOT_SENT)
    bad = sum(1 for _, done in pairs if done is not None and done.type not in ("ok", NOT_SENT))
    lag = quantile(workload.lags_s, 0.99) * 1000 if workload.lags_s else float("nan")
    wait = quantile(workload.waits_s, 0.99) * 1000 if workload.waits_s else float("nan")
    return sent / asked, lag, wait, bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rates", default="50,100,200,400,800,1600")
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    client = connect()
    run_id = "bench-" + new_run_id()
    images = {name: resolve(client, SPECS[name], progress=print) for name in ("postgres", "redis", "toxiproxy")}
    ceilings: dict[str, float] = {}
    print(f"\n{'workload':16} {'asked/s':>8} | {'open: achieved/asked':>20} {'lag p99 ms':>10} "
          f"{'wait p99 ms':>11} {'errors':>6} | "
          f"{'closed: achieved/asked':>22} {'lag p99 ms':>10} {'errors':>6}")
    try:
        stack = Stack(client, run_id, images, StackOptions(), progress=lambda line: None).start()
        try:
            for name, make in workloads(stack).items():
                ceilings[name] = 0.0
                for rate in rates:
                    o_share, o_lag, o_wait, o_bad = one(make, rate, args.seconds, closed_loop=False)
                    stack.reset()  # fresh tables: the closed loop inserts the same ids again
                    c_share, c_lag, _, c_bad = one(make, rate, args.seconds, closed_loop=True)
                    print(f"{name:16} {rate:8.0f} | {o_share:20.3f} {o_lag:10.1f} {o_wait:11.1f} {o_bad:6d} | "
                          f"{c_share:22.3f} {c_lag:10.1f} {c_bad:6d}", flush=True)
                    if o_share >= SUSTAINED_SHARE and o_lag <= SUSTAINED_LAG_MS and o_bad <= 0.01 * rate * args.seconds:
                        ceilings[name] = rate
                    stack.reset()
        finally:
            stack.close()
    finally:
        remove_run(client, run_id)
    print(f"\nsustained = achieved/asked >= {SUSTAINED_SHARE}, lag p99 <= {SUSTAINED_LAG_MS:g} ms, errors <= 1 % "
          f"({args.seconds:g} s per rate, through Toxiproxy)")
    ok = True
    for name, ceiling in ceilings.items():
        margin = ceiling / SCENARIO_MAX_RATE_HZ
        ok &= margin >= 2
        print(f"{'PASS' if margin >= 2 else 'MISS'}  {name}: open-loop ceiling {ceiling:g}/s = "
              f"{margin:.1f}x the scenarios' highest default rate ({SCENARIO_MAX_RATE_HZ:g}/s)")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
