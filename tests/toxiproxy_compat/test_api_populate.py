"""Conformance of POST /populate and POST /reset (spec §3.11, §3.12, §6), over raw HTTP and real sockets."""

from __future__ import annotations

import socket

from compat_http import ApiClient, compact, expect_error
from compat_net import Ending, TcpUpstream, UpstreamKind, connect, parse_addr, read_to_end, refuses, round_trip_ms

UP = "127.0.0.1:9"
POPULATE_OBJECT_ERROR = ('bad request body: json: cannot unmarshal object into Go value of type '
                         '[]struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }')


def _entry(name: str, upstream: str = UP, listen: str = "127.0.0.1:0", **extra: object) -> dict:
    return {"name": name, "listen": listen, "upstream": upstream, **extra}


def _expect_populate_error(resp, status: int, message: str, proxies_raw: str) -> None:
    assert resp.status == status, str(resp)
    assert resp.text == f'{{"error":{compact(message)},"status":{status},"proxies":{proxies_raw}}}'
    assert resp.header("Content-Type") == "application/json"


# -- populate (§3.11) ---------------------------------------------------------------------------
def test_populate_creates_201(api: ApiClient) -> None:
    """Populate creates each entry (enabled defaults to true) and answers 201 `{"proxies":[...]}` (§3.11)."""
    resp = api.post("/populate", [_entry("a"), _entry("b", enabled=False)])
    assert resp.status == 201, str(resp)
    assert resp.header("Content-Type") == "application/json"
    shown = [api.get(f"/proxies/{n}").text for n in ("a", "b")]
    assert resp.text == '{"proxies":[' + ",".join(shown) + "]}"
    assert [p["enabled"] for p in resp.json()["proxies"]] == [True, False]
    assert not refuses(parse_addr(resp.json()["proxies"][0]["listen"]))


def test_populate_empty_array_gives_null(api: ApiClient) -> None:
    """`POST /populate []` is 201 `{"proxies":null}` (§3.11)."""
    resp = api.post("/populate", "[]")
    assert (resp.status, resp.text) == (201, '{"proxies":null}')
    assert resp.header("Content-Type") == "application/json"


def test_populate_bad_bodies(api: ApiClient) -> None:
    """Undecodable populate bodies are 400 JSON errors with `"proxies":null` and no trailing newline (§3.11)."""
    _expect_populate_error(api.post("/populate", ""), 400, "bad request body: EOF", "null")
    _expect_populate_error(api.post("/populate", "{}"), 400, POPULATE_OBJECT_ERROR, "null")
    assert api.get("/proxies").text == "{}"


def test_populate_validates_everything_first(api: ApiClient) -> None:
    """A missing name or upstream anywhere is 400 `... at proxy N` (1-based) and nothing is created (§3.11)."""
    resp = api.post("/populate", [_entry("a"), {"listen": "127.0.0.1:0", "upstream": UP}])
    _expect_populate_error(resp, 400, "missing required field: name at proxy 2", "null")
    resp = api.post("/populate", [{"name": "a", "listen": "127.0.0.1:0"}, _entry("b")])
    _expect_populate_error(resp, 400, "missing required field: upstream at proxy 1", "null")
    assert api.get("/proxies").text == "{}"


def test_populate_same_proxy_kept_untouched(api: ApiClient, echo_proxy) -> None:
    """An entry equal to an existing proxy (localhost counts as 127.0.0.1) keeps its toxics, connections and enabled state (§3.11)."""
    before = api.get("/proxies/echo").json()
    api.add_toxic("echo", {"name": "n", "type": "noop"})
    with connect(echo_proxy.addr) as sock:
        round_trip_ms(sock)
        entry = _entry("echo", before["upstream"], f"localhost:{echo_proxy.addr[1]}", enabled=False)
        resp = api.post("/populate", [entry])
        assert resp.status == 201, str(resp)
        kept = api.get("/proxies/echo")
        assert resp.text == '{"proxies":[' + kept.text + "]}"
        assert kept.json()["enabled"] is True and [t["name"] for t in kept.json()["toxics"]] == ["n"]
        round_trip_ms(sock, b"still connected")


def test_populate_differing_proxy_replaced(api: ApiClient, echo_proxy) -> None:
    """An entry that differs replaces the proxy: old connections close, toxics are lost, the new upstream is used (§3.11)."""
    other = TcpUpstream(UpstreamKind.ECHO)
    try:
        api.add_toxic("echo", {"name": "n", "type": "noop"})
        with connect(echo_proxy.addr) as sock:
            round_trip_ms(sock)
            resp = api.post("/populate", [_entry("echo", other.addr_str, f"127.0.0.1:{echo_proxy.addr[1]}")])
            assert resp.status == 201, str(resp)
            _, ending = read_to_end(sock, 3)
            assert ending in (Ending.EOF, Ending.RESET)
        assert api.get("/proxies/echo").json()["toxics"] == []
        with connect(echo_proxy.addr) as sock:
            round_trip_ms(sock)
        assert other.connections_total == 1
    finally:
        other.stop()


