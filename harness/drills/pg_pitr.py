"""PostgreSQL physical drill with point-in-time recovery: pg_basebackup, continuous WAL archiving
(``archive_command`` into a backup volume), recovery to a target time between two known writes.

The stack must archive: build it with ``PostgresPitrDrill.stack_options()`` (wal_level replica,
archive_mode on, ``archive_command`` copying each finished segment into a volume of its own, which
the disaster does not touch). The restore point is the target: the server's ``clock_timestamp()``
read while inserts continue. Every write acknowledged before that read is present after recovery,
none invoked after its reply is (the checkers judge both). Recovery ends by promotion
(``recovery_target_action=promote``), never paused; ``pg_verifybackup`` checks the base backup's
own manifest before the restore.

    stack = stack_factory(PostgresPitrDrill.stack_options())
    with PostgresPitrDrill(stack, history) as drill:
        drill.backup(); ...; drill.mark_target(); ...
        drill.copy(); drill.disaster(); drill.restore(); drill.verify()
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from harness.drills import pg_server
from harness.drills.base import BACKUP, COPY, Drill
from harness.drills.containers import exec_ok, owned_volume
from harness.errors import DrillError
from harness.history import History
from harness.stack.catalog import MAX_CONNECTIONS
from harness.stack.core import StackOptions

ARCHIVE = "/var/lib/postgresql/wal-archive"    # in the stack's PostgreSQL container
ARCHIVED_TIMEOUT_S = 120.0


class PostgresPitrDrill(Drill):
    """pg_basebackup -Fp -X stream, the WAL archive, recovery to ``mark_target()``'s time."""

    kind: ClassVar[str] = "pg-pitr"
    service: ClassVar[str] = "postgres"

    @staticmethod
    def stack_options(**others: Any) -> StackOptions:
        """A stack whose PostgreSQL archives every finished WAL segment into its own volume."""
        archive = ("-c", "wal_level=replica", "-c", "archive_mode=on",
                   "-c", f"archive_command=test ! -f {ARCHIVE}/%f && cp %p {ARCHIVE}/%f")
        return StackOptions(postgres_args=archive, postgres_volumes=(ARCHIVE,), **others)

    def __init__(self, stack: Any, history: History) -> None:
        self.pg = stack.postgres
        self.archive = owned_volume(self.pg.container, ARCHIVE, what="WAL archive", drill="PostgresPitrDrill",
                                    owner="postgres:postgres")
        super().__init__(stack, history)
        self.target: str | None = None
        self.restored = None
        self.volume = None

    def _tool_volumes(self) -> dict[str, str]:
        return {self.archive: "/archive:ro"}

    @property
    def _env(self) -> dict[str, str]:
        return {"PGPASSWORD": self.pg.password, "PGUSER": self.pg.user, "PGHOST": self.pg.spec.name,
                "PGPORT": str(self.pg.spec.port), "PGDATABASE": self.pg.dbname}

    def _backup(self, details: dict[str, Any]) -> None:
        result = exec_ok(self.tools, f"pg_basebackup -D {BACKUP}/base -Fp -X stream -c fast --no-password",
                         what="pg_basebackup", env=self._env, timeout_s=self.step_timeout_s,
                         fix="check the pg_hba replication line and max_wal_senders")
        details["seconds_in_tool"] = round(result.seconds, 3)

    def mark_target(self) -> str:
        """Read the server's clock as the recovery target (the restore point op); returns it."""
        with pg_server.connect(self.pg.conninfo) as conn, self.step("restore_point") as details:
            self.target = details["target_time"] = conn.execute("SELECT clock_timestamp()::text").fetchone()[0]
        return self.target

    def copy(self) -> Any:
        """Commit one transaction after the target, switch WAL, wait until that segment is archived, collect
        the archive, copy base backup and WAL with their manifest."""
        if self.target is None:
            raise DrillError(f"{self} has no recovery target", where="drill.copy()", fix="call drill.mark_target() first")
        with self.step("archive") as details:
            with pg_server.connect(self.pg.conninfo) as conn:
                # recovery only knows it passed the target when it replays a commit stamped after it
                conn.execute("SELECT txid_current()")
                segment = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]
                deadline = time.monotonic() + ARCHIVED_TIMEOUT_S
                while (conn.execute("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver").fetchone()[0]
                       < segment):
                    if time.monotonic() > deadline:
                        raise DrillError(f"WAL segment {segment} was not archived within {ARCHIVED_TIMEOUT_S:g} s",
                                         where=f"archive volume {self.archive}",
                                         fix="check archive_command in the PostgreSQL log (pg_stat_archiver.last_failed_wal)")
                    time.sleep(0.05)
            exec_ok(self.tools, f"mkdir -p {BACKUP}/wal && cp -a /archive/. {BACKUP}/wal/", what="collecting the WAL archive",
                    timeout_s=self.step_timeout_s, fix="check the archive volume")
            details.update(segment=segment, bytes=self._sizes(f"{BACKUP}/wal"))
        return super().copy()

    def _check_copy(self, details: dict[str, Any]) -> None:
        out = exec_ok(self.tools, f"pg_verifybackup {COPY}/base", what="pg_verifybackup of the copy",
                      timeout_s=self.step_timeout_s, fix="the base backup is damaged: take a new one")
        details["check"] = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "verified"

    def _provision(self, details: dict[str, Any]) -> None:
        """A fresh data volume holding the base backup, with recovery.signal, owned by postgres (999)."""
        self.volume = self.resources.volume("pgdata")
        loader = self.resources.container(
            self.image, name="loader", entrypoint=["sh", "-c"],
            command=[f"cp -a {COPY}/base/. /pgdata/ && touch /pgdata/recovery.signal && "
                     f"chown -R 999:999 /pgdata && chmod 700 /pgdata"],
            volumes={self.copy_volume.name: f"{COPY}:ro", self.volume.name: "/pgdata:rw"})
        code = loader.wait(timeout=self.step_timeout_s).get("StatusCode")
        if code != 0:
            raise DrillError(f"placing the base backup in the fresh volume failed (exit {code})",
                             where=f"container {loader.name}", fix="check the second copy")

    def _restore(self, details: dict[str, Any]) -> None:
        """Start the server in recovery to the target; ready when it has promoted itself."""
        # recovery refuses a max_connections below the one the backup was taken with: the stack's
        command = ["postgres", "-c", f"max_connections={MAX_CONNECTIONS}",
                   "-c", f"restore_command=cp {COPY}/wal/%f %p", "-c", f"recovery_target_time={self.target}",
                   "-c", "recovery_target_action=promote", "-c", "recovery_target_inclusive=on"]
        env = {"POSTGRES_USER": self.pg.user, "POSTGRES_PASSWORD": self.pg.password, "POSTGRES_DB": self.pg.dbname}
        self.restored = self.resources.container(
            self.image, name="restored", command=command, environment=env, aliases=(self.pg.spec.name,),
            volumes={self.volume.name: f"{self.pg.spec.data_dir}:rw", self.copy_volume.name: f"{COPY}:ro"},
            port=self.pg.spec.port)
        pg_server.wait_ready(self.restored, pg_server.direct_conninfo(self.restored, self.pg),
                             until="SELECT NOT pg_is_in_recovery()")
        wal = sum(s for p, s in (self.manifest.sizes if self.manifest else {}).items() if p.startswith("wal/"))
        details.update(target_time=self.target, wal_bytes=wal)

    def _verify(self, details: dict[str, Any]) -> None:
        """Promoted (not paused), and the last transaction replayed is not after the target."""
        with pg_server.connect(self.pg.conninfo) as conn:   # through Toxiproxy, as clients come
            in_recovery, last, past = conn.execute(
                "SELECT pg_is_in_recovery(), pg_last_xact_replay_timestamp()::text, "
                "pg_last_xact_replay_timestamp() > %s::timestamptz", (self.target,)).fetchone()
            rows = pg_server.fingerprint(conn)
        if in_recovery:
            raise DrillError(f"the restore of {self} is still in recovery (paused?)", where=f"container {self.restored.name}",
                             fix="recovery must end by promotion: recovery_target_action=promote")
        if past:
            raise DrillError(f"the restore of {self} replayed a transaction at {last}, after the target {self.target}",
                             where=f"container {self.restored.name}", fix="check recovery_target_time and its time zone")
        details.update(last_replayed=last, tables={t: n for t, (n, _) in rows.items()})
