"""Each toxic's effect measured on real TCP traffic through the proxy (spec §4, §5).

Timings use tolerances (e.g. 300 ms +-30); each test stays under about 6 s.
"""

from __future__ import annotations

import errno
import socket
import time

import pytest

from compat_http import ApiClient
from compat_net import (LATE_REPLY_BYTES, Ending, TcpUpstream, UpstreamKind, connect, read_to_end, recv_exact,
                        refuses, round_trip_ms, source_pattern, stays_open)


def _rtts(addr, n: int = 3) -> list[float]:
    with connect(addr) as sock:
        return [round_trip_ms(sock) for _ in range(n)]


# -- latency (§5.1) ---------------------------------------------------------------------------
def test_latency_downstream_300ms(api: ApiClient, echo_proxy) -> None:
    """A 300 ms downstream latency makes every round trip 300 +-30 ms; without it they are fast (§5.1)."""
    assert max(_rtts(echo_proxy.addr)) < 30
    api.add_toxic("echo", {"type": "latency", "attributes": {"latency": 300}})
    rtts = _rtts(echo_proxy.addr)
    assert all(270 <= r <= 330 for r in rtts), rtts


def test_latency_jitter_range(api: ApiClient, echo_proxy) -> None:
    """Latency 100 with jitter 50 spreads round trips over about 50..150 ms (§5.1)."""
    api.add_toxic("echo", {"type": "latency", "attributes": {"latency": 100, "jitter": 50}})
    rtts = _rtts(echo_proxy.addr, 20)
    assert all(45 <= r <= 165 for r in rtts), rtts
    assert max(rtts) - min(rtts) >= 30, f"no visible jitter: {rtts}"


def test_latency_upstream_and_downstream_add(api: ApiClient, echo_proxy) -> None:
    """200 ms upstream plus 300 ms downstream latency give a round trip of about 500 ms (§5.1)."""
    api.add_toxic("echo", {"type": "latency", "stream": "upstream", "attributes": {"latency": 200}})
    api.add_toxic("echo", {"type": "latency", "stream": "downstream", "attributes": {"latency": 300}})
    rtts = _rtts(echo_proxy.addr, 2)
    assert all(470 <= r <= 545 for r in rtts), rtts


def test_two_latencies_in_one_direction_add(api: ApiClient, echo_proxy) -> None:
    """Two 150 ms downstream latency toxics add up to a 300 ms round trip (§5.1)."""
    for name in ("a", "b"):
        api.add_toxic("echo", {"name": name, "type": "latency", "attributes": {"latency": 150}})
    rtts = _rtts(echo_proxy.addr, 2)
    assert all(270 <= r <= 340 for r in rtts), rtts


def test_half_close_is_not_propagated(make_proxy) -> None:
    """A client's SHUT_WR fully closes the upstream side, so a reply the upstream sends after EOF never arrives (§0, §4.1)."""
    late = TcpUpstream(UpstreamKind.LATE_REPLY)
    try:
        with connect(late.address) as direct:
            direct.shutdown(socket.SHUT_WR)
            assert read_to_end(direct, 3) == (LATE_REPLY_BYTES, Ending.EOF)
        proxy = make_proxy(late, "late")
        with connect(proxy.addr) as sock:
            sock.shutdown(socket.SHUT_WR)
            data, ending = read_to_end(sock, 3)
        assert data == b"" and ending in (Ending.EOF, Ending.RESET)
    finally:
        late.stop()


# -- bandwidth (§5.3) -------------------------------------------------------------------------
def test_bandwidth_100_kbps_moves_500kb_in_5s(api: ApiClient, make_proxy, source_upstream) -> None:
    """rate=100 (bytes per ms) moves 500 KB downstream in 5 s +-10%, intact (§5.3)."""
    proxy = make_proxy(source_upstream(500_000), "bw")
    api.add_toxic("bw", {"type": "bandwidth", "attributes": {"rate": 100}})
    start = time.monotonic()
    with connect(proxy.addr) as sock:
        data, _ = read_to_end(sock, 8)
    elapsed = time.monotonic() - start
    assert len(data) == 500_000 and data == source_pattern(500_000)
    assert 4.5 <= elapsed <= 5.5, f"{elapsed:.2f}s"


def test_bandwidth_cuts_big_chunks_into_100ms_pieces(api: ApiClient, echo_proxy) -> None:
    """rate=1 cuts a 500 B chunk into 100 B pieces sent 100 ms apart, 0.5 s in all (§5.3)."""
    api.add_toxic("echo", {"type": "bandwidth", "attributes": {"rate": 1}})
    sizes: list[int] = []
    with connect(echo_proxy.addr) as sock:
        start = time.monotonic()
        sock.sendall(b"b" * 500)
        while sum(sizes) < 500:
            sizes.append(len(recv_exact(sock, 1, 2) + _drain(sock)))
        elapsed = time.monotonic() - start
    assert len(sizes) >= 5 and max(sizes) <= 100, sizes
    assert 0.45 <= elapsed <= 0.65, f"{elapsed:.3f}s"


