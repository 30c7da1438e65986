"""Conformance of the proxy routes (spec §2.1, §2.3, §3.1-3.5, §6), over raw HTTP and real sockets.

Bodies are compared as raw strings, so key order, spacing and trailing newlines are checked too.
"""

from __future__ import annotations

import re
import socket

import pytest

from compat_http import ApiClient, compact, expect_error, expect_json, raw_exchange, status_of
from compat_net import Ending, TcpUpstream, UpstreamKind, connect, parse_addr, read_to_end, refuses, round_trip_ms

UP = "127.0.0.1:9"  # never dialled: no client connects through proxies that use it


def _busy_listener() -> socket.socket:
    sock = socket.create_server(("127.0.0.1", 0))
    return sock


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- proxy shape and index (§2.1, §3.1, §3.3) ---------------------------------------------------
def test_proxy_json_exact(api: ApiClient) -> None:
    """A created proxy is 201 application/json with keys name, listen, upstream, enabled, Logger, toxics and no newline (§2.1)."""
    port = _free_port()
    resp = api.post("/proxies", {"name": "echo", "listen": f"127.0.0.1:{port}", "upstream": "127.0.0.1:18480"})
    expect_json(resp, 201)
    expected = (f'{{"name":"echo","listen":"127.0.0.1:{port}","upstream":"127.0.0.1:18480",'
                f'"enabled":true,"Logger":{{}},"toxics":[]}}')
    assert resp.text == expected
    shown = api.get("/proxies/echo")
    expect_json(shown, 200)
    assert shown.text == expected


def test_empty_index_is_empty_object(api: ApiClient) -> None:
    """GET /proxies with no proxies is 200 `{}` (§3.1)."""
    resp = api.get("/proxies")
    expect_json(resp, 200)
    assert resp.text == "{}"


def test_index_keys_sorted(api: ApiClient) -> None:
    """GET /proxies maps names to proxies with the keys sorted (§3.1)."""
    for name in ("b", "c", "a"):
        api.create_proxy(name, UP, enabled=False)
    parts = [f'"{n}":' + api.get(f"/proxies/{n}").text for n in ("a", "b", "c")]
    assert api.get("/proxies").text == "{" + ",".join(parts) + "}"


def test_show_unknown_proxy_404(api: ApiClient) -> None:
    """GET of an unknown proxy is the 404 `proxy not found` error (§3.3, §6)."""
    expect_error(api.get("/proxies/ghost"), 404, "proxy not found")


# -- create (§3.2) ------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "status", "message"), [
    ("", 400, "bad request body: EOF"),
    ("   ", 400, "bad request body: EOF"),
    ('{"name":"x"', 400, "bad request body: unexpected EOF"),
    ("{x}", 400, "bad request body: invalid character 'x' looking for beginning of object key string"),
    ('{"name":5,"upstream":"127.0.0.1:9"}', 400,
     "bad request body: json: cannot unmarshal number into Go struct field Proxy.name of type string"),
    ("[1]", 400, "bad request body: json: cannot unmarshal array into Go value of type toxiproxy.Proxy"),
    ('{"upstream":"127.0.0.1:9"}', 400, "missing required field: name"),
    ("{}", 400, "missing required field: name"),
    ('{"name":"","upstream":""}', 400, "missing required field: name"),
    ('{"name":"x"}', 400, "missing required field: upstream"),
])
def test_create_rejects(api: ApiClient, body: str, status: int, message: str) -> None:
    """Bad create bodies get the exact error, checked in the order decode, name, upstream (§3.2)."""
    expect_error(api.post("/proxies", body), status, message)
    assert api.get("/proxies").text == "{}"


def test_create_duplicate_409_before_listen(api: ApiClient) -> None:
    """A duplicate name is 409 even when its listen address is taken, since the name is checked first (§3.2)."""
    first = api.create_proxy("dup", UP)
    resp = api.post("/proxies", {"name": "dup", "listen": first["listen"], "upstream": UP})
    expect_error(resp, 409, "proxy already exists")


def test_create_listen_in_use_500(api: ApiClient) -> None:
    """A listen address in use gives 500 with Go's raw bind error, and the proxy is not added (§3.2, §6)."""
    with _busy_listener() as busy:
        port = busy.getsockname()[1]
        resp = api.post("/proxies", {"name": "busy", "listen": f"127.0.0.1:{port}", "upstream": UP})
        expect_error(resp, 500, f"listen tcp 127.0.0.1:{port}: bind: address already in use")
    expect_error(api.get("/proxies/busy"), 404, "proxy not found")


def test_create_unparsable_listen_500(api: ApiClient) -> None:
    """An unparsable listen on create gives 500 `listen tcp: address nonsense: missing port in address` (§3.2, §6)."""
    resp = api.post("/proxies", {"name": "bad", "listen": "nonsense", "upstream": UP})
    expect_error(resp, 500, "listen tcp: address nonsense: missing port in address")
    assert api.get("/proxies").text == "{}"


