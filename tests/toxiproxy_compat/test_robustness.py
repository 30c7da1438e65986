"""Robustness of the server under test: many connections, peers that vanish, hostile API input (spec §4.1, §1.1).

Each test ends by checking that the API still answers and a fresh connection still echoes, so a
crash or a wedged event loop fails the test that caused it. Loops are bounded in count and time.
"""

from __future__ import annotations

import resource
import selectors
import socket
import time
from collections.abc import Iterator

import pytest

from compat_http import ApiClient, raw_exchange, status_of
from compat_net import Ending, TcpUpstream, abort, connect, read_to_end, round_trip_ms

N_CONNECTIONS = 500
BOUND_S = 30.0


@pytest.fixture
def raised_nofile() -> Iterator[None]:
    """Raise this process's RLIMIT_NOFILE soft limit for the test (two sockets per connection here)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * N_CONNECTIONS + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _assert_serving(api: ApiClient, addr) -> None:
    assert api.get("/version").status == 200, "API stopped answering"
    with connect(addr) as sock:
        round_trip_ms(sock, b"still alive")


def _wait_until(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_500_concurrent_connections_echo(api: ApiClient, echo_proxy, echo_upstream: TcpUpstream,
                                         raised_nofile: None) -> None:
    """500 connections open at once through one proxy each get their own message echoed, within a 30 s bound (§4.1)."""
    deadline = time.monotonic() + BOUND_S
    socks: list[socket.socket] = []
    sel = selectors.DefaultSelector()
    try:
        for _ in range(N_CONNECTIONS):
            socks.append(connect(echo_proxy.addr, timeout_s=10))
        messages = [f"message-{i:05d};".encode() for i in range(N_CONNECTIONS)]
        for sock, msg in zip(socks, messages):
            sock.sendall(msg)
        received = {i: bytearray() for i in range(N_CONNECTIONS)}
        for i, sock in enumerate(socks):
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ, i)
        pending = set(range(N_CONNECTIONS))
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                i = key.data
                data = key.fileobj.recv(4096)
                assert data, f"connection {i} closed after {bytes(received[i])!r}"
                received[i] += data
                if len(received[i]) >= len(messages[i]):
                    sel.unregister(key.fileobj)
                    pending.discard(i)
        assert not pending, f"{len(pending)} of {N_CONNECTIONS} echoes missing after {BOUND_S}s"
        assert all(bytes(received[i]) == messages[i] for i in range(N_CONNECTIONS))
        assert echo_upstream.max_concurrent == N_CONNECTIONS
    finally:
        sel.close()
        for sock in socks:
            sock.close()
    _assert_serving(api, echo_proxy.addr)


@pytest.mark.parametrize("toxic", [None, {"type": "latency", "attributes": {"latency": 50}},
                                   {"type": "bandwidth", "attributes": {"rate": 1000}}])
def test_client_vanishes_mid_stream(api: ApiClient, make_proxy, source_upstream, echo_proxy, toxic) -> None:
    """A client that resets mid-stream (optionally with a toxic holding data) leaves the server serving and the upstream closed (§4.1)."""
    source = source_upstream(200_000_000)
    proxy = make_proxy(source, "big")
    if toxic:
        api.add_toxic("big", toxic)
    for _ in range(3):
        sock = connect(proxy.addr)
        sock.recv(65536)
        abort(sock)
    assert _wait_until(lambda: source.open_connections == 0, 3), "upstream sockets left open after the client vanished"
    _assert_serving(api, echo_proxy.addr)


def test_upstream_vanishes_while_client_sends(api: ApiClient, make_proxy, sink_upstream: TcpUpstream,
                                              echo_proxy) -> None:
    """An upstream that resets while the client is sending makes the proxy close the client, and the server keeps serving (§4.1)."""
    proxy = make_proxy(sink_upstream, "sink")
    with connect(proxy.addr) as sock:
        sock.sendall(b"x" * 262_144)
        assert _wait_until(lambda: sink_upstream.bytes_received > 0, 3)
        sink_upstream.abort_connections()
        ending = None
        deadline = time.monotonic() + 3
        sock.settimeout(0.05)
        while ending is None and time.monotonic() < deadline:
            try:
                sock.send(b"y" * 65_536)
            except TimeoutError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                ending = Ending.RESET
                break
            try:
                if sock.recv(1) == b"":
                    ending = Ending.EOF
            except TimeoutError:
                pass
            except ConnectionResetError:
                ending = Ending.RESET
        assert ending is not None, "client connection still open 3 s after the upstream vanished"
    _assert_serving(api, echo_proxy.addr)


def test_upstream_vanishes_while_client_reads(api: ApiClient, make_proxy, source_upstream, echo_proxy) -> None:
    """An upstream that resets mid-download makes the proxy close the client connection, and the server keeps serving (§4.1)."""
    source = source_upstream(200_000_000)
    proxy = make_proxy(source, "src")
    with connect(proxy.addr) as sock:
        sock.recv(65536)
        source.abort_connections()
        data, ending = read_to_end(sock, 5)
        assert ending in (Ending.EOF, Ending.RESET)
    _assert_serving(api, echo_proxy.addr)


def test_unreachable_upstream_closes_client(api: ApiClient, make_proxy, echo_proxy) -> None:
    """A proxy whose upstream refuses closes each client at once, and the server keeps serving (§4.1)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    proxy = make_proxy(dead, "dead")
    for _ in range(5):
        with connect(proxy.addr) as sock:
            assert read_to_end(sock, 3)[1] in (Ending.EOF, Ending.RESET)
    _assert_serving(api, echo_proxy.addr)


