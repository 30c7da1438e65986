"""Redis drills: an RDB snapshot (BGSAVE) and the append-only file (appendfsync everysec), each
checked with redis-check-rdb / redis-check-aof and restored into a fresh server.

The restore point is a ``CLIENT PAUSE ... WRITE``: while writes are held, the drill takes the
fingerprint (every key's ``DUMP``, hashed) and fixes the backup's content (RDB: ``BGSAVE`` forks
the snapshot; AOF: the multi-part AOF directory is copied, with automatic rewrites off), then
unpauses. Writes acknowledged before the pause are in the backup; writes sent after it are not.

The trap: a server started with ``--appendonly yes`` ignores ``dump.rdb`` and starts empty. The
RDB drill therefore restores with ``--appendonly no`` and, once the data is loaded, turns the AOF
back on with ``CONFIG SET appendonly yes`` (Redis then writes a new AOF from memory).
``restore_args=("--appendonly", "yes")`` reproduces the trap: the verify step catches it.

    with RedisRdbDrill(stack, history) as drill:
        drill.backup(); drill.copy(); drill.disaster(); drill.restore(); drill.verify()
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, ClassVar

import redis
from docker.models.containers import Container

from harness.drills.base import BACKUP, COPY, Drill
from harness.drills.containers import exec_ok
from harness.errors import DrillError
from harness.history import History

PAUSE_MS = 10_000       # the pause lifts itself after this long if the drill dies holding it
WAIT_S = 120.0


def fingerprint(client: redis.Redis) -> dict[str, str]:
    """{key: sha256 of its DUMP} for every key (DUMP is deterministic for one value and Redis version)."""
    keys = sorted(client.scan_iter(count=1000))
    dumps = client.pipeline(transaction=False)
    for key in keys:
        dumps.dump(key)
    return {k.decode("utf-8", "replace"): hashlib.sha256(v or b"").hexdigest()
            for k, v in zip(keys, dumps.execute())}


def _wait(what: str, done: Any, *, where: str, timeout_s: float = WAIT_S) -> None:
    """Poll ``done()`` until true (bounded); DrillError naming ``what`` after ``timeout_s``."""
    deadline, last = time.monotonic() + timeout_s, "no attempt"
    while time.monotonic() < deadline:
        try:
            if done():
                return
            last = "not yet"
        except redis.RedisError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.05)
    raise DrillError(f"{what} did not happen within {timeout_s:g} s (last: {last})", where=where,
                     fix="read the Redis log for why")


class _RedisDrill(Drill):
    """What the RDB and AOF drills share: the pause, the fingerprint, the fresh server."""

    service: ClassVar[str] = "redis"
    files: ClassVar[str] = ""                       # what is copied from /data, e.g. "dump.rdb"
    default_restore_args: ClassVar[tuple[str, ...]] = ()

    def __init__(self, stack: Any, history: History, *, restore_args: tuple[str, ...] | None = None) -> None:
        self.rs = stack.redis
        box = self.rs.container
        box.reload()
        self.source = next(m["Name"] for m in box.attrs["Mounts"] if m.get("Destination") == self.rs.spec.data_dir)
        super().__init__(stack, history)
        self.restore_args = self.default_restore_args if restore_args is None else tuple(restore_args)
        self.fingerprint: dict[str, str] = {}
        self.volume = None
        self.restored: Container | None = None

    def _tool_volumes(self) -> dict[str, str]:
        return {} if self.destroyed else {self.source: "/source:ro"}

    def _fix(self, client: redis.Redis) -> None:
        """Fix the backup's content while writes are paused."""

    def _collect(self, client: redis.Redis, details: dict[str, Any]) -> None:
        """After the pause: put the backup's files under /backup."""

    def backup(self) -> None:
        """Pause writes (the restore point), fingerprint and fix the content, unpause, collect the files."""
        with self.rs.client(timeout_s=10) as client, self.step("backup") as details:
            self._before(client)
            try:
                with self.step("restore_point") as point:
                    client.execute_command("CLIENT", "PAUSE", PAUSE_MS, "WRITE")
                    paused = time.monotonic()
                    try:
                        self.fingerprint = fingerprint(client)
                        self._fix(client)
                    finally:
                        client.execute_command("CLIENT", "UNPAUSE")
                    point.update(keys=len(self.fingerprint), paused_s=round(time.monotonic() - paused, 3))
                self._collect(client, details)
                details["bytes"] = self._sizes(BACKUP)
            finally:
                self._after(client)

    def _before(self, client: redis.Redis) -> None:
        pass

    def _after(self, client: redis.Redis) -> None:
        pass

    def _backup(self, details: dict[str, Any]) -> None:  # backup() is specialised above
        raise NotImplementedError

    def _provision(self, details: dict[str, Any]) -> None:
        """A fresh data volume holding the second copy's files, owned by the redis user (999)."""
        self.volume = self.resources.volume("redisdata")
        loader = self.resources.container(
            self.image, name="loader", entrypoint=["sh", "-c"],
            command=[f"cd {COPY} && cp -a {self.files} /data/ && chown -R 999:999 /data"],
            volumes={self.copy_volume.name: f"{COPY}:ro", self.volume.name: "/data:rw"})
        code = loader.wait(timeout=WAIT_S).get("StatusCode")
        if code != 0:
            raise DrillError(f"copying the backup into the fresh volume failed (exit {code}): "
                             f"{loader.logs(tail=5).decode('utf-8', 'replace').strip()}", where=f"container {loader.name}",
                             fix="check the second copy's files")
        details["files"] = self.files

    def _restore(self, details: dict[str, Any]) -> None:
        """Start the fresh server on the volume and wait until it answers with its data loaded."""
        command = ["redis-server", "--protected-mode", "no", "--requirepass", self.rs.password, *self.restore_args]
        self.restored = self.resources.container(self.image, name="restored", command=command,
                                                 volumes={self.volume.name: f"{self.rs.spec.data_dir}:rw"},
                                                 aliases=(self.rs.spec.name,), port=self.rs.spec.port)
        self.restored.reload()
        port = int(self.restored.ports[f"{self.rs.spec.port}/tcp"][0]["HostPort"])
        with redis.Redis(host="127.0.0.1", port=port, password=self.rs.password, socket_timeout=2,
                         socket_connect_timeout=2) as client:
            _wait("the restored Redis loading its data", lambda: client.info("persistence").get("loading") == 0,
                  where=f"container {self.restored.name}")
            self._loaded(client, details)
            details.update(args=list(self.restore_args), keys=client.dbsize())

    def _loaded(self, client: redis.Redis, details: dict[str, Any]) -> None:
        pass

    def _verify(self, details: dict[str, Any]) -> None:
        with self.rs.client(timeout_s=5) as client:     # through Toxiproxy, as clients come
            found = fingerprint(client)
        missing = sorted(set(self.fingerprint) - set(found))
        changed = sorted(k for k in set(self.fingerprint) & set(found) if found[k] != self.fingerprint[k])
        extra = sorted(set(found) - set(self.fingerprint))
        if missing or changed or extra or not self.fingerprint:
            what = "; ".join(p for p in (
                f"{len(missing)} of {len(self.fingerprint)} keys missing ({', '.join(missing[:3])})" if missing else "",
                f"{len(changed)} keys changed ({', '.join(changed[:3])})" if changed else "",
                f"{len(extra)} keys not in the backup" if extra else "",
                "the backup held no key" if not self.fingerprint else "") if p)
            raise DrillError(f"the restore of {self} fails verification: {what}",
                             where=f"container {self.restored.name if self.restored else '?'}",
                             fix="the restore silently lost or changed data: do not serve from it")
        details["keys"] = len(found)