def test_create_disabled_does_not_listen(api: ApiClient) -> None:
    """A proxy created disabled refuses connects and keeps its listen string until started (§2.1, §3.2)."""
    port = _free_port()
    created = api.create_proxy("off", UP, listen=f"127.0.0.1:{port}", enabled=False)
    assert (created["enabled"], created["listen"]) == (False, f"127.0.0.1:{port}")
    assert refuses(("127.0.0.1", port))
    lazy = api.create_proxy("lazy", UP, listen="localhost:0", enabled=False)
    assert lazy["listen"] == "localhost:0"
    started = api.set_enabled("lazy", True)
    assert re.fullmatch(r"127\.0\.0\.1:[1-9]\d*", started["listen"]), started["listen"]


def test_listen_reports_bound_address(api: ApiClient, echo_upstream: TcpUpstream) -> None:
    """`localhost:0` becomes the bound `127.0.0.1:N`, and that address proxies traffic (§2.1)."""
    created = api.create_proxy("bound", echo_upstream.addr_str, listen="localhost:0")
    assert re.fullmatch(r"127\.0\.0\.1:[1-9]\d*", created["listen"]), created["listen"]
    with connect(parse_addr(created["listen"])) as sock:
        round_trip_ms(sock)


def test_listen_omitted_binds_all_interfaces(api: ApiClient) -> None:
    """A proxy created without listen binds all interfaces on a random port, shown as `[::]:N` (§0, §2.1)."""
    resp = api.post("/proxies", {"name": "any", "upstream": UP})
    assert resp.status == 201, str(resp)
    listen = resp.json()["listen"]
    assert re.fullmatch(r"\[::\]:[1-9]\d*", listen), listen
    assert api.delete("/proxies/any").status == 204


# -- update (§3.4) ------------------------------------------------------------------------------
def test_update_unknown_proxy_404_before_body(api: ApiClient) -> None:
    """Updating an unknown proxy is 404 even with a bad body, because the proxy is looked up first (§3.4)."""
    expect_error(api.patch("/proxies/ghost", "{bad"), 404, "proxy not found")
    expect_error(api.post("/proxies/ghost", ""), 404, "proxy not found")


@pytest.mark.parametrize("method", ["PATCH", "POST"])
def test_update_empty_body_400(api: ApiClient, method: str) -> None:
    """An empty update body is 400 `bad request body: EOF` (§3.4)."""
    api.create_proxy("u", UP, enabled=False)
    expect_error(api.request(method, "/proxies/u", b""), 400, "bad request body: EOF")


@pytest.mark.parametrize("method", ["PATCH", "POST"])
def test_update_keeps_omitted_fields_and_ignores_name(api: ApiClient, method: str) -> None:
    """An update keeps omitted fields and silently ignores `name`, answering 200 with the proxy (deprecated POST too) (§3.4)."""
    created = api.create_proxy("u", UP)
    resp = api.request(method, "/proxies/u", {"name": "renamed", "upstream": "127.0.0.1:10"})
    expect_json(resp, 200)
    assert resp.text == compact({"name": "u", "listen": created["listen"], "upstream": "127.0.0.1:10",
                                 "enabled": True, "Logger": {}, "toxics": []})
    assert api.get("/proxies/u").text == resp.text
    expect_error(api.get("/proxies/renamed"), 404, "proxy not found")


def test_update_unparsable_listen_500_changes_nothing(api: ApiClient) -> None:
    """An unresolvable listen on update is 500 `address garbage: missing port in address` and nothing changes (§3.4, §6)."""
    created = api.create_proxy("u", UP)
    before = api.get("/proxies/u").text
    expect_error(api.patch("/proxies/u", {"listen": "garbage"}), 500, "address garbage: missing port in address")
    assert api.get("/proxies/u").text == before
    assert not refuses(parse_addr(created["listen"]))


def test_update_same_address_by_hostname_keeps_connections(api: ApiClient, echo_proxy) -> None:
    """`localhost:N` counts as the same as `127.0.0.1:N`: no restart, live connections survive (§3.4)."""
    port = echo_proxy.addr[1]
    with connect(echo_proxy.addr) as sock:
        round_trip_ms(sock)
        resp = api.patch("/proxies/echo", {"listen": f"localhost:{port}"})
        assert resp.status == 200, str(resp)
        assert resp.json()["listen"] == f"127.0.0.1:{port}"
        round_trip_ms(sock, b"still here")


