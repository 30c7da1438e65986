"""Real TCP parts for the Toxiproxy conformance suite: upstream servers and client-socket helpers.

The upstreams (echo, sink, source) listen on 127.0.0.1 on a free port and are driven by one
selector thread each, so hundreds of connections cost no extra threads. ``stop()`` closes every
socket and joins the thread with a bound; ``abort_connections()`` makes the upstream vanish
mid-stream (RST). Client helpers measure round trips and classify how a connection ended.
"""

from __future__ import annotations

import enum
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

Address = tuple[str, int]
_BLOCK = bytes(range(256)) * 256  # 64 KiB of a known pattern, reused by sources


class UpstreamKind(enum.Enum):
    """What an upstream does with a connection."""

    ECHO = "echo"      # writes back every byte it reads
    SINK = "sink"      # reads and counts, never writes
    SOURCE = "source"  # writes ``source_bytes`` of a known pattern, then closes (FIN)
    LATE_REPLY = "late_reply"  # reads until EOF, then writes LATE_REPLY_BYTES and closes (needs half-close)


LATE_REPLY_BYTES = b"late reply"


@dataclass
class _Conn:
    sock: socket.socket
    out: bytearray = field(default_factory=bytearray)
    source_left: int = 0
    close_when_flushed: bool = False


class TcpUpstream:
    """A selector-driven TCP server on 127.0.0.1 with echo, sink or source behaviour."""

    def __init__(self, kind: UpstreamKind, *, source_bytes: int = 0) -> None:
        self.kind = kind
        self.source_bytes = source_bytes
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self._listener.setblocking(False)
        self.address: Address = self._listener.getsockname()[:2]
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._conns: dict[int, _Conn] = {}
        self._lock = threading.Lock()
        self._stopping = False
        self._abort = False
        self.bytes_received = 0
        self.connections_total = 0
        self.max_concurrent = 0
        self._thread = threading.Thread(target=self._loop, name=f"upstream-{kind.value}", daemon=True)
        self._thread.start()

    @property
    def addr_str(self) -> str:
        """The ``host:port`` string to use as a proxy's upstream."""
        return f"{self.address[0]}:{self.address[1]}"

    @property
    def open_connections(self) -> int:
        """How many accepted connections are still open."""
        with self._lock:
            return len(self._conns)

    def abort_connections(self) -> None:
        """Reset (RST) every open connection, as an upstream that crashes mid-stream would."""
        self._abort = True
        self._wake_w.send(b"a")

    def stop(self) -> None:
        """Close the listener and every connection; join the loop thread (bounded)."""
        self._stopping = True
        try:
            self._wake_w.send(b"s")
        except OSError:
            pass
        self._thread.join(timeout=5)
        for sock in (self._wake_r, self._wake_w, self._listener):
            sock.close()

    # -- loop -------------------------------------------------------------------------------
    def _loop(self) -> None:
        self._sel.register(self._listener, selectors.EVENT_READ, "accept")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self._stopping:
                for key, events in self._sel.select(timeout=0.5):
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "wake":
                        self._wake_r.recv(4096)
                    else:
                        self._service(key.data, events)
                if self._abort:
                    self._abort = False
                    for conn in list(self._conns.values()):
                        _set_linger_zero(conn.sock)
                        self._drop(conn)
        finally:
            for conn in list(self._conns.values()):
                self._drop(conn)
            self._sel.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(sock)
            with self._lock:
                self._conns[sock.fileno()] = conn
                self.connections_total += 1
                self.max_concurrent = max(self.max_concurrent, len(self._conns))
            if self.kind is UpstreamKind.SOURCE:
                conn.source_left = self.source_bytes
                conn.close_when_flushed = True
                self._sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)
            else:
                self._sel.register(sock, selectors.EVENT_READ, conn)

    def _service(self, conn: _Conn, events: int) -> None:
        if events & selectors.EVENT_READ:
            try:
                data = conn.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                self._drop(conn)
                return
            if data == b"" and self.kind is UpstreamKind.LATE_REPLY and not conn.close_when_flushed:
                conn.out += LATE_REPLY_BYTES
                conn.close_when_flushed = True
            elif data == b"":
                self._drop(conn)
                return
            if data:
                self.bytes_received += len(data)
                if self.kind is UpstreamKind.ECHO:
                    conn.out += data
        if conn.out or conn.source_left:
            self._flush(conn)
        elif conn.close_when_flushed:
            self._drop(conn)
            return
        if conn.sock.fileno() != -1:
            want = selectors.EVENT_READ
            if conn.out or conn.source_left:
                want |= selectors.EVENT_WRITE
            self._sel.modify(conn.sock, want, conn)

    def _flush(self, conn: _Conn) -> None:
        while conn.out or conn.source_left:
            if not conn.out:
                take = min(conn.source_left, len(_BLOCK))
                conn.out += _BLOCK[:take]
                conn.source_left -= take
            try:
                sent = conn.sock.send(conn.out)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._drop(conn)
                return
            del conn.out[:sent]
        if conn.close_when_flushed:
            self._drop(conn)

    def _drop(self, conn: _Conn) -> None:
        with self._lock:
            if self._conns.pop(conn.sock.fileno(), None) is None:
                return
        try:
            self._sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()


