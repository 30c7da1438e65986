"""Network faults and ToxiproxyAPI against a real Toxiproxy API server and a real TCP echo upstream.

The server is the project's ``python -m toxiproxy_compat`` started here on a free 127.0.0.1 port
(stopped by PID), or the server named by ``TOXIPROXY_URL`` (e.g. the official binary). Every
effect is measured by a client through a proxy; each fault's test also checks the path is
clean again after heal (the negative control).
"""

from __future__ import annotations

import errno
import itertools
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from harness.errors import FaultError
from harness.faults import (Bandwidth, Down, FaultRecord, Latency, LimitData, ResetPeer, Slicer,
                            SlowClose, Timeout)
from harness.history import History
from harness.toxiproxy import ToxiproxyAPI

REPO_ROOT = Path(__file__).resolve().parents[2]
_names = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyAPI]:
    """A Toxiproxy API: TOXIPROXY_URL if set, else toxiproxy_compat started on a free port."""
    if os.environ.get("TOXIPROXY_URL"):
        yield ToxiproxyAPI(os.environ["TOXIPROXY_URL"])
        return
    port = _free_port()
    log_path = tmp_path_factory.mktemp("toxiproxy") / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "toxiproxy_compat", "-host", "127.0.0.1",
                                    "-port", str(port)], cwd=REPO_ROOT, stdout=log,
                                   stderr=subprocess.STDOUT)
    client = ToxiproxyAPI(f"http://127.0.0.1:{port}")
    try:
        for attempt in Retrying(stop=stop_after_delay(15), wait=wait_fixed(0.1), reraise=True,
                                retry=retry_if_exception_type(FaultError)):
            with attempt:
                if process.poll() is not None:
                    pytest.fail(f"toxiproxy_compat exited with {process.returncode}: "
                                f"{log_path.read_text(errors='replace')[-2000:]}")
                client.version()
        yield client
    finally:
        process.terminate()  # by PID: it is our own child
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


@pytest.fixture(scope="module")
def echo_address() -> Iterator[str]:
    """A real TCP echo server on 127.0.0.1 (the proxies' upstream)."""
    server = _EchoServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, name="echo", daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(api: ToxiproxyAPI, echo_address: str) -> Iterator[tuple[str, tuple[str, int]]]:
    """A fresh proxy to the echo server: (its name, the address clients connect to)."""
    name = f"echo{next(_names)}"
    created = api.create_proxy(name, listen="127.0.0.1:0", upstream=echo_address)
    host, port = created.listen.rsplit(":", 1)
    yield name, (host, int(port))
    api.delete_proxy(name)


def connect(address: tuple[str, int], timeout_s: float = 5.0) -> socket.socket:
    return socket.create_connection(address, timeout=timeout_s)


def round_trip_ms(sock: socket.socket, payload: bytes = b"ping") -> float:
    """Send ``payload`` and read its echo; the time taken in milliseconds."""
    started = time.monotonic()
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {received!r}"
        received += chunk
    assert received == payload
    return (time.monotonic() - started) * 1000


def read_until_eof(sock: socket.socket) -> tuple[bytes, int]:
    """Everything the peer sends until it closes, and in how many recv() calls it came."""
    data, calls = b"", 0
    while chunk := sock.recv(65536):
        data += chunk
        calls += 1
    return data, calls


def test_client_lists_creates_and_reports_server_errors(api: ToxiproxyAPI,
                                                       proxy: tuple[str, tuple[str, int]],
                                                       echo_address: str) -> None:
    """The client reads version and proxies, and turns 404/409 answers into one-line FaultErrors."""
    name, _ = proxy
    assert api.version()
    assert api.proxies()[name].upstream == echo_address
    assert api.toxics(name) == []
    with pytest.raises(FaultError, match=r"proxy already exists \(HTTP 409\)") as caught:
        api.create_proxy(name, listen="127.0.0.1:0", upstream=echo_address)
    assert "\n" not in str(caught.value) and api.url in str(caught.value)
    with pytest.raises(FaultError, match=r"proxy not found \(HTTP 404\)"):
        api.toxics("no-such-proxy")
    with pytest.raises(FaultError, match=r"proxy not found \(HTTP 404\)"):
        api.set_enabled("no-such-proxy", False)


