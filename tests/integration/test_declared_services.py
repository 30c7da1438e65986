"""Declared services on the real engine: a service of one's own in each of its three forms (a
Dockerfile directory, an image, a local command) reaches its dependency through Toxiproxy, every
fault helper acts on it, and each declaration mistake is one line that leaves nothing running."""

from __future__ import annotations

import http.client
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from harness.errors import ConfigError, FaultError, ServiceNotReady
from harness.history import History
from harness.stack.builds import resolve_service_image
from harness.stack.cleanup import leftovers, remove_run
from harness.stack.core import Stack, StackOptions
from harness.stack.declare import Ready, ServiceSpec
from harness.stack.images import SPECS, resolve
from harness.stack.labels import new_run_id

pytestmark = pytest.mark.docker

ECHO = Path(__file__).resolve().parents[1] / "fixtures" / "echo_service"
OBJECTIVES = Path(__file__).resolve().parents[2] / "objectives.toml"
REDIS_VIA_PROXY = {"DEPENDENCY_ADDR": "{redis.host}:{redis.port}", "REDIS_URL": "{redis.url}"}


def built_echo(**kw) -> ServiceSpec:
    return ServiceSpec("echo", 8080, **({"build": ECHO, "ready": Ready.http("/health"),
                                         "environment": REDIS_VIA_PROXY} | kw))


def local_echo(name: str = "local", **kw) -> ServiceSpec:
    env = {"PORT": "{port}", "HOST": "127.0.0.1", **REDIS_VIA_PROXY}
    return ServiceSpec(name, 8080, run=[sys.executable, str(ECHO / "echo.py")], environment=env,
                       ready=Ready.http("/health"), **kw)


def get(url: str, path: str, timeout_s: float = 3.0) -> tuple[int, str]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout_s)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def eventually_healthy(url: str, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while True:
        try:
            if get(url, "/health", 1.0)[0] == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{url}/health did not answer within {within_s} s"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def base_images(client: docker.DockerClient) -> dict:
    return {name: resolve(client, SPECS[name], progress=lambda line: None)
            for name in ("postgres", "redis", "toxiproxy")}


@pytest.fixture(scope="module")
def three_forms(client: docker.DockerClient, base_images: dict) -> Iterator[Stack]:
    """One stack holding the echo service built from its directory, run from the image that build
    made, and run as a local command; each depends on Redis through placeholders."""
    run_id = new_run_id()
    tag = resolve_service_image(client, built_echo(), run_id, progress=lambda line: None).ref
    image_form = ServiceSpec("echoimg", 8080, image=tag, ready=Ready.http("/health"),
                             environment=REDIS_VIA_PROXY, restart="on-failure")
    options = StackOptions(services=(built_echo(), image_form, local_echo()))
    stack = Stack(client, run_id, base_images, options, ready_timeout_s=120, progress=lambda line: None)
    stack.start()
    try:
        yield stack
    finally:
        stack.close()
        assert leftovers(client, run_id) == []
        remove_run(client, run_id)


def test_each_form_reaches_its_dependency_through_the_proxy(three_forms: Stack) -> None:
    """All three forms answer /health and reach Redis at its proxy (container: by network alias)."""
    proxy_port = three_forms.redis.proxy_port
    expected = {"echo": f"proxy-redis:{proxy_port}", "echoimg": f"proxy-redis:{proxy_port}",
                "local": f"127.0.0.1:{three_forms.redis.port}"}
    for name, addr in expected.items():
        service = three_forms[name]
        status, body = get(service.url, "/dependency")
        assert status == 200, (name, body)
        found = json.loads(body)
        assert found["addr"] == addr and found["reply"].startswith("-NOAUTH"), (name, found)
        assert get(service.url, "/env/REDIS_URL")[1].endswith(f":{addr.split(':')[1]}/0")


def test_a_dependency_fault_reaches_every_form(three_forms: Stack) -> None:
    """With Redis's proxy down no form reaches Redis; after the heal every form does again."""
    with three_forms.redis.down() as fault:
        for name in ("echo", "echoimg", "local"):
            assert get(three_forms[name].url, "/dependency")[0] == 503, name
    assert fault.record.in_effect
    for name in ("echo", "echoimg", "local"):
        assert get(three_forms[name].url, "/dependency")[0] == 200, name


def test_network_faults_on_the_service_show_with_an_http_hello(three_forms: Stack) -> None:
    """down() and latency() on the service's own proxy are shown in effect by a GET /health probe."""
    history = History()
    three_forms.bind(history, [])
    with three_forms.echo.down() as down:
        with pytest.raises(OSError):
            get(three_forms.echo.url, "/health", 1.0)
    with three_forms.echo.latency(300) as slow:
        began = time.monotonic()
        assert get(three_forms.echo.url, "/health")[0] == 200
        assert time.monotonic() - began >= 0.25
    assert down.record.in_effect and "probe through 127.0.0.1" in down.record.evidence
    assert slow.record.in_effect, slow.record.evidence
    three_forms.bind(None, None)


def test_container_faults_and_restart_policy_on_the_service(three_forms: Stack) -> None:
    """kill() heals by starting it again; a crash inside the container is undone by on-failure."""
    with three_forms.echo.kill() as killed:
        pass
    assert killed.record.in_effect
    eventually_healthy(three_forms.echo.url, 20)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, OSError)):
        get(three_forms.echoimg.url, "/crash")
    eventually_healthy(three_forms.echoimg.url, 20)
    three_forms.echoimg.container.reload()
    assert three_forms.echoimg.container.attrs["RestartCount"] >= 1


