"""Elasticsearch drill: a snapshot to a filesystem repository, restored into a fresh node.

The stack's Elasticsearch (``harness.stack.catalog.elasticsearch``) has ``path.repo`` on a volume of
its own; the drill registers an ``fs`` repository there. The restore point is a write block
(``index.blocks.write``) on the drilled indices: while it holds, the drill refreshes, takes the
fingerprint (document count and a SHA-256 over every document's id and source, in id order) and
the snapshot (``wait_for_completion``), then lifts the block. Writes acknowledged before the block
are in the snapshot; writes sent while it holds are refused (403, a definite failure) and resent
by nobody. The repository's files are the backup: copied to the second location with the SHA-256
manifest, checked, then copied into a fresh repository volume of a fresh node (same image, same
settings, same network alias, so clients come back through the same Toxiproxy proxy), which
registers it read-only and restores the snapshot. Verify reads through the proxy and compares the
fingerprint.

    stack = stack_factory(ElasticsearchSnapshotDrill.stack_options())
    with ElasticsearchSnapshotDrill(stack, history) as drill:
        drill.backup(); drill.copy(); drill.disaster(); drill.restore(); drill.verify()
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from harness.drills.base import BACKUP, COPY, Drill
from harness.drills.containers import exec_ok, owned_volume
from harness.errors import DrillError
from harness.history import History
from harness.stack.catalog import ELASTICSEARCH_REPO, elasticsearch
from harness.stack.core import StackOptions

REPOSITORY = "dr-drill"
SNAPSHOT = "drill"
LOCATION = f"{ELASTICSEARCH_REPO}/{REPOSITORY}"
PAGE = 1000                      # documents per page of the fingerprint
WAIT_S = 180.0                   # a fresh node's start, a snapshot's restore
ES_UID = "1000:0"                # the official image's elasticsearch user


def fingerprint_of(hits: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Count and SHA-256 of documents (``_index``, ``_id``, ``_source``), independent of their order."""
    lines = sorted(json.dumps([h.get("_index"), h.get("_id"), h.get("_source")], sort_keys=True,
                              separators=(",", ":")) for h in hits)
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return {"documents": len(lines), "sha256": digest}


def fingerprint_problem(expected: Mapping[str, Any], found: Mapping[str, Any]) -> str | None:
    """Why ``found`` does not match ``expected`` (one sentence), or None when it does."""
    if not expected.get("documents"):
        return "the snapshot held no document"
    if found.get("documents") != expected.get("documents"):
        return f"{found.get('documents')} documents where the snapshot held {expected.get('documents')}"
    if found.get("sha256") != expected.get("sha256"):
        return "the same number of documents, but their content differs (SHA-256 over ids and sources)"
    return None


def snapshot_failure(response: Mapping[str, Any]) -> str | None:
    """Why a ``wait_for_completion`` snapshot response is not a whole snapshot, or None."""
    snap = response.get("snapshot") or {}
    state = snap.get("state")
    shards = snap.get("shards") or {}
    if state != "SUCCESS":
        reasons = "; ".join(str(f.get("reason")) for f in snap.get("failures") or [])[:300]
        return f"snapshot state {state}" + (f": {reasons}" if reasons else "")
    if shards.get("failed"):
        return f"{shards.get('failed')} of {shards.get('total')} shards failed"
    return None


