"""The compat server as a process (spec §1): -version, -config, SIGTERM with live connections.

These start their own ``python -m toxiproxy_compat`` processes, so they are ``compat_only``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from compat_net import Ending, TcpUpstream, connect, parse_addr, read_to_end, round_trip_ms
from compat_server import REPO_ROOT, start_compat_server, stop_server

pytestmark = pytest.mark.compat_only


def test_version_flag_prints_and_exits() -> None:
    """`-version` prints `toxiproxy-server version 2.12.0` and exits 0 (§1)."""
    done = subprocess.run([sys.executable, "-m", "toxiproxy_compat", "-version"], cwd=REPO_ROOT,
                          capture_output=True, timeout=20, check=False)
    assert (done.returncode, done.stdout.decode().strip()) == (0, "toxiproxy-server version 2.12.0")


def test_config_file_populates_at_startup(tmp_path: Path, echo_upstream: TcpUpstream) -> None:
    """`-config FILE` creates the proxies of a /populate-style array at startup (§1)."""
    config = tmp_path / "proxies.json"
    config.write_text(json.dumps([{"name": "cfg", "listen": "127.0.0.1:0", "upstream": echo_upstream.addr_str}]))
    server = start_compat_server(tmp_path / "server.log", ("-config", str(config)))
    try:
        proxies = server.api.get("/proxies").json()
        assert list(proxies) == ["cfg"]
        with connect(parse_addr(proxies["cfg"]["listen"])) as sock:
            round_trip_ms(sock)
    finally:
        assert stop_server(server) == 0


def test_unreadable_config_is_only_logged(tmp_path: Path) -> None:
    """A missing or invalid -config file is logged, and the server still starts empty (§1)."""
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for path in (tmp_path / "missing.json", bad):
        server = start_compat_server(tmp_path / f"{path.stem}.log", ("-config", str(path)))
        try:
            assert server.api.get("/proxies").text == "{}"
        finally:
            assert stop_server(server) == 0


def test_sigterm_with_live_connection_exits_0(tmp_path: Path, echo_upstream: TcpUpstream) -> None:
    """SIGTERM with a proxied connection open closes that connection and exits 0 (§1)."""
    server = start_compat_server(tmp_path / "server.log")
    try:
        created = server.api.create_proxy("live", echo_upstream.addr_str)
        with connect(parse_addr(created["listen"])) as sock:
            round_trip_ms(sock)
            assert stop_server(server) == 0
            assert read_to_end(sock, 3)[1] in (Ending.EOF, Ending.RESET)
    finally:
        stop_server(server)