def test_bandwidth_rate_zero_stalls_until_updated(api: ApiClient, echo_proxy) -> None:
    """rate=0 stalls the stream; an update flushes the pending chunk (§5.3)."""
    api.add_toxic("echo", {"name": "bw", "type": "bandwidth", "attributes": {"rate": 0}})
    with connect(echo_proxy.addr) as sock:
        sock.sendall(b"stalled")
        assert stays_open(sock, 0.6), "data or close arrived through a rate-0 bandwidth toxic"
        api.update_toxic("echo", "bw", {"attributes": {"rate": 100}})
        assert recv_exact(sock, 7, 2) == b"stalled"


# -- slow_close (§5.4) ------------------------------------------------------------------------
def _eof_delay_after_shutdown(addr) -> float:
    with connect(addr) as sock:
        round_trip_ms(sock)
        start = time.monotonic()
        sock.shutdown(socket.SHUT_WR)
        _, ending = read_to_end(sock, 3)
        assert ending is Ending.EOF
        return time.monotonic() - start


def test_slow_close_delays_close(api: ApiClient, echo_proxy) -> None:
    """With slow_close delay=600 downstream, the client sees EOF 0.6 s after its own shutdown, not at once (§5.4)."""
    assert _eof_delay_after_shutdown(echo_proxy.addr) < 0.2
    api.add_toxic("echo", {"type": "slow_close", "attributes": {"delay": 600}})
    assert 0.55 <= _eof_delay_after_shutdown(echo_proxy.addr) <= 0.8


def test_slow_close_does_not_delay_disable(api: ApiClient, echo_proxy) -> None:
    """Closes caused by disabling the proxy are not delayed by slow_close (§5.4)."""
    api.add_toxic("echo", {"type": "slow_close", "attributes": {"delay": 2000}})
    with connect(echo_proxy.addr) as sock:
        round_trip_ms(sock)
        start = time.monotonic()
        api.set_enabled("echo", False)
        read_to_end(sock, 3)
        assert time.monotonic() - start < 0.5


# -- timeout (§5.5) ---------------------------------------------------------------------------
def test_timeout_zero_drops_until_removed_then_closes(api: ApiClient, echo_proxy) -> None:
    """timeout=0 drops data and holds the connection open; removing it closes the connection, delivering nothing (§5.5)."""
    api.add_toxic("echo", {"name": "t", "type": "timeout", "attributes": {"timeout": 0}})
    with connect(echo_proxy.addr) as sock:
        sock.sendall(b"dropped")
        assert stays_open(sock, 1.0), "timeout=0 delivered data or closed the connection"
        api.remove_toxic("echo", "t")
        data, ending = read_to_end(sock, 2)
        assert (data, ending in (Ending.EOF, Ending.RESET)) == (b"", True)


def test_timeout_500_is_inactivity_timeout(api: ApiClient, echo_proxy) -> None:
    """timeout=500 closes an idle connection after about 0.5 s, and traffic every 300 ms keeps it open (§5.5)."""
    api.add_toxic("echo", {"type": "timeout", "attributes": {"timeout": 500}})
    start = time.monotonic()
    with connect(echo_proxy.addr) as sock:
        read_to_end(sock, 2)
    assert 0.45 <= time.monotonic() - start <= 0.75
    with connect(echo_proxy.addr) as sock:
        for _ in range(4):
            sock.sendall(b"keepalive")
            assert stays_open(sock, 0.3), "closed although data arrived within the timeout"
        start = time.monotonic()
        read_to_end(sock, 2)
        assert time.monotonic() - start <= 0.75


# -- reset_peer (§5.6) ------------------------------------------------------------------------
def test_reset_peer_gives_econnreset(api: ApiClient, echo_proxy) -> None:
    """A reset_peer present at connect time tears the connection down with an RST on the first data (ECONNRESET) (§5.6)."""
    api.add_toxic("echo", {"type": "reset_peer", "stream": "upstream", "attributes": {"timeout": 0}})
    with connect(echo_proxy.addr) as sock:
        sock.sendall(b"boom")
        sock.settimeout(3)
        with pytest.raises(ConnectionResetError) as caught:
            while sock.recv(65536):
                pass
        assert caught.value.errno == errno.ECONNRESET


def test_reset_peer_timeout_counts_from_first_data(api: ApiClient, echo_proxy) -> None:
    """reset_peer timeout=500 leaves an idle connection alone and resets 0.5 s after the first data (§5.6)."""
    api.add_toxic("echo", {"type": "reset_peer", "attributes": {"timeout": 500}})
    with connect(echo_proxy.addr) as sock:
        assert stays_open(sock, 0.6)
        start = time.monotonic()
        sock.sendall(b"go")
        data, ending = read_to_end(sock, 3)
        assert (data, ending) == (b"", Ending.RESET)
        assert 0.45 <= time.monotonic() - start <= 0.75


