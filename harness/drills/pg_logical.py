"""PostgreSQL logical drill: ``pg_dump -Fc`` while writes continue, ``pg_restore -j`` into a fresh
server, verified against the fingerprint taken in the dump's own snapshot.

The restore point is a snapshot the drill exports (``pg_export_snapshot()`` in a REPEATABLE READ
transaction) and hands to ``pg_dump --snapshot``: every write acknowledged before the export is in
the dump, nothing invoked after it is. In the same snapshot the drill takes the fingerprint
(harness/drills/pg_server.py) that the restored tables must match.

    with PostgresLogicalDrill(stack, history, jobs=2) as drill:
        drill.backup()       # restore_point, backup (pg_dump), fingerprint
        drill.copy(); drill.disaster(); drill.restore(); drill.verify()
"""

from __future__ import annotations

from typing import Any, ClassVar

from harness.drills import pg_server
from harness.drills.base import BACKUP, COPY, Drill
from harness.drills.containers import exec_ok
from harness.errors import DrillError
from harness.history import History

DUMP = "db.dump"


class PostgresLogicalDrill(Drill):
    """pg_dump (custom format) and pg_restore with ``jobs`` parallel jobs."""

    kind: ClassVar[str] = "pg-logical"
    service: ClassVar[str] = "postgres"

    def __init__(self, stack: Any, history: History, *, jobs: int = 2) -> None:
        if jobs < 1:
            raise ValueError(f"PostgresLogicalDrill: jobs must be >= 1, got {jobs}")
        super().__init__(stack, history)
        self.jobs = jobs
        self.pg = stack.postgres
        self.fingerprint: pg_server.Fingerprint = {}
        self.restored = None
        self._snapshot: str | None = None

    @property
    def _env(self) -> dict[str, str]:
        return {"PGPASSWORD": self.pg.password, "PGUSER": self.pg.user, "PGHOST": self.pg.spec.name,
                "PGPORT": str(self.pg.spec.port), "PGDATABASE": self.pg.dbname}

    def backup(self) -> None:
        """Export a snapshot (the restore point), dump it, fingerprint it; the snapshot is held throughout."""
        with pg_server.connect(self.pg.conninfo, autocommit=False) as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            with self.step("restore_point") as details:
                self._snapshot = details["snapshot"] = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            with self.step("backup") as details:
                self._backup(details)
                details["bytes"] = self._sizes(BACKUP)
            with self.step("fingerprint") as details:
                self.fingerprint = pg_server.fingerprint(conn)
                details["tables"] = {t: rows for t, (rows, _) in self.fingerprint.items()}
            conn.rollback()

    def _backup(self, details: dict[str, Any]) -> None:
        flag = f"--snapshot={self._snapshot} " if self._snapshot else ""
        result = exec_ok(self.tools, f"pg_dump -Fc {flag}-f {BACKUP}/{DUMP}", what="pg_dump",
                         env=self._env, timeout_s=self.step_timeout_s,
                         fix="check that PostgreSQL answers on the stack's network and the backup volume has space")
        details["seconds_in_tool"] = round(result.seconds, 3)

    def _check_copy(self, details: dict[str, Any]) -> None:
        listing = exec_ok(self.tools, f"pg_restore --list {COPY}/{DUMP}", what="pg_restore --list of the copy",
                          timeout_s=300, fix="the dump is unreadable: take a new backup")
        details["toc_entries"] = sum(1 for line in listing.stdout.splitlines() if line and not line.startswith(";"))

    def _provision(self, details: dict[str, Any]) -> None:
        volume = self.resources.volume("pgdata")
        self.restored = pg_server.fresh_server(self.resources, self.image, self.pg, volume=volume.name)
        details["ready_s"] = round(pg_server.wait_ready(
            self.restored, pg_server.direct_conninfo(self.restored, self.pg)), 3)
        details["container"] = self.restored.name

    def _restore(self, details: dict[str, Any]) -> None:
        result = exec_ok(self.tools, f"pg_restore -j {self.jobs} --exit-on-error -d {self.pg.dbname} {COPY}/{DUMP}",
                         what=f"pg_restore -j {self.jobs}", env=self._env, timeout_s=self.step_timeout_s,
                         fix="read pg_restore's error above; the restored server is discarded")
        details.update(jobs=self.jobs, seconds_in_tool=round(result.seconds, 3))

    def _verify(self, details: dict[str, Any]) -> None:
        if not self.fingerprint:
            raise DrillError(f"{self} has no fingerprint to verify against", where="drill.verify()",
                             fix="call drill.backup() first")
        with pg_server.connect(self.pg.conninfo) as conn:   # through Toxiproxy, as clients come
            found = pg_server.fingerprint(conn)
        problems = pg_server.compare(self.fingerprint, found)
        if problems:
            raise DrillError(f"the restore of {self} fails verification: {'; '.join(problems[:3])}",
                             where=f"container {self.restored.name if self.restored else '?'}",
                             fix="the restore silently lost or changed data: do not serve from it")
        details["tables"] = {t: rows for t, (rows, _) in found.items()}