def test_populate_stops_at_first_error_with_partial_result(api: ApiClient) -> None:
    """The first failing entry stops populate: 500 raw bind error with the proxies done so far; later entries are not tried (§3.11, §6)."""
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        resp = api.post("/populate", [_entry("a"), _entry("b", listen=f"127.0.0.1:{port}"), _entry("c")])
        _expect_populate_error(resp, 500, f"listen tcp 127.0.0.1:{port}: bind: address already in use",
                               "[" + api.get("/proxies/a").text + "]")
    assert sorted(api.get("/proxies").json()) == ["a"]


def test_populate_failed_replacement_keeps_old_stopped(api: ApiClient, echo_proxy) -> None:
    """When a replacement cannot listen, the collection keeps the old proxy, now stopped (§3.11)."""
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        resp = api.post("/populate", [_entry("echo", UP, f"127.0.0.1:{port}")])
        _expect_populate_error(resp, 500, f"listen tcp 127.0.0.1:{port}: bind: address already in use", "null")
    shown = api.get("/proxies/echo").json()
    assert shown["enabled"] is False
    assert refuses(echo_proxy.addr)


def test_populate_unresolvable_listen_on_existing_500(api: ApiClient) -> None:
    """An unresolvable listen for an existing proxy is 500 `address garbage: missing port in address` (§3.11, §6)."""
    api.create_proxy("a", UP)
    resp = api.post("/populate", [_entry("a", listen="garbage")])
    _expect_populate_error(resp, 500, "address garbage: missing port in address", "null")


def test_populate_leaves_other_proxies(api: ApiClient) -> None:
    """Proxies not named in the populate array are not removed (§3.11)."""
    api.create_proxy("keep", UP, enabled=False)
    assert api.post("/populate", [_entry("new", enabled=False)]).status == 201
    assert sorted(api.get("/proxies").json()) == ["keep", "new"]


# -- reset (§3.12) ------------------------------------------------------------------------------
def test_reset_reenables_and_clears_toxics(api: ApiClient, echo_proxy) -> None:
    """Reset is 204 empty, re-enables disabled proxies, removes all toxics and keeps listen/upstream (§3.12)."""
    api.create_proxy("second", UP)
    api.add_toxic("echo", {"type": "latency", "attributes": {"latency": 50}})
    api.add_toxic("second", {"type": "noop", "stream": "upstream"})
    before = {n: api.get(f"/proxies/{n}").json() for n in ("echo", "second")}
    api.set_enabled("echo", False)
    resp = api.post("/reset")
    assert (resp.status, resp.body) == (204, b"")
    for name, old in before.items():
        now = api.get(f"/proxies/{name}").json()
        assert (now["listen"], now["upstream"], now["enabled"], now["toxics"]) == (old["listen"], old["upstream"], True, [])
    with connect(echo_proxy.addr) as sock:
        assert round_trip_ms(sock) < 40


def test_reset_closes_timeout_connections(api: ApiClient, echo_proxy) -> None:
    """Reset removes a timeout toxic like DELETE does, closing the connections through it (§3.12, §5.5)."""
    with connect(echo_proxy.addr) as sock:
        round_trip_ms(sock)
        api.add_toxic("echo", {"type": "timeout", "attributes": {"timeout": 0}})
        assert api.post("/reset").status == 204
        data, ending = read_to_end(sock, 3)
        assert ending in (Ending.EOF, Ending.RESET) and data == b""


def test_reset_listen_in_use_500(api: ApiClient) -> None:
    """Reset of a disabled proxy whose address is taken is 500 raw bind error, and that proxy keeps its toxics (§3.12)."""
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        api.create_proxy("stuck", UP, listen=f"127.0.0.1:{port}", enabled=False)
        api.add_toxic("stuck", {"name": "n", "type": "noop"})
        expect_error(api.post("/reset"), 500, f"listen tcp 127.0.0.1:{port}: bind: address already in use")
        assert [t["name"] for t in api.get("/proxies/stuck").json()["toxics"]] == ["n"]


def test_reset_with_nothing_is_204(api: ApiClient) -> None:
    """Reset with no proxies is 204 with an empty body and creates nothing (§3.12)."""
    resp = api.post("/reset")
    assert (resp.status, resp.body) == (204, b"")
    assert api.get("/proxies").text == "{}"
