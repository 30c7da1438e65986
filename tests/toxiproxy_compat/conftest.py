"""Fixtures for the black-box Toxiproxy v2 conformance suite (spec: ../shared/toxiproxy-api.md).

The server under test is named by ``TOXIPROXY_URL`` (for example the official binary at
http://127.0.0.1:8474; set ``TOXIPROXY_OFFICIAL=1`` when it is the official one). Without it, a
session fixture starts ``python -m toxiproxy_compat`` on a free 127.0.0.1 port, waits for /version,
and at the end stops it by PID with SIGTERM and asserts that it exited 0.

Markers: ``compat_only`` (the compat server's deliberate divergences, skipped on the official
server) and ``official_only`` (the official behaviour those divergences replace).
Set ``TOXIPROXY_FAILURES_FILE=PATH`` to have the failing test ids written there after the run.
Set ``TOXIPROXY_COMPAT_PYTHON=/usr/bin/python3`` to run the started compat server with that interpreter
(default: the one running pytest), e.g. to check Debian's Python 3.11.2 as well.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from compat_http import ApiClient
from compat_net import Address, TcpUpstream, UpstreamKind, parse_addr
from compat_server import (SERVER_PYTHON_ENV, ServerUnderTest, start_compat_server, stop_server,
                           wait_for_version)

OFFICIAL = os.environ.get("TOXIPROXY_OFFICIAL") == "1"


def _check_server_python() -> None:
    """Stop with one line when TOXIPROXY_COMPAT_PYTHON names no executable."""
    python = os.environ.get(SERVER_PYTHON_ENV)
    if python and not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise pytest.UsageError(f"{SERVER_PYTHON_ENV}={python!r} is not an executable file; "
                                "name a Python 3.11+ interpreter or unset it")


def pytest_configure(config: pytest.Config) -> None:
    _check_server_python()
    config.addinivalue_line("markers", "compat_only: a deliberate divergence of toxiproxy_compat; "
                                       "skipped when TOXIPROXY_OFFICIAL=1")
    config.addinivalue_line("markers", "official_only: official Toxiproxy behaviour that "
                                       "toxiproxy_compat deliberately replaces")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if OFFICIAL and item.get_closest_marker("compat_only"):
            item.add_marker(pytest.mark.skip(reason="compat-only divergence; the server is the official one"))
        if not OFFICIAL and item.get_closest_marker("official_only"):
            item.add_marker(pytest.mark.skip(reason="official-only behaviour (a crash input); "
                                                    "set TOXIPROXY_OFFICIAL=1 to run it"))


# -- the server under test ----------------------------------------------------------------------
@pytest.fixture(scope="session")
def toxiproxy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerUnderTest]:
    """The server under test: TOXIPROXY_URL, or a ``python -m toxiproxy_compat`` started here."""
    url = os.environ.get("TOXIPROXY_URL")
    if url:
        server = ServerUnderTest(ApiClient.from_url(url), OFFICIAL, None, None)
        wait_for_version(server)
        yield server
        return
    server = start_compat_server(tmp_path_factory.mktemp("toxiproxy") / "server.log")
    try:
        yield server
    finally:
        returncode = stop_server(server)
    assert returncode == 0, (f"server exit status after SIGTERM was {returncode}, expected 0 (§1); "
                             f"log tail:\n{server.log_tail()}")


@pytest.fixture(autouse=True)
def clean_server(toxiproxy_server: ServerUnderTest) -> Iterator[None]:
    """After each test: check the server is alive, POST /reset, then delete every proxy."""
    yield
    toxiproxy_server.assert_alive()
    api = toxiproxy_server.api
    api.post("/reset")
    listing = api.get("/proxies")
    assert listing.status == 200, f"GET /proxies during cleanup: {listing}"
    for name in listing.json():
        resp = api.delete(f"/proxies/{quote(name, safe='')}")
        assert resp.status == 204, f"DELETE proxy {name!r} during cleanup: {resp}"


@pytest.fixture
def isolated_api(toxiproxy_server: ServerUnderTest, tmp_path: Path) -> Iterator[ApiClient]:
    """For inputs that may poison server state: a throwaway compat server when the suite starts its own,
    else the shared server named by TOXIPROXY_URL."""
    if toxiproxy_server.process is None:
        yield toxiproxy_server.api
        return
    server = start_compat_server(tmp_path / "isolated.log")
    try:
        yield server.api
    finally:
        returncode = stop_server(server)
    assert returncode == 0, f"isolated server exit status after SIGTERM was {returncode}, expected 0 (§1)"


@pytest.fixture
def api(toxiproxy_server: ServerUnderTest) -> ApiClient:
    """A raw HTTP client for the server under test."""
    return toxiproxy_server.api


# -- real TCP upstreams -------------------------------------------------------------------------
@pytest.fixture
def echo_upstream() -> Iterator[TcpUpstream]:
    """An echo server on 127.0.0.1, stopped at teardown."""
    upstream = TcpUpstream(UpstreamKind.ECHO)
    yield upstream
    upstream.stop()


@pytest.fixture
def sink_upstream() -> Iterator[TcpUpstream]:
    """A server that reads and counts bytes, stopped at teardown."""
    upstream = TcpUpstream(UpstreamKind.SINK)
    yield upstream
    upstream.stop()


@pytest.fixture
def source_upstream() -> Iterator[Callable[[int], TcpUpstream]]:
    """A factory of servers that send N known bytes to each client and then close; all stopped at teardown."""
    made: list[TcpUpstream] = []

    def make(total_bytes: int) -> TcpUpstream:
        upstream = TcpUpstream(UpstreamKind.SOURCE, source_bytes=total_bytes)
        made.append(upstream)
        return upstream

    yield make
    for upstream in made:
        upstream.stop()


@dataclass(frozen=True)
class ProxyHandle:
    """A proxy created for a test: its name and the 127.0.0.1 address clients dial."""

    name: str
    addr: Address


@pytest.fixture
def make_proxy(api: ApiClient) -> Callable[..., ProxyHandle]:
    """Create a proxy on 127.0.0.1:<free> in front of an upstream (deleted by ``clean_server``)."""

    def make(upstream: TcpUpstream | str, name: str = "p") -> ProxyHandle:
        target = upstream if isinstance(upstream, str) else upstream.addr_str
        created = api.create_proxy(name, target)
        return ProxyHandle(name, parse_addr(created["listen"]))

    return make


@pytest.fixture
def echo_proxy(make_proxy: Callable[..., ProxyHandle], echo_upstream: TcpUpstream) -> ProxyHandle:
    """A proxy named ``echo`` in front of a real echo upstream."""
    return make_proxy(echo_upstream, "echo")


# -- failure list for the server's author --------------------------------------------------------
_FAILURES: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed and "toxiproxy_compat/" in report.nodeid:
        crash = getattr(report.longrepr, "reprcrash", None)
        message = (crash.message if crash else str(report.longrepr)).strip().splitlines()
        first = message[0] if message else ""
        _FAILURES.append(f"{report.nodeid} [{report.when}]: {first[:240]}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get("TOXIPROXY_FAILURES_FILE")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text("\n".join(_FAILURES) + ("\n" if _FAILURES else ""))
