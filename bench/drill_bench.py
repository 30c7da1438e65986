"""Benchmark: the PostgreSQL drills beside bare pg_dump / pg_restore of the same database, in one run.

Prints, side by side:
  - a bare ``pg_dump -Fc`` of the database and the logical drill's backup step (pg_dump -Fc in an
    exported snapshot), and their ratio;
  - a bare ``pg_restore -j N`` into a fresh server and the drill's restore step (pg_restore -j N
    from the second copy into a fresh server), and their ratio;
  - the drill's other steps (copy with its SHA-256 manifest, check, provision, verify);
  - the PITR drill's WAL replay rate: the archived WAL behind a base backup taken before the data
    was loaded, replayed to a target after it, in MB/s.
Both sides run the same tools from the same image through ``docker exec`` on the stack's network.
Targets (issue 9): drill backup and restore each at most 10 % slower than bare. Prints PASS/MISS;
exits 0 unless --strict. Not a test: machines are noisy (other jobs share the cores).

    .venv/bin/python bench/drill_bench.py --size-mb 500 --jobs 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.drills import PostgresLogicalDrill, PostgresPitrDrill, pg_server  # noqa: E402
from harness.drills.containers import Resources, exec_ok  # noqa: E402
from harness.history import History  # noqa: E402
from harness.judging.drills import drill_runs  # noqa: E402
from harness.stack.cleanup import remove_run  # noqa: E402
from harness.stack.core import Stack  # noqa: E402
from harness.stack.engine import connect  # noqa: E402
from harness.stack.images import SPECS, resolve  # noqa: E402
from harness.stack.labels import new_run_id  # noqa: E402

ROW_BYTES = 180   # roughly, on disk, per row of the table below (id + 4 md5s + tuple header)


def load(stack: Stack, size_mb: int) -> int:
    """Fill table ``bench`` (id primary key, 128 hex chars) to about ``size_mb`` MB; returns its bytes."""
    rows = size_mb * 1024 * 1024 // ROW_BYTES
    with pg_server.connect(stack.postgres.conninfo, timeout_s=10) as conn:
        conn.execute("CREATE TABLE bench (id bigint PRIMARY KEY, body text NOT NULL)")
        step = 200_000
        for start in range(0, rows, step):
            conn.execute("INSERT INTO bench SELECT g, md5(g::text) || md5((g+1)::text) || md5((g+2)::text) "
                         "|| md5((g+3)::text) FROM generate_series(%s, %s) AS g", (start, min(rows, start + step) - 1))
        conn.execute("CHECKPOINT")
        return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])


def bare(stack: Stack, image: str, run_id: str, jobs: int) -> tuple[float, float, int]:
    """A bare pg_dump -Fc and a bare pg_restore -j into a fresh server: (dump s, restore s, dump bytes)."""
    pg = stack.postgres
    res = Resources(stack.client, run_id, "bare", stack.network_name)
    try:
        target = pg_server.fresh_server(res, image, pg, volume=res.volume("pgdata").name)
        target.reload()
        alias = "bare-target"
        stack.client.networks.get(stack.network_name).disconnect(target)
        stack.client.networks.get(stack.network_name).connect(target, aliases=[alias])
        pg_server.wait_ready(target, pg_server.direct_conninfo(target, pg))
        tools = res.container(image, name="tools", entrypoint=["sleep"], command=["3600"],
                              volumes={res.volume("dump").name: "/dump:rw"})
        env = {"PGPASSWORD": pg.password, "PGUSER": pg.user, "PGDATABASE": pg.dbname}
        dump = exec_ok(tools, f"pg_dump -Fc -h {pg.spec.name} -f /dump/db.dump", what="bare pg_dump", env=env,
                       timeout_s=3600, fix="-")
        size = int(exec_ok(tools, "stat -c %s /dump/db.dump", what="stat", timeout_s=60, fix="-").stdout)
        restore = exec_ok(tools, f"pg_restore -j {jobs} --exit-on-error -h {alias} -d {pg.dbname} /dump/db.dump",
                          what="bare pg_restore", env=env, timeout_s=3600, fix="-")
        return dump.seconds, restore.seconds, size
    finally:
        res.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=500, help="database size to load (default 500)")
    parser.add_argument("--jobs", type=int, default=2, help="pg_restore parallel jobs (default 2)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    client = connect()
    images = {name: resolve(client, SPECS[name], progress=lambda line: None) for name in ("postgres", "redis", "toxiproxy")}
    run_id = new_run_id()
    history = History()
    stack = Stack(client, run_id, images, PostgresPitrDrill.stack_options(), progress=lambda line: None).start()
    try:
        with PostgresPitrDrill(stack, history) as pitr:
            pitr.backup()                                   # base backup of the empty database
            began = time.monotonic()
            db_bytes = load(stack, args.size_mb)
            print(f"[bench] loaded {db_bytes / 2**20:.0f} MB in {time.monotonic() - began:.1f} s", flush=True)
            pitr.mark_target()
            pitr.copy()
            dump_s, restore_s, dump_bytes = bare(stack, images["postgres"].ref, run_id, args.jobs)
            with PostgresLogicalDrill(stack, history, jobs=args.jobs) as drill:
                drill.backup()
                drill.copy()
                drill.disaster()
                drill.restore()
                drill.verify()
            pitr.restore()                                  # the source is gone already: replay only
            pitr.verify()
        logical, physical = drill_runs(history)[1].durations_s(), drill_runs(history)[0]
        replay = physical.step("restore")
        wal_mb = (replay.details.get("wal_bytes") or 0) / 2**20
    finally:
        stack.close()
        remove_run(client, run_id)
    targets = []
    print(f"database {db_bytes / 2**20:.0f} MB, dump {dump_bytes / 2**20:.0f} MB, pg_restore -j {args.jobs}")
    print(f"{'':24}{'bare':>10}{'drill':>10}{'ratio':>8}")
    for what, plain, step in (("backup (pg_dump -Fc)", dump_s, "backup"), ("restore (pg_restore)", restore_s, "restore")):
        ratio = logical[step] / plain
        targets.append(ratio <= 1.10)
        print(f"{what:24}{plain:9.2f}s{logical[step]:9.2f}s{ratio:8.3f}  {'PASS' if ratio <= 1.10 else 'MISS'} (<= 1.10)")
    others = ", ".join(f"{k} {v:.2f} s" for k, v in logical.items() if k not in ("backup", "restore"))
    print(f"drill's other steps: {others}")
    print(f"PITR replay: {wal_mb:.0f} MB of archived WAL replayed to the target in {replay.duration_s:.2f} s "
          f"= {wal_mb / replay.duration_s:.1f} MB/s (server start, replay and promotion)")
    return 1 if args.strict and not all(targets) else 0


if __name__ == "__main__":
    sys.exit(main())