class ElasticsearchSnapshotDrill(Drill):
    """Snapshot of the indices under a write block, restored into a fresh node from the second copy."""

    kind: ClassVar[str] = "es-snapshot"
    service: ClassVar[str] = "elasticsearch"

    @staticmethod
    def stack_options(**others: Any) -> StackOptions:
        """A stack with the Elasticsearch service (its ``path.repo`` is on a volume of its own)."""
        return StackOptions(services=(elasticsearch(),), **others)

    def __init__(self, stack: Any, history: History, *, indices: str = "*") -> None:
        self.es = stack.elasticsearch
        self.repo_volume = owned_volume(self.es.container, ELASTICSEARCH_REPO, what="snapshot",
                                        drill="ElasticsearchSnapshotDrill", owner=ES_UID)
        super().__init__(stack, history)
        self.indices = indices
        self.fingerprint: dict[str, Any] = {}
        self.volume = None
        self.restored = None

    def _tool_volumes(self) -> dict[str, str]:
        return {} if self.destroyed else {self.repo_volume: "/source:ro"}

    def _client(self, url: str | None = None, timeout_s: float = 60.0) -> Any:
        from elasticsearch import Elasticsearch   # as the workloads do: the client loads on first use
        return Elasticsearch(url or self.es.url, request_timeout=timeout_s, max_retries=0)

    def _fingerprint(self, client: Any) -> dict[str, Any]:
        """Every document of ``indices`` (paged by point in time, sorted by _shard_doc), fingerprinted."""
        client.indices.refresh(index=self.indices)
        pit = client.open_point_in_time(index=self.indices, keep_alive="1m")["id"]
        hits: list[Mapping[str, Any]] = []
        after: list[Any] | None = None
        try:
            while True:
                page = client.search(pit={"id": pit, "keep_alive": "1m"}, size=PAGE, sort=["_shard_doc"],
                                     search_after=after, query={"match_all": {}}, track_total_hits=False)
                batch = page["hits"]["hits"]
                hits += batch
                if len(batch) < PAGE:
                    break
                after, pit = batch[-1]["sort"], page.get("pit_id", pit)
        finally:
            client.close_point_in_time(id=pit)
        return fingerprint_of(hits)

    def _backup(self, details: dict[str, Any]) -> None:
        client = self._client()
        try:
            client.snapshot.create_repository(name=REPOSITORY, type="fs", settings={"location": LOCATION})
            with self.step("restore_point") as point:
                client.indices.put_settings(index=self.indices, settings={"index.blocks.write": True})
                try:
                    self.fingerprint = self._fingerprint(client)
                    response = client.snapshot.create(repository=REPOSITORY, snapshot=SNAPSHOT, indices=self.indices,
                                                      include_global_state=False, wait_for_completion=True)
                finally:
                    client.indices.put_settings(index=self.indices, settings={"index.blocks.write": None})
                failure = snapshot_failure(response)
                if failure:
                    raise DrillError(f"the snapshot of {self} is not whole: {failure}",
                                     where=f"repository {REPOSITORY} at {LOCATION}",
                                     fix="read the Elasticsearch log; check path.repo and free space")
                point.update(self.fingerprint)
        finally:
            client.close()
        exec_ok(self.tools, f"cp -a /source/{REPOSITORY} {BACKUP}/", what="copying the snapshot repository",
                timeout_s=self.step_timeout_s, fix="check the snapshot volume")

    def _check_copy(self, details: dict[str, Any]) -> None:
        out = exec_ok(self.tools, f"cd {COPY}/{REPOSITORY} && ls index-* index.latest && ls indices | wc -l",
                      what="the repository layout of the copy", timeout_s=120,
                      fix="the copy is not an Elasticsearch repository: take a new snapshot").stdout
        details["check"] = " ".join(out.split())

    def _provision(self, details: dict[str, Any]) -> None:
        """A fresh repository volume holding the second copy, a fresh data volume, a fresh node."""
        self.volume = self.resources.volume("esrepo")
        data = self.resources.volume("esdata")
        loader = self.resources.container(
            self.image, name="loader", entrypoint=["sh", "-c"],
            command=[f"cp -a {COPY}/{REPOSITORY} /repo/ && chown -R {ES_UID} /repo /data"],
            volumes={self.copy_volume.name: f"{COPY}:ro", self.volume.name: "/repo:rw", data.name: "/data:rw"})
        code = loader.wait(timeout=WAIT_S).get("StatusCode")
        if code != 0:
            raise DrillError(f"copying the snapshot into the fresh volume failed (exit {code}): "
                             f"{loader.logs(tail=5).decode('utf-8', 'replace').strip()}",
                             where=f"container {loader.name}", fix="check the second copy's files")
        spec = self.es.spec
        self.restored = self.resources.container(
            self.image, name="restored", environment=dict(spec.environment),
            volumes={self.volume.name: f"{ELASTICSEARCH_REPO}:rw", data.name: f"{spec.data_dir}:rw"},
            aliases=(spec.name,), port=spec.port)
        self.restored.reload()
        port = int(self.restored.ports[f"{spec.port}/tcp"][0]["HostPort"])
        self._direct = f"http://127.0.0.1:{port}"
        self._wait_health(self._direct)
        details["container"] = self.restored.name

    def _wait_health(self, url: str) -> None:
        deadline, last = time.monotonic() + WAIT_S, "no answer yet"
        while time.monotonic() < deadline:
            client = self._client(url, timeout_s=5)
            try:
                health = client.cluster.health(wait_for_status="yellow", timeout="1s")
                if health.get("status") in ("yellow", "green"):
                    return
                last = f"status {health.get('status')}"
            except Exception as exc:  # noqa: BLE001 - a node starting: not yet
                last = f"{type(exc).__name__}: {str(exc)[:120]}"
            finally:
                client.close()
            time.sleep(0.5)
        raise DrillError(f"the fresh Elasticsearch node did not become ready within {WAIT_S:g} s (last: {last})",
                         where=f"container {self.restored.name if self.restored else '?'}",
                         fix="read its log (heap, disk watermarks, path.repo)")

    def _restore(self, details: dict[str, Any]) -> None:
        client = self._client(self._direct, timeout_s=WAIT_S)
        try:
            client.snapshot.create_repository(name=REPOSITORY, type="fs",
                                              settings={"location": LOCATION, "readonly": True})
            response = client.snapshot.restore(repository=REPOSITORY, snapshot=SNAPSHOT, indices=self.indices,
                                               include_global_state=False, wait_for_completion=True)
            shards = (response.get("snapshot") or {}).get("shards") or {}
            if shards.get("failed") or not shards.get("successful"):
                raise DrillError(f"the restore of {self} failed on {shards.get('failed')} of "
                                 f"{shards.get('total')} shards", where=f"container {self.restored.name}",
                                 fix="read the fresh node's log")
            details["shards"] = shards.get("successful")
        finally:
            client.close()

    def _verify(self, details: dict[str, Any]) -> None:
        client = self._client()      # through Toxiproxy, as clients come
        try:
            found = self._fingerprint(client)
        finally:
            client.close()
        problem = fingerprint_problem(self.fingerprint, found)
        if problem:
            raise DrillError(f"the restore of {self} fails verification: {problem}",
                             where=f"container {self.restored.name if self.restored else '?'}",
                             fix="the restore silently lost or changed data: do not serve from it")
        details.update(found)
