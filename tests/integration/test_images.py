"""Integration tests for harness/stack/images.py and harness/stack/engine.py against the real Docker engine.

Each resolved image is proven to honour its official image's contract with a real container,
reached only through a port published on 127.0.0.1.
"""

from __future__ import annotations

import io
import secrets
import tarfile
import time
from pathlib import Path

import docker
import psycopg
import pytest
import redis
import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from harness.errors import EngineUnavailable, ImageUnavailable
from harness.stack.engine import connect, engine_info
from harness.stack.images import SPECS, ImageSpec, ResolvedImage, resolve, resolve_many
from harness.stack.labels import new_run_id, run_labels

pytestmark = pytest.mark.docker

RUN_ID = new_run_id()


@pytest.fixture(scope="module")
def resolved(client: docker.DockerClient) -> dict[str, ResolvedImage]:
    """Postgres, Redis and Toxiproxy resolved in parallel (built on the first run of a machine)."""
    results = resolve_many(client, ["postgres", "redis", "toxiproxy"])
    for service, result in results.items():
        if isinstance(result, ImageUnavailable):
            pytest.fail(f"{service}: {result}\n{result.evidence or ''}")
    return results  # type: ignore[return-value]


def _wait(container, probe, timeout_s: float = 60.0):  # type: ignore[no-untyped-def]
    """Retry ``probe`` until it answers; stop at once, with the logs, if the container exited."""
    for attempt in Retrying(stop=stop_after_delay(timeout_s), wait=wait_fixed(0.5), reraise=True,
                            retry=retry_if_exception_type(Exception)):
        with attempt:
            container.reload()
            if container.status == "exited":
                logs = container.logs(tail=20).decode(errors="replace")
                pytest.fail(f"{container.image.tags} exited before answering:\n{logs}")
            return probe()


def _host_port(container, port: str) -> int:  # type: ignore[no-untyped-def]
    container.reload()
    binding = container.attrs["NetworkSettings"]["Ports"][port][0]
    assert binding["HostIp"] == "127.0.0.1"
    return int(binding["HostPort"])


def _pid1_uid(container) -> str:  # type: ignore[no-untyped-def]
    out = container.exec_run(["sh", "-c", "grep ^Uid: /proc/1/status"]).output.decode()
    return out.split()[1]


