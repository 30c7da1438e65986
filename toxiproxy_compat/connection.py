"""One proxied TCP connection: the client socket, the upstream socket and the two links between them.

The client is accepted, the upstream is dialled (a failed dial closes the client at once), then
the upstream link (client -> upstream) and the downstream link (upstream -> client) start with
the toxics present at that moment. Half-close is not propagated: when either link's close reaches
its writer, the destination socket is fully closed and the other link sees its source end, so
both sockets go (Toxiproxy link.go). If a reset_peer toxic is present at creation, both sockets
get SO_LINGER 0 and every later close is an RST.

While the upstream is being resolved and dialled (resolver.open_upstream) the client is read
until its first data: a client that goes away before sending anything (EOF or reset) abandons
the pending lookup and dial at once, so a flood of short-lived connects while the upstream is down
holds no more sockets than there are live clients. At most MAX_PENDING_DIALS dials of one proxy
are pending at a time; a client beyond that is closed at once, like a failed dial.
"""
from __future__ import annotations

import asyncio
import socket
import struct
from typing import TYPE_CHECKING, Any

from . import logs
from .link import Link
from .resolver import open_upstream

if TYPE_CHECKING:
    from .proxy import Proxy

WRITE_HIGH_WATER = 1024 * 1024
CLOSE_GRACE_S = 5.0
MAX_PENDING_DIALS = 1024


class SideProtocol(asyncio.Protocol):
    """asyncio protocol of one socket: source of one link and destination of the other."""

    def __init__(self, conn: "Connection | None" = None) -> None:
        self.conn = conn
        self.transport: Any = None
        self.out_link: Link | None = None
        self.in_link: Link | None = None
        self.closing = False
        self.lost = False
        # Data and EOF that arrive before the links exist. Python < 3.11.5 adds the socket reader
        # after connection_made even when reading was paused there, so it can arrive early.
        self.early: list[bytes] = []
        self.early_eof = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        link = self.out_link
        if link is not None:
            link.on_data(data)
            return
        self.early.append(data)
        if self.transport is not None and not self.closing:
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        if self.out_link is not None:
            self.out_link.feed_eof()
        else:
            self.early_eof = True
        return True

    def flush_early(self) -> None:
        """Hand data (and an EOF) that arrived before the links started to the outgoing link."""
        link = self.out_link
        early, self.early = self.early, []
        if link is None:
            return
        for chunk in early:
            link.on_data(chunk)
        if self.early_eof:
            link.feed_eof()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.closing = True
        if self.in_link is not None and self.in_link._drained is not None:
            self.in_link.set_dst_paused(False)
        if self.out_link is not None:
            self.out_link.feed_eof()
        else:
            # Lost (say an RST) before the links exist: the outgoing link must still see its source
            # end after the early data, or the other socket would stay open forever.
            self.early_eof = True
        if self.conn is not None:
            self.conn.side_lost()

    def pause_writing(self) -> None:
        if self.in_link is not None:
            self.in_link.set_dst_paused(True)

    def resume_writing(self) -> None:
        if self.in_link is not None:
            self.in_link.set_dst_paused(False)

    def set_reading(self, on: bool) -> None:
        transport = self.transport
        if transport is None or self.closing:
            return
        if on:
            transport.resume_reading()
        else:
            transport.pause_reading()

    def set_linger_zero(self) -> None:
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass

    def close(self) -> None:
        if self.closing or self.transport is None:
            self.closing = True
            return
        self.closing = True
        self.transport.close()
        if not self.lost:
            asyncio.get_running_loop().call_later(CLOSE_GRACE_S, self._force)

    def _force(self) -> None:
        if not self.lost and self.transport is not None:
            self.transport.abort()


class ClientProtocol(SideProtocol):
    """The accepted client side; creating it starts the upstream dial."""

    def __init__(self, proxy: "Proxy") -> None:
        super().__init__()
        self.proxy = proxy

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        # Reading stays on while the upstream is dialled, to notice a client that leaves before
        # sending anything; its first data pauses reading until the links exist (`early`).
        self.conn = Connection(self.proxy, self)

    def eof_received(self) -> bool:
        conn = self.conn
        if conn is not None and conn.dialing() and not self.early:
            conn.abandon("client closed before the upstream connected")
            return True
        return super().eof_received()