def test_a_local_command_has_no_proxy_and_keeps_its_output(three_forms: Stack) -> None:
    """Network faults on a local command are one line saying what to fault instead; output is kept."""
    with pytest.raises(FaultError) as caught:
        three_forms.local.down()
    assert "\n" not in str(caught.value) and "runs as a local command" in str(caught.value)
    process = three_forms.local.process
    assert process is not None and process.alive()
    assert "echo: listening on 127.0.0.1" in process.log_path.read_text()


def test_closing_stops_the_local_command_by_its_pid(client: docker.DockerClient, base_images: dict) -> None:
    """After close() the local command's pid is gone and its output file remains."""
    run_id = new_run_id()
    stack = Stack(client, run_id, base_images, StackOptions(services=(local_echo(),)),
                  ready_timeout_s=60, progress=lambda line: None).start()
    process = stack.local.process
    stack.close()
    assert not process.alive()
    with pytest.raises(ProcessLookupError):
        os.kill(process.pid, 0)
    assert process.log_path.is_file()
    assert leftovers(client, run_id) == []


# -- declaration mistakes: one line naming the service and the fix, nothing left running ------

def start_expecting(client: docker.DockerClient, base_images: dict, exc: type, *services: ServiceSpec,
                    timeout_s: float = 60) -> str:
    run_id = new_run_id()
    stack = Stack(client, run_id, base_images, StackOptions(services=services),
                  ready_timeout_s=timeout_s, progress=lambda line: None)
    try:
        with pytest.raises(exc) as caught:
            stack.start()
        assert leftovers(client, run_id) == [], "a failed start left objects behind"
    finally:
        stack.close()
        remove_run(client, run_id)
    text = str(caught.value)
    assert "\n" not in text
    return text


def test_unknown_placeholder_is_one_line(client: docker.DockerClient, base_images: dict) -> None:
    """A misspelt placeholder names the service, the variable and the fix; nothing starts."""
    text = start_expecting(client, base_images, ConfigError,
                           built_echo(environment={"DATABASE_URL": "{postgress.url}"}))
    assert text.startswith("service 'echo': environment DATABASE_URL refers to {postgress.url}")
    assert "fix the service name" in text


def test_unknown_dependency_is_one_line(client: docker.DockerClient, base_images: dict) -> None:
    """depends_on naming no declared service is one line naming both; nothing starts."""
    text = start_expecting(client, base_images, ConfigError, built_echo(depends_on=("elastic",)))
    assert text.startswith("service 'echo' depends on 'elastic', which the stack does not declare")


def test_a_port_that_never_answers_is_one_line(client: docker.DockerClient, base_images: dict) -> None:
    """A container declared on a port it does not listen on: not ready, named, with the fix."""
    text = start_expecting(client, base_images, ServiceNotReady,
                           ServiceSpec("echo", 9999, build=ECHO, ready=Ready.http("/health"),
                                       ready_timeout_s=5.0))
    assert text.startswith("echo was not ready after 5 s (HTTP GET /health: ")
    assert "listen on port 9999 on all interfaces" in text


