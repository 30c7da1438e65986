"""The drill contract: backup, copy, disaster, restore, verify, each step an op in the history.

A drill works on one data service of a running stack (a stack of its own, from ``stack_factory``:
the disaster destroys the service's container and data volume, and the restore puts a fresh
container in its place under the same network alias, so clients reach it through the same
Toxiproxy proxy). Concrete drills implement the verbs; this base supplies the rest:

* ``with drill:`` removes everything the drill made on exit (tools sidecar, backup and copy
  volumes, the restored container), also when a step raised or on Ctrl-C; ``close()`` is idempotent.
  A cleanup failure becomes a note on the original error instead of masking it.
* Every step writes ``drill`` ops: ``invoke <step> {name, kind, target}``, then ``ok`` with the
  step's details (bytes, files, restore point ...) or ``fail`` with the one-line error. Steps:
  ``backup`` (with a ``restore_point`` op inside it: the moment the backup's content is fixed),
  ``copy``, ``disaster``, ``check`` (the copy against the SHA-256 manifest, then the tool's own
  check), ``provision`` (the fresh container), ``restore`` and ``verify`` (the restored service
  answers reads that match the backup's fingerprint). The checkers read RTO and RPO from these ops.
* Two copies: the backup is written to a backup volume, its manifest taken there, then copied to a
  second volume; the restore reads only the second copy, after ``check`` found it byte-identical.
* A step that fails raises ``DrillError`` (one line: what, where, what to do); a foreign error is
  translated at the boundary. There is no partial success: a drill that raised has not restored.
* ``str(drill)`` is the label in the timeline and the report: ``pg-logical(postgres)``.

    with PostgresLogicalDrill(stack, history) as drill:
        drill.backup(); drill.copy(); drill.disaster(); drill.restore(); drill.verify()
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, ClassVar

import docker.errors
from docker.models.containers import Container

from harness.drills.containers import Resources, exec_ok, remove_volume
from harness.drills.manifest import MANIFEST_NAME, Manifest
from harness.errors import DrillError, HarnessError
from harness.history import DRILL, History

BACKUP, COPY = "/backup", "/copy"
SUMS = "find . -type f ! -name {m} -print0 | sort -z | xargs -0r sha256sum".format(m=MANIFEST_NAME)
_SPLIT = "--sizes--"
SIZES = f"find . -type f ! -name {MANIFEST_NAME} -printf '%s %P\\n'"


class Drill(ABC):
    """Base of every backup-restore drill; subclasses set ``kind``/``service`` and the verbs."""

    kind: ClassVar[str] = "drill"
    service: ClassVar[str] = ""
    step_timeout_s: float = 900.0

    def __init__(self, stack: Any, history: History) -> None:
        self.stack = stack
        self.history = history
        self.id = secrets.token_hex(3)
        self.resources = Resources(stack.client, stack.run_id, self.id, stack.network_name)
        self.image = stack.images[self.service].ref
        self.manifest: Manifest | None = None
        self.backup_volume = self.resources.volume("backup")
        self.copy_volume = self.resources.volume("copy")
        self._tools: Container | None = None
        self.destroyed = False      # set by disaster(): the service's data volume is gone

    def prepare(self) -> Drill:
        """Start the tools sidecar now, so that no step's duration includes it (``__enter__`` calls it)."""
        _ = self.tools
        return self

    def __str__(self) -> str:
        return f"{self.kind}({self.service})"

    # -- what subclasses provide ----------------------------------------------------------
    @abstractmethod
    def _backup(self, details: dict[str, Any]) -> None:
        """Write the backup under /backup in the tools container; record a ``restore_point`` op."""

    def _check_copy(self, details: dict[str, Any]) -> None:
        """The backup tool's own check of the second copy (pg_restore --list, redis-check-rdb ...)."""

    @abstractmethod
    def _provision(self, details: dict[str, Any]) -> None:
        """Start the fresh container the restore goes into."""

    @abstractmethod
    def _restore(self, details: dict[str, Any]) -> None:
        """Restore the second copy into the fresh container."""

    @abstractmethod
    def _verify(self, details: dict[str, Any]) -> None:
        """Read the restored service through its proxy and compare with the backup's fingerprint."""

    def _tool_volumes(self) -> dict[str, str]:
        """Extra volumes for the tools sidecar: {volume name: "path:mode"} (none of them after the disaster)."""
        return {}

    # -- the steps --------------------------------------------------------------------------
    def backup(self) -> None:
        with self.step("backup") as details:
            self._backup(details)
            details["bytes"] = self._sizes(BACKUP)

    def copy(self) -> Manifest:
        """Take the SHA-256 manifest of the backup, copy it to the second location, store the manifest there."""
        with self.step("copy") as details:
            manifest = self._manifest_of(BACKUP)
            if not manifest.digests:
                raise DrillError(f"the backup of {self} is empty", where=f"volume {self.backup_volume.name}",
                                 fix="the backup step wrote nothing: check its command")
            exec_ok(self.tools, f"cp -a {BACKUP}/. {COPY}/ && cat > {COPY}/{MANIFEST_NAME} <<'EOF'\n"
                    f"{manifest.text()}EOF", what="copying the backup to the second location",
                    timeout_s=self.step_timeout_s, fix="check free space on the Docker host")
            self.manifest = manifest
            details.update(bytes=manifest.total_bytes, files=len(manifest.digests))
        return manifest

    def disaster(self) -> None:
        """Destroy the service's container and its data volume (the stack's own)."""
        with self.step("disaster") as details:
            box = getattr(self.stack, self.service).container
            data_dir = getattr(self.stack, self.service).spec.data_dir
            box.reload()
            data = [m["Name"] for m in box.attrs.get("Mounts", [])
                    if m.get("Type") == "volume" and m.get("Destination") == data_dir]
            box.remove(force=True, v=True)
            if self._tools is not None and set(data) & set(self._tool_volumes()):
                self._tools.remove(force=True, v=True)   # the sidecar held the data volume: let it go
                self._tools = None
            self.destroyed = True
            for name in data:
                try:
                    remove_volume(self.stack.client.volumes.get(name))
                except docker.errors.NotFound:
                    pass
            details.update(container=box.name, volumes=data)

    def restore(self) -> None:
        """Check the second copy (manifest, then the tool's check), provision, restore."""
        with self.step("check") as details:
            self.check_copy()
            self._check_copy(details)
        with self.step("provision") as details:
            self._provision(details)
        with self.step("restore") as details:
            self._restore(details)

    def verify(self) -> None:
        with self.step("verify") as details:
            self._verify(details)

    def check_copy(self) -> None:
        """DrillError unless every file of the second copy matches the manifest taken at backup time."""
        if self.manifest is None:
            raise DrillError(f"{self} has no manifest to check the copy against", where="drill.restore()",
                             fix="call drill.copy() after drill.backup() and before the restore")
        problems = self.manifest.problems(self._manifest_of(COPY).digests)
        if problems:
            shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
            raise DrillError(f"the second copy of the {self} backup fails its SHA-256 manifest: {shown}",
                             where=f"volume {self.copy_volume.name}",
                             fix="do not restore from it: take a new backup, and check the storage the copy lives on")

    # -- helpers for subclasses and tests -----------------------------------------------------
    @property
    def tools(self) -> Container:
        """The sidecar commands run in: the service's image, backup volume at /backup, copy at /copy."""
        if self._tools is None:
            volumes = {self.backup_volume.name: f"{BACKUP}:rw", self.copy_volume.name: f"{COPY}:rw"}
            self._tools = self.resources.container(self.image, name="tools", entrypoint=["sleep"],
                                                   command=["3600"], volumes=volumes | self._tool_volumes())
        return self._tools

    def flip_byte(self, path: str, offset: int = -1, *, in_backup: bool = False) -> None:
        """Negative controls: invert one byte of ``path`` in the second copy (or, ``in_backup``, in the
        backup itself before its manifest is taken); offset -1 is the middle of the file."""
        root = BACKUP if in_backup else COPY
        script = (f"f={root}/{path}; size=$(stat -c %s \"$f\"); o={offset}; [ $o -ge 0 ] || o=$((size / 2)); "
                  f"b=$(od -An -tu1 -j $o -N1 \"$f\" | tr -d ' '); "
                  f"printf \"$(printf '\\\\%03o' $((255 - b)))\" | dd of=\"$f\" bs=1 seek=$o conv=notrunc status=none")
        exec_ok(self.tools, script, what=f"flipping a byte of {path}", timeout_s=60, fix="name a file of the backup")

    def copy_files(self) -> list[str]:
        """The files of the second copy, relative to its root."""
        return sorted(self.manifest.digests) if self.manifest else []

    def _manifest_of(self, root: str) -> Manifest:
        out = exec_ok(self.tools, f"cd {root} && {SUMS} && echo {_SPLIT} && {SIZES}", what=f"sha256sum of {root}",
                      timeout_s=self.step_timeout_s, fix="check the backup volume").stdout
        sums, _, sizes = out.partition(f"{_SPLIT}\n")
        return Manifest.from_listing(sums, sizes)

    def _sizes(self, root: str) -> int:
        out = exec_ok(self.tools, f"cd {root} && {SIZES}", what=f"listing {root}", timeout_s=120,
                      fix="check the backup volume").stdout
        return sum(int(line.split(" ", 1)[0]) for line in out.splitlines() if line.strip())

    @contextmanager
    def step(self, f: str) -> Iterator[dict[str, Any]]:
        """Record one step as a ``drill`` op; the body fills the ok value's details."""
        value = {"name": str(self), "kind": self.kind, "target": self.service}
        op = self.history.invoke(DRILL, f, value)
        details: dict[str, Any] = {}
        try:
            yield details
        except HarnessError as exc:
            self.history.complete(op, "fail", error=f"{type(exc).__name__}: {exc}")
            raise
        except Exception as exc:
            err = DrillError(f"step {f} of drill {self} failed: {type(exc).__name__}: {exc}",
                             where=f"drill {self.id}", fix="see the cause below; nothing of the drill is kept")
            self.history.complete(op, "fail", error=f"DrillError: {err}")
            raise err from exc
        except BaseException as exc:  # Ctrl-C: recorded, then propagated unchanged
            self.history.complete(op, "fail", error=f"{type(exc).__name__}: interrupted")
            raise
        self.history.complete(op, "ok", value=value | details)

    # -- life cycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Remove every container and volume the drill made; idempotent."""
        self._tools = None
        problems = self.resources.close()
        if problems:
            raise DrillError(f"could not remove what drill {self} made: {'; '.join(problems)}",
                             where=f"drill {self.id}", fix="remove them by the label dr-harness.drill")

    def __enter__(self) -> Drill:
        try:
            return self.prepare()
        except BaseException:
            self.close()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.close()
            return
        try:
            self.close()
        except Exception as close_exc:  # the original error stays the one raised
            exc.add_note(f"and cleaning up {self} also failed: {close_exc}")