def source_pattern(n: int) -> bytes:
    """The first ``n`` bytes a SOURCE upstream sends."""
    reps = n // len(_BLOCK) + 1
    return (_BLOCK * reps)[:n]


# -- client helpers --------------------------------------------------------------------------
class Ending(enum.Enum):
    """How a client saw a connection end."""

    EOF = "eof"
    RESET = "reset"


def parse_addr(listen: str) -> Address:
    """Turn a proxy's ``listen`` (``127.0.0.1:N``, ``[::]:N``) into an address to dial on 127.0.0.1."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in ("", "::", "0.0.0.0", "localhost"):
        host = "127.0.0.1"
    return host, int(port)


def connect(addr: Address, timeout_s: float = 5.0) -> socket.socket:
    """A connected client socket with TCP_NODELAY and a default timeout."""
    sock = socket.create_connection(addr, timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def refuses(addr: Address) -> bool:
    """True when a connect to ``addr`` is refused (nothing listens)."""
    try:
        socket.create_connection(addr, timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def recv_exact(sock: socket.socket, n: int, timeout_s: float = 5.0) -> bytes:
    """Read exactly ``n`` bytes or raise AssertionError saying how many arrived."""
    deadline = time.monotonic() + timeout_s
    buf = bytearray()
    while len(buf) < n:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(n - len(buf))
        except TimeoutError:
            raise AssertionError(f"got {len(buf)} of {n} bytes within {timeout_s}s") from None
        if not chunk:
            raise AssertionError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def read_to_end(sock: socket.socket, timeout_s: float = 5.0) -> tuple[bytes, Ending]:
    """Read until EOF or RST; raise AssertionError if the connection is still open at the deadline."""
    deadline = time.monotonic() + timeout_s
    buf = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"connection still open after {timeout_s}s ({len(buf)} bytes read)")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return bytes(buf), Ending.RESET
        if not chunk:
            return bytes(buf), Ending.EOF
        buf += chunk


def stays_open(sock: socket.socket, duration_s: float) -> bool:
    """True when nothing (no data, no EOF, no RST) arrives on ``sock`` for ``duration_s``."""
    sock.settimeout(duration_s)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except TimeoutError:
        return True
    except OSError:
        return False
    return False


def round_trip_ms(sock: socket.socket, payload: bytes = b"ping", timeout_s: float = 5.0) -> float:
    """Send ``payload`` to an echo path and time until all of it is back, in milliseconds."""
    start = time.perf_counter()
    sock.sendall(payload)
    got = recv_exact(sock, len(payload), timeout_s)
    elapsed_ms = (time.perf_counter() - start) * 1000.0
    assert got == payload, f"echo returned {got!r}, sent {payload!r}"
    return elapsed_ms


def _set_linger_zero(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass


def abort(sock: socket.socket) -> None:
    """Close ``sock`` with an RST, as a client that vanishes would."""
    _set_linger_zero(sock)
    sock.close()