class RedisRdbDrill(_RedisDrill):
    """BGSAVE under a write pause, dump.rdb copied after the save finished, restored with AOF off first."""

    kind: ClassVar[str] = "redis-rdb"
    files: ClassVar[str] = "dump.rdb"
    default_restore_args: ClassVar[tuple[str, ...]] = ("--appendonly", "no")

    def _fix(self, client: redis.Redis) -> None:
        self._lastsave = client.lastsave()
        client.bgsave()

    def _collect(self, client: redis.Redis, details: dict[str, Any]) -> None:
        def saved() -> bool:
            info = client.info("persistence")
            if info.get("rdb_last_bgsave_status") != "ok":
                raise DrillError(f"BGSAVE failed: rdb_last_bgsave_status {info.get('rdb_last_bgsave_status')}",
                                 where=f"container {self.rs.container.name}", fix="read the Redis log (disk full?)")
            return info.get("rdb_bgsave_in_progress") == 0 and client.lastsave() != self._lastsave
        _wait("BGSAVE finishing", saved, where=f"container {self.rs.container.name}")
        saved_at = client.lastsave()
        exec_ok(self.tools, f"cp /source/dump.rdb {BACKUP}/dump.rdb", what="copying dump.rdb", timeout_s=300,
                fix="check the Redis data volume")
        if client.lastsave() != saved_at:
            raise DrillError("another save replaced dump.rdb while the drill copied it",
                             where=f"container {self.rs.container.name}", fix="run the drill again")

    def _check_copy(self, details: dict[str, Any]) -> None:
        out = exec_ok(self.tools, f"redis-check-rdb {COPY}/dump.rdb", what="redis-check-rdb of the copy",
                      timeout_s=300, fix="the RDB file is damaged: take a new backup").stdout
        details["check"] = next((ln.strip() for ln in out.splitlines() if "keys read" in ln), "RDB looks OK")

    def _loaded(self, client: redis.Redis, details: dict[str, Any]) -> None:
        if "--appendonly" in self.restore_args and self.restore_args[self.restore_args.index("--appendonly") + 1] == "no":
            client.config_set("appendonly", "yes")      # back to AOF persistence, written from memory
            _wait("the AOF rewrite after re-enabling appendonly",
                  lambda: client.info("persistence").get("aof_rewrite_in_progress") == 0
                  and client.info("persistence").get("aof_enabled") == 1, where=f"container {self.restored.name}")
            details["aof_reenabled"] = True