def _tar_of(name: str, text: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = text.encode()
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_postgres_image_honours_the_official_contract(client: docker.DockerClient,
                                                       resolved: dict[str, ResolvedImage]) -> None:
    """Generated credentials work over 127.0.0.1, initdb.d runs, uid is 999 and `-c` args reach postgres."""
    user, password, db = "u" + secrets.token_hex(4), secrets.token_hex(12), "d" + secrets.token_hex(4)
    container = client.containers.create(
        resolved["postgres"].ref,
        command=["postgres", "-c", "synchronous_commit=off", "-c", "wal_writer_delay=10000"],
        environment={"POSTGRES_USER": user, "POSTGRES_PASSWORD": password, "POSTGRES_DB": db},
        ports={"5432/tcp": ("127.0.0.1", None)}, labels=run_labels(RUN_ID),
        tmpfs={"/var/lib/postgresql/data": "size=256m"})  # an empty, root-owned mount like a test's tmpfs
    try:
        container.put_archive("/docker-entrypoint-initdb.d",
                              _tar_of("01-marker.sql", "CREATE TABLE initdb_ran (x int);\n"))
        container.start()
        port = _host_port(container, "5432/tcp")
        dsn = f"host=127.0.0.1 port={port} user={user} password={password} dbname={db} connect_timeout=3"
        conn = _wait(container, lambda: psycopg.connect(dsn))
        with conn:
            assert conn.execute("SHOW synchronous_commit").fetchone() == ("off",)
            assert conn.execute("SHOW wal_writer_delay").fetchone() == ("10s",)
            assert conn.execute("SELECT current_user, current_database()").fetchone() == (user, db)
            assert conn.execute("SELECT count(*) FROM initdb_ran").fetchone() == (0,)
        assert _pid1_uid(container) == "999"
        hba = container.exec_run(["cat", "/var/lib/postgresql/data/pg_hba.conf"]).output.decode()
        assert "host all all all scram-sha-256" in hba
        assert "host replication all all scram-sha-256" in hba
        for tool in ("psql", "pg_basebackup"):
            assert container.exec_run([tool, "--version"]).exit_code == 0, tool
        with pytest.raises(psycopg.OperationalError):  # negative control: a wrong password is refused
            psycopg.connect(dsn.replace(f"password={password}", "password=wrong"))
    finally:
        container.remove(force=True, v=True)


def test_redis_image_honours_the_official_contract(client: docker.DockerClient,
                                                    resolved: dict[str, ResolvedImage]) -> None:
    """PING works through the published port, protected mode is off, uid 999 in /data, args appended."""
    container = client.containers.run(
        resolved["redis"].ref, command=["--appendonly", "yes"], detach=True,
        ports={"6379/tcp": ("127.0.0.1", None)}, labels=run_labels(RUN_ID))
    try:
        r = redis.Redis(host="127.0.0.1", port=_host_port(container, "6379/tcp"), socket_timeout=3)
        try:
            assert _wait(container, r.ping) is True
            assert r.config_get("protected-mode") == {"protected-mode": "no"}
            assert r.config_get("appendonly") == {"appendonly": "yes"}
            assert r.config_get("dir") == {"dir": "/data"}
        finally:
            r.close()
        assert _pid1_uid(container) == "999"
    finally:
        container.remove(force=True, v=True)


def test_toxiproxy_image_serves_the_api(client: docker.DockerClient,
                                         resolved: dict[str, ResolvedImage]) -> None:
    """GET /version answers through the published API port, from a non-root process."""
    container = client.containers.run(
        resolved["toxiproxy"].ref, detach=True, ports={"8474/tcp": ("127.0.0.1", None)},
        labels=run_labels(RUN_ID))
    try:
        url = f"http://127.0.0.1:{_host_port(container, '8474/tcp')}/version"

        def get_version() -> requests.Response:
            response = requests.get(url, timeout=3)
            response.raise_for_status()
            return response

        response = _wait(container, get_version, timeout_s=30)
        assert response.text.strip(), "empty /version body"
        assert _pid1_uid(container) != "0"
    finally:
        container.remove(force=True, v=True)


def test_second_resolve_reuses_without_rebuilding(client: docker.DockerClient,
                                                  resolved: dict[str, ResolvedImage]) -> None:
    """Resolving again gives the same image id and never starts a build."""
    for service in ("postgres", "redis", "toxiproxy"):
        lines: list[str] = []
        again = resolve(client, SPECS[service], progress=lines.append)
        assert (again.id, again.ref, again.source) == \
            (resolved[service].id, resolved[service].ref, resolved[service].source)
        assert not any("building" in line for line in lines), lines
        assert all(line.startswith("[harness] ") for line in lines), lines


def _image_tags(client: docker.DockerClient) -> set[str]:
    return {tag for image in client.images.list(all=True) for tag in image.tags} | \
        {image.id for image in client.images.list(all=True)}


def test_unknown_image_without_recipe_is_one_line_and_leaves_nothing(client: docker.DockerClient) -> None:
    """An absent, unpullable Elasticsearch override raises one line naming the env var; no image appears."""
    before = _image_tags(client)
    with pytest.raises(ImageUnavailable) as info:
        resolve(client, SPECS["elasticsearch"], progress=lambda _line: None,
                environ={"HARNESS_ELASTICSEARCH_IMAGE": "nonexistent/thing:1.0"})
    assert str(info.value) == (
        "elasticsearch image nonexistent/thing:1.0 is not present and cannot be pulled; "
        "no local recipe exists; set HARNESS_ELASTICSEARCH_IMAGE to an image you have")
    assert _image_tags(client) == before


def test_failing_recipe_build_raises_with_build_log_evidence(client: docker.DockerClient,
                                                             tmp_path: Path) -> None:
    """A recipe whose build fails gives ImageUnavailable with the build's last lines, and no tag."""
    (tmp_path / "Dockerfile").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo recipe-step-ran && false\n")
    spec = ImageSpec(f"broken{secrets.token_hex(3)}", "nonexistent/broken:1.0",
                     "HARNESS_BROKEN_IMAGE", tmp_path, "0")
    with pytest.raises(ImageUnavailable) as info:
        resolve(client, spec, progress=lambda _line: None, environ={})
    assert "\n" not in str(info.value) and "failed" in str(info.value)
    assert "recipe-step-ran" in (info.value.evidence or "")
    assert not client.images.list(name=f"dr-harness/{spec.service}")


def test_unreachable_engine_raises_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """DOCKER_HOST pointing at a missing socket gives EngineUnavailable naming the URL, with a cause."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    started = time.monotonic()
    with pytest.raises(EngineUnavailable) as info:
        connect()
    assert time.monotonic() - started < 30
    assert str(info.value) == ("no Docker engine answers at unix:///nonexistent.sock; "
                               "run dr-harness engine (in its repository: scripts/ensure-engine.sh) "
                               "or start Docker / set DOCKER_HOST")
    assert info.value.__cause__ is not None


def test_engine_info_reports_versions(client: docker.DockerClient) -> None:
    """engine_info gives version, API version, OS and cgroup as non-empty strings."""
    info = engine_info(client)
    assert set(info) == {"version", "api_version", "os", "cgroup"}
    assert all(isinstance(v, str) and v and v != "?" for v in info.values()), info


def test_a_failed_pull_is_not_retried_at_once(client: docker.DockerClient) -> None:
    """Parallel workers ask the registry once: the second pull of a ref that just failed is skipped,
    saying why; a pull that is not memoised is tried."""
    import secrets

    from harness.stack.image_store import _failed_pull_memo, try_pull

    ref = f"dr-harness-no-such-image-{secrets.token_hex(4)}:1"
    lines: list[str] = []
    try:
        assert try_pull(client, ref, progress=lines.append, timeout_s=30) is None
        assert any(line.startswith(f"[harness] pulling {ref}") for line in lines), lines
        lines.clear()
        assert try_pull(client, ref, progress=lines.append, timeout_s=30) is None
        assert [line for line in lines if line.startswith(f"[harness] not pulling {ref}: a pull failed")], lines
        assert not any(line.startswith(f"[harness] pulling {ref}") for line in lines), lines
    finally:
        _failed_pull_memo(ref).unlink(missing_ok=True)
