"""Bad input on the real engine: each mistake gives one clear line, a non-zero exit and no leftovers.

Covers no engine, an image that can be neither found, pulled nor built, a port already in use and a
service that never becomes ready. Image refs that must not resolve point at a registry on
127.0.0.1:1 (nothing listens there), so no test addresses a host outside this machine.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import docker
import pytest

from harness.errors import ImageUnavailable, ServiceNotReady
from harness.stack.cleanup import leftovers, remove_run
from harness.stack.core import Stack, StackOptions
from harness.stack.images import SPECS, resolve
from harness.stack.labels import new_run_id

pytestmark = pytest.mark.docker

OBJECTIVES = Path(__file__).resolve().parents[2] / "objectives.toml"
INNER_INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
markers =
    docker: needs a Docker engine
"""
HEADER = re.compile(r"harness: run (\S+), seed \d+, objectives ")
MISSING_REF = "127.0.0.1:1/dr-harness-nothing:1.0"
RUN_TIMEOUT_S = 600.0
EXIT_BY_PYTEST_EXIT = 3   # plugin.py: pytest.exit(str(err), returncode=3) for engine and image errors

SCENARIO = """
def test_uses_the_stack(stack):
    assert stack.postgres.port
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_scenario=SCENARIO)
    return pytester


def run_scenario(pytester: pytest.Pytester) -> tuple[pytest.RunResult, str]:
    """Run the stack scenario; returns the result and the inner run's id."""
    result = pytester.runpytest_subprocess(f"--objectives={OBJECTIVES}",
                                           f"--reports-dir={pytester.path / 'reports'}",
                                           timeout=RUN_TIMEOUT_S)
    return result, run_id_of(result.outlines)


def run_id_of(lines: list[str]) -> str:
    found = [m[1] for line in lines if (m := HEADER.search(line))]
    assert len(found) == 1, "no harness header in:\n" + "\n".join(lines)
    return found[0]


def lines_with(result: pytest.RunResult, *needles: str) -> list[str]:
    return [line for line in result.outlines + result.errlines if all(n in line for n in needles)]


def test_no_engine_is_one_line_and_exit_3(inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                          client: docker.DockerClient) -> None:
    """With DOCKER_HOST at a socket nobody serves the run stops with one "no Docker engine" line."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    result, run_id = run_scenario(inner)
    try:
        assert result.ret == EXIT_BY_PYTEST_EXIT, "\n".join(result.outlines)
        found = lines_with(result, "no Docker engine")
        assert len(found) == 1, "\n".join(result.outlines)
        assert "unix:///nonexistent.sock" in found[0] and "DOCKER_HOST" in found[0]
        assert not lines_with(result, "Traceback")
        assert leftovers(client, run_id) == []
    finally:
        remove_run(client, run_id)


def test_image_override_that_cannot_be_had_stops_the_run(inner: pytest.Pytester,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         client: docker.DockerClient) -> None:
    """An image override that is neither present nor pullable stops the run with one line naming it."""
    monkeypatch.setenv("HARNESS_POSTGRES_IMAGE", MISSING_REF)
    result, run_id = run_scenario(inner)
    try:
        assert result.ret == EXIT_BY_PYTEST_EXIT, "\n".join(result.outlines)
        found = lines_with(result, MISSING_REF, "is not present and cannot be pulled")
        assert len(found) == 1, "\n".join(result.outlines)
        assert "HARNESS_POSTGRES_IMAGE" in found[0] and "postgres" in found[0]
        assert leftovers(client, run_id) == []
    finally:
        remove_run(client, run_id)


def test_override_of_a_service_with_a_recipe_is_not_built(client: docker.DockerClient) -> None:
    """An override is never replaced by the recipe build: resolve raises ImageUnavailable, one line."""
    with pytest.raises(ImageUnavailable) as caught:
        resolve(client, SPECS["postgres"], progress=lambda line: None,
                environ={"HARNESS_POSTGRES_IMAGE": MISSING_REF})
    text = str(caught.value)
    assert "\n" not in text
    assert MISSING_REF in text and "HARNESS_POSTGRES_IMAGE" in text and "unset" in text


def test_service_without_recipe_is_unavailable(client: docker.DockerClient) -> None:
    """Elasticsearch has no recipe: an image that is not present nor pullable is ImageUnavailable."""
    with pytest.raises(ImageUnavailable) as caught:
        resolve(client, SPECS["elasticsearch"], progress=lambda line: None,
                environ={"HARNESS_ELASTICSEARCH_IMAGE": MISSING_REF})
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"elasticsearch image {MISSING_REF} ")
    assert "no local recipe exists" in text and "HARNESS_ELASTICSEARCH_IMAGE" in text


def test_port_in_use_names_the_port_and_setting(inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                client: docker.DockerClient) -> None:
    """A Toxiproxy API port that is taken fails the scenario with one line naming it and its setting."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        monkeypatch.setenv("HARNESS_TOXIPROXY_API_PORT", str(port))
        result, run_id = run_scenario(inner)
    try:
        assert result.ret == pytest.ExitCode.TESTS_FAILED, "\n".join(result.outlines)
        result.assert_outcomes(errors=1)
        found = lines_with(result, f"127.0.0.1:{port}", "HARNESS_TOXIPROXY_API_PORT")
        assert len(set(found)) == 1, "\n".join(result.outlines)
        assert found[0].startswith(f"port 127.0.0.1:{port} for the Toxiproxy API is already in use")
        assert not lines_with(result, "Traceback")
        assert leftovers(client, run_id) == []
    finally:
        remove_run(client, run_id)