def test_a_local_command_that_never_listens_is_one_line(client: docker.DockerClient,
                                                        base_images: dict) -> None:
    """A local command that never opens its port: not ready, named, and its process is gone."""
    silent = ServiceSpec("idle", 8080, run=[sys.executable, "-c", "import time; time.sleep(120)", "{port}"],
                         ready=Ready.http("/health"), ready_timeout_s=3.0)
    text = start_expecting(client, base_images, ServiceNotReady, silent)
    assert text.startswith("idle was not ready after 3 s") and "the {port} it is given" in text


def test_a_dockerfile_that_fails_to_build_is_one_line(client: docker.DockerClient, base_images: dict,
                                                      tmp_path: Path) -> None:
    """A build that fails names the service and its Dockerfile; the build log is the evidence."""
    (tmp_path / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo broken-step && exit 7\n")
    broken = ServiceSpec("broken", 8080, build=tmp_path, ready=Ready.http("/health"))
    text = start_expecting(client, base_images, ConfigError, broken)
    assert text.startswith("service 'broken': building its image failed: ")
    assert f"{tmp_path}/Dockerfile" in text and "fix the Dockerfile" in text


CONFTEST = '''
import pytest
from harness import Ready, ServiceSpec

@pytest.fixture(scope="session")
def stack_services():
    return [ServiceSpec("echo", 8080, build=%r, ready=Ready.http("/health"),
                        environment={"DEPENDENCY_ADDR": "{redis.host}:{redis.port}",
                                     "DATABASE_URL": %r})]
'''
SCENARIO = '''
import urllib.request

def test_uses_the_service(stack):
    with urllib.request.urlopen(stack.echo.url + "/dependency", timeout=5) as reply:
        assert reply.status == 200
    with stack.redis.down():
        pass
'''


def test_one_fixture_in_conftest_declares_the_service(pytester: pytest.Pytester,
                                                      client: docker.DockerClient) -> None:
    """Overriding ``stack_services`` in conftest.py puts the service in the scenario's stack."""
    pytester.makeconftest(CONFTEST % (str(ECHO), "{postgres.url}"))
    pytester.makepyfile(test_scenario=SCENARIO)
    result = pytester.runpytest_subprocess(f"--objectives={OBJECTIVES}",
                                           f"--reports-dir={pytester.path / 'reports'}", "-p",
                                           "no:cacheprovider", timeout=600)
    result.assert_outcomes(passed=1)


PLAIN = '''
def test_plain_stack(stack):
    assert not hasattr(stack, "echo")
'''


def test_folders_that_declare_different_services_each_get_theirs(pytester: pytest.Pytester,
                                                                 client: docker.DockerClient) -> None:
    """One session over tests/ (no declaration) then scenarios/ (declares the service): the
    session's stack follows each folder's ``stack_services`` (seen in make test: the scenarios
    ran against the stack built first, without their service)."""
    first = pytester.mkpydir("a_tests")
    (first / "test_plain.py").write_text(PLAIN)
    second = pytester.mkpydir("b_scenarios")
    (second / "conftest.py").write_text(CONFTEST % (str(ECHO), "{postgres.url}"))
    (second / "test_scenario.py").write_text(SCENARIO)
    result = pytester.runpytest_subprocess("a_tests", "b_scenarios", f"--objectives={OBJECTIVES}",
                                           f"--reports-dir={pytester.path / 'reports'}", "-p",
                                           "no:cacheprovider", "-s", timeout=600)
    result.assert_outcomes(passed=2)
    assert any("declared services differ from the running stack's (here: echo); rebuilding" in line
               for line in result.outlines), "\n".join(result.outlines)


def test_a_mistake_in_conftest_is_one_line(pytester: pytest.Pytester, client: docker.DockerClient) -> None:
    """A misspelt placeholder in conftest.py fails the scenario with one line, nothing running."""
    pytester.makeconftest(CONFTEST % (str(ECHO), "{postgres.uri}"))
    pytester.makepyfile(test_scenario=SCENARIO)
    result = pytester.runpytest_subprocess(f"--objectives={OBJECTIVES}",
                                           f"--reports-dir={pytester.path / 'reports'}", "-p",
                                           "no:cacheprovider", timeout=600)
    result.assert_outcomes(errors=1)
    lines = {line for line in result.outlines if "refers to {postgres.uri}" in line}
    assert len(lines) == 1, "\n".join(result.outlines)
    assert "service 'echo': environment DATABASE_URL" in lines.pop()
    assert not [line for line in result.outlines if "Traceback" in line]
    run_ids = [line.split("harness: run ")[1].split(",")[0] for line in result.outlines
               if "harness: run " in line]
    assert run_ids and leftovers(client, run_ids[0]) == []