def test_client_updates_removes_and_resets_toxics(api: ToxiproxyAPI,
                                                  proxy: tuple[str, tuple[str, int]]) -> None:
    """A toxic can be added, patched in place, removed twice, and reset clears toxics and re-enables."""
    name, _ = proxy
    api.add_toxic(name, "slow", "latency", "downstream", 1.0, {"latency": 100, "jitter": 0})
    with pytest.raises(FaultError, match=r"toxic already exists \(HTTP 409\)"):
        api.add_toxic(name, "slow", "latency", "downstream", 1.0, {"latency": 100})
    updated = api.update_toxic(name, "slow", {"latency": 250})
    assert updated.attributes["latency"] == 250 and updated.attributes["jitter"] == 0
    assert [(t.name, t.attributes["latency"]) for t in api.toxics(name)] == [("slow", 250)]
    api.remove_toxic(name, "slow")
    api.remove_toxic(name, "slow")  # a 404 counts as removed
    with pytest.raises(FaultError, match=r"toxic not found \(HTTP 404\)"):
        api.update_toxic(name, "slow", {"latency": 1})
    api.add_toxic(name, "cut", "timeout", "upstream", 1.0, {"timeout": 0})
    api.set_enabled(name, False)
    api.reset()
    assert api.toxics(name) == [] and api.proxies()[name].enabled


def test_unreachable_api_says_so_in_one_line() -> None:
    """A closed port gives the 'does not answer; is the stack up?' FaultError, for reads and writes."""
    dead = ToxiproxyAPI(f"http://127.0.0.1:{_free_port()}")
    for call in (dead.version, dead.proxies, dead.reset, lambda: dead.set_enabled("x", True)):
        with pytest.raises(FaultError, match="does not answer; is the stack up"):
            call()


def test_latency_delays_each_round_trip(api: ToxiproxyAPI, proxy: tuple[str, tuple[str, int]]) -> None:
    """Latency 300±50 ms downstream shows as 250..350 ms round trips, and none after heal."""
    name, address = proxy
    with Latency(api, name, latency_ms=300, jitter_ms=50):
        assert [t.name for t in api.toxics(name)] == ["latency_downstream"]
        with connect(address) as sock:
            rtts = [round_trip_ms(sock) for _ in range(5)]
    assert all(240 <= rtt <= 400 for rtt in rtts), rtts
    assert api.toxics(name) == []
    with connect(address) as sock:
        after = [round_trip_ms(sock) for _ in range(5)]
    assert max(after) < 100, after


def test_latency_both_directions_adds_up(api: ToxiproxyAPI, proxy: tuple[str, tuple[str, int]]) -> None:
    """direction='both' puts one toxic on each stream, so 100 ms becomes a 200 ms round trip."""
    name, address = proxy
    with Latency(api, name, latency_ms=100, direction="both"):
        assert sorted(t.name for t in api.toxics(name)) == ["latency_downstream", "latency_upstream"]
        with connect(address) as sock:
            rtt = round_trip_ms(sock)
    assert 190 <= rtt <= 300, rtt


def test_down_refuses_connects_until_healed(api: ToxiproxyAPI, proxy: tuple[str, tuple[str, int]]) -> None:
    """A downed proxy refuses connections; after heal the same address echoes again."""
    name, address = proxy
    with Down(api, name):
        assert not api.proxies()[name].enabled
        with pytest.raises(ConnectionRefusedError):
            connect(address).close()
    with connect(address) as sock:
        assert round_trip_ms(sock) < 100


def test_timeout_zero_blackholes_data(api: ToxiproxyAPI, proxy: tuple[str, tuple[str, int]]) -> None:
    """A blackhole keeps the connection open but no reply ever arrives; after heal replies flow."""
    name, address = proxy
    with Timeout(api, name, timeout_ms=0):
        with connect(address, timeout_s=0.5) as sock:
            sock.sendall(b"anyone?")
            with pytest.raises(TimeoutError):
                sock.recv(100)
    with connect(address) as sock:
        assert round_trip_ms(sock) < 100


def test_reset_peer_resets_new_connections(api: ToxiproxyAPI, proxy: tuple[str, tuple[str, int]]) -> None:
    """With reset_peer, a new connection's first reply is replaced by an RST (ECONNRESET)."""
    name, address = proxy
    with ResetPeer(api, name, timeout_ms=0):
        with connect(address) as sock:
            sock.sendall(b"hello")
            with pytest.raises(ConnectionResetError) as caught:
                sock.recv(100)
    assert caught.value.errno == errno.ECONNRESET
    with connect(address) as sock:
        assert round_trip_ms(sock) < 100