def test_reset_peer_added_to_open_connection_gives_eof(api: ApiClient, echo_proxy) -> None:
    """A reset_peer added to an already open connection closes it with a FIN (EOF), not an RST (§5.6)."""
    with connect(echo_proxy.addr) as sock:
        round_trip_ms(sock)
        api.add_toxic("echo", {"type": "reset_peer", "stream": "upstream", "attributes": {"timeout": 0}})
        sock.sendall(b"x")
        assert read_to_end(sock, 3) == (b"", Ending.EOF)


def test_reset_peer_at_toxicity_zero_still_makes_closes_rst(api: ApiClient, echo_proxy) -> None:
    """A reset_peer present at connect time sets linger 0 even when its roll makes it a noop, so a disable sends RST (§5.6)."""
    api.add_toxic("echo", {"type": "reset_peer", "toxicity": 0, "attributes": {"timeout": 0}})
    with connect(echo_proxy.addr) as sock:
        round_trip_ms(sock)
        api.set_enabled("echo", False)
        assert read_to_end(sock, 3) == (b"", Ending.RESET)


# -- slicer (§5.7) ----------------------------------------------------------------------------
def test_slicer_splits_with_delay(api: ApiClient, echo_proxy) -> None:
    """slicer avg=10 var=0 delay=20000us delivers 100 B as pieces of at most 10 B over about 0.3 s (§5.7)."""
    api.add_toxic("echo", {"type": "slicer", "attributes": {"average_size": 10, "size_variation": 0, "delay": 20000}})
    payload = bytes(range(100))
    pieces: list[bytes] = []
    with connect(echo_proxy.addr) as sock:
        start = time.monotonic()
        sock.sendall(payload)
        while sum(map(len, pieces)) < len(payload):
            pieces.append(recv_exact(sock, 1, 2) + _drain(sock))
        elapsed = time.monotonic() - start
    assert b"".join(pieces) == payload
    assert len(pieces) >= 10 and max(map(len, pieces)) <= 10, [len(p) for p in pieces]
    assert 0.2 <= elapsed <= 0.5, f"{elapsed:.3f}s"


def _drain(sock: socket.socket) -> bytes:
    sock.setblocking(False)
    try:
        return sock.recv(65536)
    except BlockingIOError:
        return b""
    finally:
        sock.setblocking(True)


# -- limit_data (§5.8) ------------------------------------------------------------------------
def test_limit_data_closes_after_exactly_1000_bytes(api: ApiClient, make_proxy, source_upstream) -> None:
    """limit_data bytes=1000 downstream delivers exactly the first 1000 bytes, then closes (§5.8)."""
    proxy = make_proxy(source_upstream(5000), "lim")
    api.add_toxic("lim", {"type": "limit_data", "attributes": {"bytes": 1000}})
    with connect(proxy.addr) as sock:
        data, _ = read_to_end(sock, 3)
    assert data == source_pattern(1000)


def test_limit_data_upstream_truncates(api: ApiClient, make_proxy, sink_upstream: TcpUpstream) -> None:
    """limit_data bytes=1000 upstream lets exactly 1000 of 3000 sent bytes reach the upstream (§5.8)."""
    proxy = make_proxy(sink_upstream, "lim")
    api.add_toxic("lim", {"type": "limit_data", "stream": "upstream", "attributes": {"bytes": 1000}})
    with connect(proxy.addr) as sock:
        try:
            sock.sendall(b"z" * 3000)
        except OSError:
            pass
        read_to_end(sock, 3)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not (sink_upstream.bytes_received >= 1000
                                               and not sink_upstream.open_connections):
        time.sleep(0.02)
    assert (sink_upstream.connections_total, sink_upstream.open_connections, sink_upstream.bytes_received) == (1, 0, 1000)


def test_limit_data_truncates_chunk_and_survives_update(api: ApiClient, echo_proxy) -> None:
    """limit_data bytes=10 passes abcd, abcd, then ab of abc and EOF; raising it to 12 after 6 bytes allows 6 more (§5.8)."""
    api.add_toxic("echo", {"name": "lim", "type": "limit_data", "attributes": {"bytes": 10}})
    with connect(echo_proxy.addr) as sock:
        round_trip_ms(sock, b"abcd")
        round_trip_ms(sock, b"abcd")
        sock.sendall(b"abc")
        assert read_to_end(sock, 2) == (b"ab", Ending.EOF)
    with connect(echo_proxy.addr) as sock:
        round_trip_ms(sock, b"abcdef")
        api.update_toxic("echo", "lim", {"attributes": {"bytes": 12}})
        sock.sendall(b"0123456789")
        assert read_to_end(sock, 2) == (b"012345", Ending.EOF)


