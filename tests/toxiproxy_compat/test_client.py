"""The server under test driven through the official-style client toxiproxy-python 0.1.1 (spec §3, §4, §5).

The client keeps its endpoint in the class attributes of a global ``APIConsumer``; the fixture points
them at the server under test and restores them afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from compat_net import Ending, TcpUpstream, connect, parse_addr, read_to_end, refuses, round_trip_ms


@pytest.fixture
def toxiproxy(toxiproxy_server) -> Iterator[Toxiproxy]:
    """A toxiproxy-python client bound to the server under test (the global endpoint is restored after)."""
    saved = (APIConsumer.host, APIConsumer.port)
    client = Toxiproxy()
    client.update_api_consumer(toxiproxy_server.api.host, toxiproxy_server.api.port)
    yield client
    APIConsumer.host, APIConsumer.port = saved


def _rtt(listen: str) -> float:
    with connect(parse_addr(listen)) as sock:
        return round_trip_ms(sock)


def test_running_and_version(toxiproxy: Toxiproxy) -> None:
    """The client sees the server running and reads the raw /version body (§3.13)."""
    assert toxiproxy.running() is True
    assert toxiproxy.version() == b'{"version": "2.12.0"}\n'


def test_create_list_and_proxy_traffic(toxiproxy: Toxiproxy, echo_upstream: TcpUpstream) -> None:
    """create() returns the proxy with its bound listen address; proxies() and get_proxy() list it; traffic flows (§3.1-3.3)."""
    proxy = toxiproxy.create(upstream=echo_upstream.addr_str, name="echo", listen="127.0.0.1:0")
    assert proxy.listen != "127.0.0.1:0" and proxy.listen.startswith("127.0.0.1:")
    assert (proxy.name, proxy.upstream, proxy.enabled) == ("echo", echo_upstream.addr_str, True)
    listed = toxiproxy.proxies()
    assert list(listed) == ["echo"] and listed["echo"].listen == proxy.listen
    assert toxiproxy.get_proxy("echo").upstream == echo_upstream.addr_str
    assert toxiproxy.get_proxy("ghost") is None
    assert _rtt(proxy.listen) < 30


def test_duplicate_and_invalid_create_raise(toxiproxy: Toxiproxy) -> None:
    """A duplicate proxy raises ProxyExists (server 409) and a missing upstream raises InvalidToxic (server 400) (§3.2)."""
    toxiproxy.create(upstream="127.0.0.1:9", name="dup", listen="127.0.0.1:0", enabled=False)
    with pytest.raises(ProxyExists):
        toxiproxy.create(upstream="127.0.0.1:9", name="dup", listen="127.0.0.1:0")
    with pytest.raises(ProxyExists):
        APIConsumer.post("/proxies", json={"name": "dup", "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"})
    with pytest.raises(InvalidToxic):
        APIConsumer.post("/proxies", json={"name": "nou", "listen": "127.0.0.1:0"})
    with pytest.raises(NotFound):
        APIConsumer.get("/proxies/ghost")


def test_toxic_lifecycle(toxiproxy: Toxiproxy, echo_upstream: TcpUpstream) -> None:
    """add_toxic/toxics/get_toxic/destroy_toxic work and the latency is measurable on the wire (§3.6-3.10, §5.1)."""
    proxy = toxiproxy.create(upstream=echo_upstream.addr_str, name="echo", listen="127.0.0.1:0")
    proxy.add_toxic(type="latency", attributes={"latency": 300})
    toxics = proxy.toxics()
    assert list(toxics) == ["latency_downstream"]
    toxic = proxy.get_toxic("latency_downstream")
    assert (toxic.type, toxic.stream, toxic.toxicity, toxic.attributes) == (
        "latency", "downstream", 1, {"latency": 300, "jitter": 0})
    assert 270 <= _rtt(proxy.listen) <= 330
    assert proxy.destroy_toxic("latency_downstream") is True
    assert proxy.get_toxic("latency_downstream") is None
    assert _rtt(proxy.listen) < 30


def test_toxic_errors_raise(toxiproxy: Toxiproxy) -> None:
    """An invalid toxic type raises InvalidToxic, a duplicate ProxyExists, a missing proxy or toxic NotFound (§3.7, §6)."""
    proxy = toxiproxy.create(upstream="127.0.0.1:9", name="p", listen="127.0.0.1:0", enabled=False)
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="Latency")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="latency", stream="sideways")
    proxy.add_toxic(type="noop", name="n", stream="upstream")
    with pytest.raises(ProxyExists):
        proxy.add_toxic(type="latency", name="n")
    with pytest.raises(NotFound):
        proxy.destroy_toxic("ghost")
    proxy.destroy()
    with pytest.raises(NotFound):
        proxy.add_toxic(type="noop")


def test_upstream_toxic_with_zero_toxicity(toxiproxy: Toxiproxy, echo_upstream: TcpUpstream) -> None:
    """An upstream latency added through the client applies at toxicity 1 and never at toxicity 0 (§4.2)."""
    proxy = toxiproxy.create(upstream=echo_upstream.addr_str, name="echo", listen="127.0.0.1:0")
    proxy.add_toxic(type="latency", name="never", stream="upstream", toxicity=0.0, attributes={"latency": 300})
    assert _rtt(proxy.listen) < 100
    proxy.add_toxic(type="latency", name="always", stream="upstream", toxicity=1.0, attributes={"latency": 200})
    assert 180 <= _rtt(proxy.listen) <= 240


def test_disable_enable_and_down(toxiproxy: Toxiproxy, echo_upstream: TcpUpstream) -> None:
    """disable()/enable() and the down() context take the proxy off and back on the wire (deprecated POST update) (§3.4, §5.2)."""
    proxy = toxiproxy.create(upstream=echo_upstream.addr_str, name="echo", listen="127.0.0.1:0")
    addr = parse_addr(proxy.listen)
    with connect(addr) as sock:
        round_trip_ms(sock)
        proxy.disable()
        assert read_to_end(sock, 2)[1] in (Ending.EOF, Ending.RESET)
    assert refuses(addr) and toxiproxy.get_proxy("echo").enabled is False
    proxy.enable()
    assert _rtt(proxy.listen) < 30
    with proxy.down():
        assert refuses(addr)
    assert toxiproxy.get_proxy("echo").enabled is True
    assert _rtt(proxy.listen) < 30


def test_reset(toxiproxy: Toxiproxy, echo_upstream: TcpUpstream) -> None:
    """reset() re-enables proxies and removes every toxic (§3.12)."""
    proxy = toxiproxy.create(upstream=echo_upstream.addr_str, name="echo", listen="127.0.0.1:0")
    proxy.add_toxic(type="latency", attributes={"latency": 300})
    proxy.disable()
    assert toxiproxy.reset() is True
    assert proxy.toxics() == {}
    assert toxiproxy.get_proxy("echo").enabled is True
    assert _rtt(proxy.listen) < 30


def test_destroy_and_destroy_all(toxiproxy: Toxiproxy) -> None:
    """destroy() removes one proxy (NotFound the second time) and destroy_all() removes the rest (§3.5)."""
    first = toxiproxy.create(upstream="127.0.0.1:9", name="a", listen="127.0.0.1:0")
    for name in ("b", "c"):
        toxiproxy.create(upstream="127.0.0.1:9", name=name, listen="127.0.0.1:0", enabled=False)
    assert toxiproxy.destroy(first) is True
    assert toxiproxy.get_proxy("a") is None
    with pytest.raises(NotFound):
        first.destroy()
    toxiproxy.destroy_all()
    assert toxiproxy.proxies() == {}


def test_populate(toxiproxy: Toxiproxy, echo_upstream: TcpUpstream) -> None:
    """The client's populate() creates usable proxies, and the server's /populate answers 201 through the client (§3.11)."""
    made = toxiproxy.populate([{"name": "echo", "upstream": echo_upstream.addr_str, "listen": "127.0.0.1:0",
                                "enabled": True}])
    assert [p.name for p in made] == ["echo"]
    assert _rtt(made[0].listen) < 30
    resp = APIConsumer.post("/populate", json=[{"name": "srv", "upstream": echo_upstream.addr_str,
                                                "listen": "127.0.0.1:0"}])
    assert resp.status_code == 201
    assert [p["name"] for p in resp.json()["proxies"]] == ["srv"]
    assert sorted(toxiproxy.proxies()) == ["echo", "srv"]