def test_limit_data_closes_after_the_byte_budget(api: ToxiproxyAPI,
                                                 proxy: tuple[str, tuple[str, int]]) -> None:
    """limit_data 10 B downstream delivers exactly 10 of 20 echoed bytes, then closes."""
    name, address = proxy
    with LimitData(api, name, limit_bytes=10):
        with connect(address) as sock:
            sock.sendall(b"0123456789abcdefghij")
            received, _ = read_until_eof(sock)
    assert received == b"0123456789"
    with connect(address) as sock:
        assert round_trip_ms(sock, b"0123456789abcdefghij") < 100


def test_bandwidth_paces_a_transfer(api: ToxiproxyAPI, proxy: tuple[str, tuple[str, int]]) -> None:
    """At 10 KB/s a 5000-byte echo takes about half a second; after heal it is quick."""
    name, address = proxy
    payload = bytes(range(250)) * 20
    with Bandwidth(api, name, rate_kbps=10):
        with connect(address) as sock:
            slow_ms = round_trip_ms(sock, payload)
    assert 350 <= slow_ms <= 1500, slow_ms
    with connect(address) as sock:
        fast_ms = round_trip_ms(sock, payload)
    assert fast_ms < 200, fast_ms


def read_exactly(sock: socket.socket, size: int) -> tuple[bytes, int]:
    """Read ``size`` bytes; also return in how many recv() calls they came."""
    data, calls = b"", 0
    while len(data) < size:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
        calls += 1
    return data, calls


def test_slicer_cuts_replies_into_pieces(api: ToxiproxyAPI, proxy: tuple[str, tuple[str, int]]) -> None:
    """Slicing 100 bytes into ~10-byte pieces 20 ms apart makes the client read many small chunks."""
    name, address = proxy
    with Slicer(api, name, average_size_bytes=10, size_variation_bytes=2, delay_us=20_000):
        with connect(address) as sock:
            started = time.monotonic()
            sock.sendall(b"x" * 100)
            received, calls = read_exactly(sock, 100)
            sliced_s = time.monotonic() - started
    assert received == b"x" * 100
    assert calls >= 5 and sliced_s >= 0.1, (calls, sliced_s)
    with connect(address) as sock:
        sock.sendall(b"y" * 100)
        received, calls = read_exactly(sock, 100)
    assert received == b"y" * 100 and calls <= 2, calls


def test_slow_close_delays_the_close(api: ToxiproxyAPI, proxy: tuple[str, tuple[str, int]]) -> None:
    """slow_close 600 ms: after the client's FIN the client sees EOF only ~0.6 s later."""
    name, address = proxy
    with SlowClose(api, name, delay_ms=600):
        with connect(address) as sock:
            round_trip_ms(sock)
            started = time.monotonic()
            sock.shutdown(socket.SHUT_WR)
            read_until_eof(sock)
            waited_s = time.monotonic() - started
    assert 0.5 <= waited_s <= 2.0, waited_s
    with connect(address) as sock:
        round_trip_ms(sock)
        started = time.monotonic()
        sock.shutdown(socket.SHUT_WR)
        read_until_eof(sock)
    assert time.monotonic() - started < 0.3


def test_fault_records_history_and_heals_after_failed_inject(api: ToxiproxyAPI,
                                                             proxy: tuple[str, tuple[str, int]]) -> None:
    """Inject/heal are nemesis ops with records; an inject on a missing proxy fails, is recorded, and heals."""
    name, _ = proxy
    history = History()
    records: list[FaultRecord] = []
    with Latency(api, name, 50, direction="both", history=history, records=records):
        pass
    assert [(op.f, op.type) for op in history.ops] == [("inject", "invoke"), ("inject", "ok"),
                                                      ("probe", "invoke"), ("probe", "ok"),
                                                      ("heal", "invoke"), ("heal", "ok")]
    # no client path was given: the evidence is Toxiproxy's own read-back, and it says so
    assert records[0].in_effect and records[0].evidence == (
        f"Toxiproxy lists toxic(s) latency_downstream, latency_upstream on proxy {name} "
        "(no client path to probe)")
    assert records[0].kind == "latency" and records[0].target == name
    assert records[0].injected_at < records[0].healed_at

    missing = Latency(api, "no-such-proxy", 50, history=history, records=records)
    with pytest.raises(FaultError, match="proxy not found"):
        with missing:
            pytest.fail("the body must not run when injection failed")
    assert [(op.f, op.type) for op in history.ops][6:] == [("inject", "invoke"), ("inject", "fail"),
                                                          ("heal", "invoke"), ("heal", "ok")]
    assert "proxy not found" in (history.ops[7].error or "")
    assert records[1].in_effect is None  # a failed injection is never probed
    assert not missing.injected and records[1].healed_at is not None
