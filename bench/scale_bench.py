"""Benchmark: the scenario suite with -n 1, -n 2 and -n 4 pytest-xdist workers, side by side.

Runs ``pytest scenarios/`` once per worker count, same seed, each into its own reports folder, and
prints:
  - wall time of each run and its speed-up against -n 1 (target: >= 2x at -n 4),
  - whether every verdict (scenario, objective, metric -> pass/fail/unknown) and every outcome agrees
    with the -n 1 run (target: all agree), listing any that differ,
  - the peak memory of one stack (the sum over one worker's containers, sampled through the Docker
    API once a second while the -n 1 run is going; the cgroup's own high-water mark, page cache
    included, beside it) and how many such stacks fit in 24 GiB,
  - the harness's own overhead per scenario (set-up incl. stack start or reset, tear-down, turning the
    history into the record, and its share of writing the report, timed again here from the -n 1
    run's records) as a fraction of the scenario's wall time.
Not a test: machines are noisy. Exits 0 unless --strict and a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.report import write_report  # noqa: E402
from harness.report.merge import load_run, merge  # noqa: E402
from harness.stack.engine import connect  # noqa: E402
from harness.stack.labels import RUN_LABEL, WORKER_LABEL  # noqa: E402

HEADER = re.compile(r"harness: run (\S+), seed ")
GIB = 1024 ** 3
MIB = 1024 ** 2


class MemorySampler(threading.Thread):
    """Sums the memory of each worker's containers once a second; keeps the peak per worker."""

    def __init__(self, client, run_id: str) -> None:  # noqa: ANN001
        super().__init__(daemon=True)
        self.client, self.run_id = client, run_id
        self.peak: dict[str, int] = {}          # worker -> peak of the sum of (usage - page cache)
        self.peak_parts: dict[str, dict[str, int]] = {}
        self.high_water: dict[str, int] = {}    # worker -> sum of the containers' cgroup max_usage
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - containers come and go between list and stats
                continue

    def sample(self) -> None:
        now: dict[str, dict[str, int]] = {}
        high: dict[str, int] = {}
        for c in self.client.containers.list(filters={"label": f"{RUN_LABEL}={self.run_id}"}):
            try:
                mem = c.stats(stream=False, one_shot=True).get("memory_stats") or {}
            except Exception:  # noqa: BLE001
                continue
            stats = mem.get("stats") or {}
            used = int(mem.get("usage", 0)) - int(stats.get("total_inactive_file", stats.get("inactive_file", 0)))
            worker = c.labels.get(WORKER_LABEL, "?")
            service = c.labels.get("dr-harness.service") or c.name.rsplit("-", 1)[-1]
            now.setdefault(worker, {})[service] = max(0, used)
            high[worker] = high.get(worker, 0) + int(mem.get("max_usage", 0))
        for worker, parts in now.items():
            if sum(parts.values()) > self.peak.get(worker, 0):
                self.peak[worker], self.peak_parts[worker] = sum(parts.values()), parts
            self.high_water[worker] = max(self.high_water.get(worker, 0), high.get(worker, 0))


def run_suite(workers: int, seed: int, reports: Path, sample_memory: bool) -> dict:
    cmd = [sys.executable, "-m", "pytest", "scenarios/", "-n", str(workers), "-p", "no:cacheprovider",
           f"--seed={seed}", f"--reports-dir={reports}"]
    print(f"[scale] -n {workers}: {' '.join(cmd[2:])}", flush=True)
    began = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler, run_id, tail = None, None, []
    assert proc.stdout is not None
    for line in proc.stdout:
        tail = (tail + [line.rstrip()])[-15:]
        if run_id is None and (m := HEADER.search(line)):
            run_id = m[1]
            if sample_memory:
                sampler = MemorySampler(connect(), run_id)
                sampler.start()
    code = proc.wait()
    wall = time.monotonic() - began
    if sampler is not None:
        sampler.stopped.set()
        sampler.join(timeout=10)
    if run_id is None or not (reports / run_id / "report.json").is_file():
        raise SystemExit(f"[scale] -n {workers} wrote no report (exit {code}):\n" + "\n".join(tail))
    print(f"[scale] -n {workers}: exit {code}, {wall:.1f} s", flush=True)
    return {"workers": workers, "wall_s": wall, "exit": code, "run_dir": reports / run_id, "memory": sampler}


def verdicts_of(run_dir: Path) -> dict[tuple, str]:
    doc = json.loads((run_dir / "report.json").read_text())
    out: dict[tuple, str] = {}
    for s in doc["scenarios"]:
        out[(s["id"], "outcome", "")] = s["outcome"]
        for v in s["verdicts"]:
            out[(s["id"], v["objective"], v["metric"])] = v["validity"]
    return out