def test_port_in_use_line_is_printed_once(inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                          client: docker.DockerClient) -> None:
    """The port-in-use line appears exactly once in the run's output."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        monkeypatch.setenv("HARNESS_TOXIPROXY_API_PORT", str(port))
        result, run_id = run_scenario(inner)
    remove_run(client, run_id)
    assert len(lines_with(result, f"127.0.0.1:{port}", "HARNESS_TOXIPROXY_API_PORT")) == 1


def test_service_that_exits_is_not_ready_with_its_logs(client: docker.DockerClient) -> None:
    """PostgreSQL refusing its arguments gives ServiceNotReady: one line with its name and last logs."""
    images = {name: resolve(client, SPECS[name], progress=lambda line: None)
              for name in ("postgres", "redis", "toxiproxy")}
    run_id = new_run_id()
    stack = Stack(client, run_id, images, StackOptions(postgres_args=("-c", "no_such_setting=1")),
                  ready_timeout_s=45.0, progress=lambda line: None)
    try:
        with pytest.raises(ServiceNotReady) as caught:
            stack.start()
        text = str(caught.value)
        assert "\n" not in text
        assert text.startswith("postgres ")
        assert "last log lines:" in text and "no_such_setting" in text
        assert caught.value.evidence and "no_such_setting" in caught.value.evidence
        assert leftovers(client, run_id) == []
    finally:
        stack.close()
        remove_run(client, run_id)


def test_service_that_exits_at_once_is_not_ready(client: docker.DockerClient) -> None:
    """Redis refusing its arguments (it exits at once) also gives ServiceNotReady, not a raw error."""
    images = {name: resolve(client, SPECS[name], progress=lambda line: None)
              for name in ("postgres", "redis", "toxiproxy")}
    run_id = new_run_id()
    stack = Stack(client, run_id, images, StackOptions(redis_args=("--no-such-option", "1")),
                  ready_timeout_s=45.0, progress=lambda line: None)
    try:
        with pytest.raises(ServiceNotReady) as caught:
            try:
                stack.start()
            finally:
                assert leftovers(client, run_id) == []
        text = str(caught.value)
        assert "\n" not in text and text.startswith("redis ") and "no-such-option" in text
    finally:
        stack.close()
        remove_run(client, run_id)


def test_service_that_never_answers_is_not_ready_in_time(client: docker.DockerClient) -> None:
    """A service slower than ready_timeout_s gives ServiceNotReady naming it and the limit; nothing left."""
    images = {name: resolve(client, SPECS[name], progress=lambda line: None)
              for name in ("postgres", "redis", "toxiproxy")}
    run_id = new_run_id()
    # PostgreSQL's initdb alone takes longer than this limit, so the probe cannot pass in time.
    stack = Stack(client, run_id, images, StackOptions(), ready_timeout_s=0.5, progress=lambda line: None)
    try:
        with pytest.raises(ServiceNotReady) as caught:
            stack.start()
        text = str(caught.value)
        assert "\n" not in text
        assert re.match(r"^(postgres|redis|toxiproxy) was not ready after 0.5 s ", text), text
        assert "last log lines:" in text and "HARNESS_READY_TIMEOUT_S" in text
        assert leftovers(client, run_id) == []
    finally:
        stack.close()
        remove_run(client, run_id)