HOSTILE_REQUESTS = [
    b"\x00\xff\xfe garbage \r\n\r\n",
    b"GET /version HTTP/1.1\r\n",                                            # headers never finished
    b"POST /proxies HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",   # body shorter than declared
    b"POST /proxies HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
    b"POST /proxies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n",
    b"GET /version HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * 200_000 + b"\r\n\r\n",
    b"GET /" + b"p" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
]


@pytest.mark.parametrize("request_bytes", HOSTILE_REQUESTS, ids=range(len(HOSTILE_REQUESTS)))
def test_api_survives_malformed_http(api: ApiClient, echo_proxy, request_bytes: bytes) -> None:
    """Malformed or truncated HTTP sent to the API port, then abandoned, never takes the server down (§1.1)."""
    with socket.create_connection((api.host, api.port), timeout=5) as sock:
        try:
            sock.sendall(request_bytes)
            sock.settimeout(0.5)
            sock.recv(65536)
        except OSError:
            pass
    _assert_serving(api, echo_proxy.addr)


@pytest.mark.parametrize("path", ["/proxies", "/populate", "/proxies/echo", "/proxies/echo/toxics",
                                  "/proxies/echo/toxics/ghost"])
def test_oversized_bodies_get_4xx(api: ApiClient, echo_proxy, path: str) -> None:
    """An 8 MiB unterminated JSON body on any body-reading route gets a 4xx, and the server keeps serving (§1.1)."""
    body = b'{"name":"' + b"a" * (8 * 1024 * 1024)
    head = (f"POST {path} HTTP/1.1\r\nHost: {api.host}:{api.port}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    status = status_of(raw_exchange(api, head + body))
    assert 400 <= status < 500, f"status {status}"
    _assert_serving(api, echo_proxy.addr)


MALFORMED_BODIES = ["", "{", "[", "nul", '{"name":', '"just a string"', "123", "[[[[[[[[[[", "\x00\x01",
                    '{"name":"a","upstream":' + "[" * 20_000 + "]" * 20_000 + "}"]


def test_malformed_json_and_unknown_routes_survive(api: ApiClient, echo_proxy) -> None:
    """Malformed JSON on every body-reading route is a 4xx, unknown routes are 404, and the server keeps serving (§1.1, §6)."""
    api.add_toxic("echo", {"name": "n", "type": "noop"})
    routes = [("POST", "/proxies"), ("POST", "/populate"), ("PATCH", "/proxies/echo"),
              ("POST", "/proxies/echo/toxics"), ("PATCH", "/proxies/echo/toxics/n")]
    for method, path in routes:
        for body in MALFORMED_BODIES:
            resp = api.request(method, path, body)
            assert 400 <= resp.status < 500, f"{method} {path} {body[:20]!r}: {resp}"
    for path in ["/", "/proxies/echo/toxics/n/x", "/admin", "/proxies//toxics", "/%ff%fe"]:
        assert api.get(path).status in (301, 404), path
    _assert_serving(api, echo_proxy.addr)


HUGE = 2**40  # ~35 years in ms; large, yet no overflow when the official server converts it to a Duration


@pytest.mark.parametrize("toxic", [
    {"type": "latency", "attributes": {"latency": HUGE, "jitter": HUGE}},
    {"type": "latency", "attributes": {"latency": -HUGE}},
    {"type": "timeout", "attributes": {"timeout": HUGE}},
    {"type": "slow_close", "attributes": {"delay": HUGE}},
    {"type": "slicer", "attributes": {"average_size": 2, "size_variation": 1, "delay": HUGE}},
    {"type": "bandwidth", "attributes": {"rate": HUGE}},
    {"type": "limit_data", "attributes": {"bytes": HUGE}},
], ids=lambda t: f"{t['type']}-{next(iter(t['attributes'].values()))}")
def test_huge_attribute_values_survive(api: ApiClient, make_proxy, echo_upstream: TcpUpstream, echo_proxy,
                                       toxic: dict) -> None:
    """A toxic with huge attribute values carries traffic without crashing, and its proxy can still be deleted (§5)."""
    proxy = make_proxy(echo_upstream, "huge")
    api.add_toxic("huge", toxic)
    with connect(proxy.addr) as sock:
        sock.sendall(b"hello")
        sock.settimeout(0.3)
        try:
            sock.recv(100)
        except TimeoutError:
            pass
    assert (resp := api.delete("/proxies/huge")).status == 204, str(resp)
    _assert_serving(api, echo_proxy.addr)