def overhead(run_dir: Path) -> dict:
    """Per scenario that ran: harness seconds / scenario wall seconds, and the report's share."""
    run, _notes = merge([load_run(run_dir)], run_id=run_dir.name)   # the run read back, as one
    with tempfile.TemporaryDirectory() as tmp:
        began = time.monotonic()
        write_report(Path(tmp), run, keep_runs=5)
        write_s = time.monotonic() - began
    ran = [s for s in run.scenarios if s.outcome != "skipped"]
    per_report = write_s / max(1, len(run.scenarios))
    shares, harness_total, wall_total = [], 0.0, 0.0
    for s in ran:
        h = s.harness_s
        own = h.get("setup_s", 0.0) + h.get("teardown_s", 0.0) + h.get("record_s", 0.0) + per_report
        wall = own + s.duration_s
        shares.append(own / wall if wall else 0.0)
        harness_total, wall_total = harness_total + own, wall_total + wall
    resets = [s.harness_s["reset_s"] for s in ran if "reset_s" in s.harness_s]
    records = [s.harness_s.get("record_s", 0.0) for s in ran]
    return {"write_s": write_s, "per_report": per_report, "shares": shares,
            "total_share": harness_total / wall_total if wall_total else 0.0,
            "reset_p50": statistics.median(resets) if resets else None,
            "record_p50": statistics.median(records) if records else None, "scenarios": len(ran)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4", help="worker counts to compare (first is the baseline)")
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="dr-scale-") as tmp:
        runs = [run_suite(n, args.seed, Path(tmp) / f"n{n}", sample_memory=(i == 0))
                for i, n in enumerate(counts)]
        base = runs[0]
        base_verdicts = verdicts_of(base["run_dir"])
        print()
        print(f"{'workers':>8} {'wall s':>8} {'speed-up':>9} {'exit':>5}  verdicts agree with -n {counts[0]}")
        misses: list[str] = []
        for r in runs:
            mine = verdicts_of(r["run_dir"])
            differ = sorted(k for k in set(base_verdicts) | set(mine) if base_verdicts.get(k) != mine.get(k))
            agree = "baseline" if r is base else ("all " + str(len(mine)) if not differ else f"{len(differ)} differ")
            speed = base["wall_s"] / r["wall_s"]
            print(f"{'-n ' + str(r['workers']):>8} {r['wall_s']:8.1f} {speed:8.2f}x {r['exit']:>5}  {agree}")
            for k in differ:
                print(f"{'':>8} differs: {k[0]} {k[1]} {k[2]}: -n {counts[0]} {base_verdicts.get(k)}, "
                      f"-n {r['workers']} {mine.get(k)}")
            if differ:
                misses.append(f"-n {r['workers']} verdicts differ")
        last = runs[-1]
        speed = base["wall_s"] / last["wall_s"]
        print(f"target: >= 2x at -n {last['workers']}: {'PASS' if speed >= 2 else 'MISS'} ({speed:.2f}x)")
        if speed < 2:
            misses.append("speed-up")

        mem = base["memory"]
        if mem and mem.peak:
            worker, peak = max(mem.peak.items(), key=lambda kv: kv[1])
            parts = ", ".join(f"{k} {v / MIB:.0f}" for k, v in sorted(mem.peak_parts[worker].items()))
            high = mem.high_water.get(worker, 0)
            fit = int(24 * GIB // max(peak, high or peak))
            print(f"peak memory of one stack: {peak / MIB:.0f} MiB in use ({parts} MiB); cgroup high-water "
                  f"mark incl. page cache {high / MIB:.0f} MiB; 24 GiB holds {fit} such stacks "
                  f"(by the larger figure; CPU, not memory, is the limit on this machine)")
        else:
            print("peak memory of one stack: not sampled")

        o = overhead(base["run_dir"])
        shares = sorted(o["shares"])
        print(f"harness overhead per scenario (-n {counts[0]}, {o['scenarios']} scenarios that ran): "
              f"stack reset p50 {o['reset_p50']:.2f} s, record p50 {o['record_p50'] * 1000:.0f} ms, report "
              f"{o['write_s']:.2f} s for the run ({o['per_report'] * 1000:.0f} ms per scenario); share of a "
              f"scenario's wall time: p50 {statistics.median(shares):.0%}, max {shares[-1]:.0%}, "
              f"whole run {o['total_share']:.0%} (set-up counts the first scenario's stack start)")
    if misses:
        print("missed: " + "; ".join(misses))
    return 1 if (args.strict and misses) else 0


if __name__ == "__main__":
    sys.exit(main())