class RedisAofDrill(_RedisDrill):
    """The multi-part AOF directory copied under a write pause (rewrites off), restored with appendonly yes."""

    kind: ClassVar[str] = "redis-aof"
    files: ClassVar[str] = "appendonlydir"
    default_restore_args: ClassVar[tuple[str, ...]] = ("--appendonly", "yes", "--appendfsync", "everysec")

    def _before(self, client: redis.Redis) -> None:
        self._rewrite_pct = client.config_get("auto-aof-rewrite-percentage")["auto-aof-rewrite-percentage"]
        client.config_set("auto-aof-rewrite-percentage", 0)
        if client.info("persistence").get("aof_enabled") != 1:
            raise DrillError(f"{self} needs a Redis with appendonly yes", where=f"container {self.rs.container.name}",
                             fix="start the stack with redis_args including --appendonly yes")
        _wait("the running AOF rewrite finishing",
              lambda: client.info("persistence").get("aof_rewrite_in_progress") == 0,
              where=f"container {self.rs.container.name}")

    def _fix(self, client: redis.Redis) -> None:
        exec_ok(self.tools, f"cp -a /source/appendonlydir {BACKUP}/", what="copying appendonlydir",
                timeout_s=300, fix="check the Redis data volume")

    def _after(self, client: redis.Redis) -> None:
        client.config_set("auto-aof-rewrite-percentage", self._rewrite_pct)

    def _check_copy(self, details: dict[str, Any]) -> None:
        out = exec_ok(self.tools, f"cd {COPY}/appendonlydir && redis-check-aof appendonly.aof.manifest",
                      what="redis-check-aof of the copy", timeout_s=300,
                      fix="the AOF is damaged: take a new backup (redis-check-aof --fix only truncates)").stdout
        details["check"] = out.strip().splitlines()[-1] if out.strip() else "valid"