def test_update_upstream_restarts_and_closes(api: ApiClient, echo_proxy) -> None:
    """Changing upstream closes existing connections and new ones reach the new upstream (§3.4)."""
    other = TcpUpstream(UpstreamKind.ECHO)
    try:
        with connect(echo_proxy.addr) as sock:
            round_trip_ms(sock)
            resp = api.patch("/proxies/echo", {"upstream": other.addr_str})
            assert resp.status == 200, str(resp)
            _, ending = read_to_end(sock, 3)
            assert ending in (Ending.EOF, Ending.RESET)
        with connect(echo_proxy.addr) as sock:
            round_trip_ms(sock)
        assert other.connections_total == 1
    finally:
        other.stop()


def test_update_listen_moves_proxy(api: ApiClient, echo_proxy) -> None:
    """Changing listen on an enabled proxy restarts it on the new address; the old one refuses (§3.4)."""
    new_port = _free_port()
    resp = api.patch("/proxies/echo", {"listen": f"127.0.0.1:{new_port}"})
    assert resp.status == 200, str(resp)
    assert resp.json()["listen"] == f"127.0.0.1:{new_port}"
    assert refuses(echo_proxy.addr)
    with connect(("127.0.0.1", new_port)) as sock:
        round_trip_ms(sock)


def test_update_disable_enable_keeps_toxics(api: ApiClient, echo_proxy) -> None:
    """Disable closes live connections and refuses new ones; enable listens again; toxics survive (§3.4, §4.1)."""
    api.add_toxic("echo", {"type": "latency", "attributes": {"latency": 1}})
    with connect(echo_proxy.addr) as sock:
        round_trip_ms(sock)
        off = api.set_enabled("echo", False)
        assert off["enabled"] is False
        _, ending = read_to_end(sock, 3)
        assert ending in (Ending.EOF, Ending.RESET)
    assert refuses(echo_proxy.addr)
    on = api.set_enabled("echo", True)
    assert on["enabled"] is True and on["listen"] == f"127.0.0.1:{echo_proxy.addr[1]}"
    assert [t["name"] for t in on["toxics"]] == ["latency_downstream"]
    with connect(echo_proxy.addr) as sock:
        round_trip_ms(sock)


def test_update_listen_of_disabled_proxy_stays_disabled(api: ApiClient) -> None:
    """Changing listen of a disabled proxy stores it and keeps it disabled; enabled:false with a move stops it (§3.4)."""
    port = _free_port()
    api.create_proxy("off", UP, enabled=False)
    resp = api.patch("/proxies/off", {"listen": f"127.0.0.1:{port}"})
    assert resp.status == 200, str(resp)
    assert (resp.json()["listen"], resp.json()["enabled"]) == (f"127.0.0.1:{port}", False)
    assert refuses(("127.0.0.1", port))
    on = api.create_proxy("on", UP)
    port2 = _free_port()
    resp = api.patch("/proxies/on", {"listen": f"127.0.0.1:{port2}", "enabled": False})
    assert (resp.status, resp.json()["listen"], resp.json()["enabled"]) == (200, f"127.0.0.1:{port2}", False)
    assert refuses(parse_addr(on["listen"])) and refuses(("127.0.0.1", port2))


def test_update_listen_in_use_leaves_disabled(api: ApiClient) -> None:
    """A restart onto a busy address is 500 raw bind error; the proxy keeps the new listen and is disabled (§3.4)."""
    api.create_proxy("u", UP)
    with _busy_listener() as busy:
        port = busy.getsockname()[1]
        resp = api.patch("/proxies/u", {"listen": f"127.0.0.1:{port}"})
        expect_error(resp, 500, f"listen tcp 127.0.0.1:{port}: bind: address already in use")
        shown = api.get("/proxies/u").json()
    assert (shown["listen"], shown["enabled"]) == (f"127.0.0.1:{port}", False)


# -- delete (§3.5) ------------------------------------------------------------------------------
def test_delete_proxy(api: ApiClient, echo_proxy) -> None:
    """DELETE is 204 with an empty body, closes live connections and the listener; a second DELETE is 404 (§3.5)."""
    with connect(echo_proxy.addr) as sock:
        round_trip_ms(sock)
        resp = api.delete("/proxies/echo")
        assert (resp.status, resp.body) == (204, b"")
        _, ending = read_to_end(sock, 3)
        assert ending in (Ending.EOF, Ending.RESET)
    assert refuses(echo_proxy.addr)
    expect_error(api.delete("/proxies/echo"), 404, "proxy not found")


# -- hostile bodies (§1.1, §6) ------------------------------------------------------------------
def test_oversized_body_gets_4xx(api: ApiClient) -> None:
    """An 8 MiB unterminated JSON body gets some 4xx answer and the server keeps serving (§1.1)."""
    body = b'{"name":"' + b"a" * (8 * 1024 * 1024)
    head = (f"POST /proxies HTTP/1.1\r\nHost: {api.host}:{api.port}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    status = status_of(raw_exchange(api, head + body))
    assert 400 <= status < 500, f"status {status}"
    assert api.get("/proxies").text == "{}"