def test_limit_data_zero_closes_on_first_chunk(api: ApiClient, echo_proxy) -> None:
    """limit_data bytes=0 forwards nothing and closes when the first chunk arrives, not at connect (§5.8)."""
    api.add_toxic("echo", {"type": "limit_data", "attributes": {"bytes": 0}})
    with connect(echo_proxy.addr) as sock:
        assert stays_open(sock, 0.5), "closed at connect"
        sock.sendall(b"first")
        data, ending = read_to_end(sock, 2)
        assert data == b"" and ending in (Ending.EOF, Ending.RESET)


def test_limit_data_counts_from_when_added(api: ApiClient, echo_proxy) -> None:
    """limit_data added to a live connection counts only bytes forwarded after it was added (§4.3, §5.8)."""
    with connect(echo_proxy.addr) as sock:
        round_trip_ms(sock, b"x" * 100)
        api.add_toxic("echo", {"type": "limit_data", "attributes": {"bytes": 10}})
        sock.sendall(b"0123456789ABCDEFGHIJ")
        assert read_to_end(sock, 2) == (b"0123456789", Ending.EOF)


# -- down (§5.2, §4.1) ------------------------------------------------------------------------
def test_down_refuses_and_closes_live_connections(api: ApiClient, echo_proxy) -> None:
    """enabled:false closes live connections and refuses new ones; enabled:true serves again (§5.2)."""
    with connect(echo_proxy.addr) as sock:
        round_trip_ms(sock)
        api.set_enabled("echo", False)
        assert read_to_end(sock, 2)[1] in (Ending.EOF, Ending.RESET)
    assert refuses(echo_proxy.addr)
    api.set_enabled("echo", True)
    assert max(_rtts(echo_proxy.addr, 1)) < 30


# -- toxicity (§4.2) --------------------------------------------------------------------------
def test_toxicity_zero_never_one_always(api: ApiClient, echo_proxy) -> None:
    """toxicity 0 never applies the toxic and toxicity 1 always does, per new connection (§4.2)."""
    api.add_toxic("echo", {"name": "lat", "type": "latency", "toxicity": 0, "attributes": {"latency": 200}})
    assert all(r < 100 for _ in range(5) for r in _rtts(echo_proxy.addr, 1))
    api.update_toxic("echo", "lat", {"toxicity": 1})
    assert all(r >= 180 for _ in range(4) for r in _rtts(echo_proxy.addr, 1))


def test_toxicity_half_rolls_per_connection(api: ApiClient, echo_proxy) -> None:
    """toxicity 0.5 delays some connections and not others, and never mixes within one connection (§4.2)."""
    api.add_toxic("echo", {"type": "latency", "toxicity": 0.5, "attributes": {"latency": 120}})
    kinds = []
    for _ in range(16):
        slow = [r >= 100 for r in _rtts(echo_proxy.addr, 2)]
        assert slow[0] == slow[1], "one connection was both delayed and not"
        kinds.append(slow[0])
    assert 0 < sum(kinds) < len(kinds), kinds


# -- live add / update / remove (§4.3) --------------------------------------------------------
def test_add_update_remove_on_live_connection(api: ApiClient, echo_proxy) -> None:
    """Adding, updating and removing a toxic changes the very next round trip of an open connection (§4.3)."""
    with connect(echo_proxy.addr) as sock:
        assert round_trip_ms(sock) < 30
        api.add_toxic("echo", {"name": "lat", "type": "latency", "attributes": {"latency": 200}})
        assert 180 <= round_trip_ms(sock) <= 240
        api.update_toxic("echo", "lat", {"attributes": {"latency": 100}})
        assert 85 <= round_trip_ms(sock) <= 140
        api.remove_toxic("echo", "lat")
        assert round_trip_ms(sock) < 30


def test_interrupted_latency_flushes_held_chunk(api: ApiClient, echo_proxy) -> None:
    """A latency toxic interrupted while holding a chunk (a toxic appended, or it is removed) forwards it at once (§4.3)."""
    api.add_toxic("echo", {"name": "lat", "type": "latency", "attributes": {"latency": 1500}})
    with connect(echo_proxy.addr) as sock:
        start = time.monotonic()
        sock.sendall(b"held")
        time.sleep(0.2)
        api.add_toxic("echo", {"name": "n", "type": "noop"})
        assert recv_exact(sock, 4, 2) == b"held"
        assert time.monotonic() - start < 0.6
        start = time.monotonic()
        sock.sendall(b"held2")
        time.sleep(0.2)
        api.remove_toxic("echo", "lat")
        assert recv_exact(sock, 5, 2) == b"held2"
        assert time.monotonic() - start < 0.6