class Connection:
    """A client/upstream socket pair with its two links."""

    def __init__(self, proxy: "Proxy", client: ClientProtocol) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream: SideProtocol | None = None
        self.links: list[Link] = []
        self.closed = False
        proxy.connections.add(self)
        peer = client.transport.get_extra_info("peername")
        self.name = f"{peer[0]}:{peer[1]}" if peer else "?"
        if logs.THRESHOLD <= logs.LEVELS["info"]:
            logs.log("info", "Accepted client", name=proxy.name, client=self.name,
                     proxy=proxy.listen, upstream=proxy.upstream)
        self.dial_task: asyncio.Task[None] | None = None
        if proxy.pending_dials >= MAX_PENDING_DIALS:
            logs.log("error", "Unable to open connection to upstream", name=proxy.name,
                     client=self.name, upstream=proxy.upstream,
                     error=f"too many pending dials ({MAX_PENDING_DIALS})")
            self.abort()
            return
        proxy.pending_dials += 1
        self.dial_task = asyncio.get_running_loop().create_task(self._dial())
        # A callback, not a finally: a task cancelled before its first step never runs its body.
        self.dial_task.add_done_callback(self._dial_done)

    def _dial_done(self, _task: "asyncio.Task[None]") -> None:
        self.proxy.pending_dials -= 1

    def dialing(self) -> bool:
        return self.dial_task is not None and self.upstream is None and not self.closed

    def abandon(self, why: str) -> None:
        """The client left while the upstream was being dialled: stop the lookup and the dial."""
        if logs.THRESHOLD <= logs.LEVELS["debug"]:
            logs.log("debug", "Abandoned upstream dial", name=self.proxy.name, client=self.name,
                     upstream=self.proxy.upstream, reason=why)
        self.abort()

    async def _dial(self) -> None:
        try:
            host, port = self.proxy.upstream_target()
            _, upstream = await open_upstream(lambda: SideProtocol(self), host, port)
        except asyncio.CancelledError:
            return
        except Exception as exc:
            logs.log("error", "Unable to open connection to upstream", name=self.proxy.name,
                     client=self.name, upstream=self.proxy.upstream, error=str(exc))
            self.abort()
            return
        finally:
            self.dial_task = None
        if self.closed:
            upstream.transport.close()
            return
        self.upstream = upstream
        self._start_links()

    def _start_links(self) -> None:
        client, upstream = self.client, self.upstream
        assert upstream is not None
        toxics = self.proxy.toxics
        up = Link(self, "upstream", client, upstream)
        down = Link(self, "downstream", upstream, client)
        client.out_link, client.in_link = up, down
        upstream.out_link, upstream.in_link = down, up
        self.links = [up, down]
        up_chain, down_chain = toxics.chain["upstream"], toxics.chain["downstream"]
        if any(w.type == "reset_peer" for w in up_chain + down_chain):
            client.set_linger_zero()
            upstream.set_linger_zero()
        toxics.register(up, down)
        up.start(list(up_chain))
        down.start(list(down_chain))
        client.flush_early()
        upstream.flush_early()
        client.set_reading(not up.src_paused)
        upstream.set_reading(not down.src_paused)
        if upstream.lost:
            down.feed_eof()

    def link_finished(self, link: Link) -> None:
        """A link's close reached its writer: close its destination; the other link's source ends."""
        link.dst.close()
        other = self.links[1] if link is self.links[0] else self.links[0]
        other.feed_eof()
        if all(l.finished for l in self.links):
            self._teardown()

    def side_lost(self) -> None:
        if self.dialing():
            self.abandon("client lost before the upstream connected")
        elif self.upstream is None and self.dial_task is None:
            self._teardown()
        elif self.links and all(l.finished for l in self.links):
            self._teardown()

    def _teardown(self) -> None:
        if self.closed:
            return
        self.closed = True
        for link in self.links:
            link.cancel()
        if self.links:
            self.proxy.toxics.unregister(*self.links)
        self.proxy.connections.discard(self)

    def abort(self) -> None:
        """Close both sockets now (proxy stop/delete, failed dial) and stop every task."""
        if self.dial_task is not None:
            self.dial_task.cancel()
        self.client.close()
        if self.upstream is not None:
            self.upstream.close()
        for link in self.links:
            link.eof_fed = link.finished = True
        self._teardown()
