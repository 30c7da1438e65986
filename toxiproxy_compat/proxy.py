"""One proxy: its listen/upstream addresses, its listener, its live connections and its toxics.

Mirrors proxy.go: `start` binds the listen address (the JSON then shows the bound address),
`stop` closes the listener and every client and upstream socket, `update` restarts the proxy
when the resolved listen address or the upstream string differs, then applies `enabled`.
"""
from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from . import logs
from .addresses import AddrError, lookup_port, open_listener, resolve_tcp, split_host_port
from .connection import ClientProtocol
from .errors import RawError
from .gojson import go_string
from .toxic_collection import ToxicCollection

if TYPE_CHECKING:
    from .connection import Connection

LISTEN_BACKLOG = 4096


class Proxy:
    """A named TCP proxy (Go's Proxy)."""

    def __init__(self, name: str, listen: str, upstream: str) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics = ToxicCollection()
        self.connections: set["Connection"] = set()
        self.server: asyncio.base_events.Server | None = None
        self._target: tuple[str, str, int] | None = None
        self.pending_dials = 0  # connections whose upstream is being resolved or dialled

    def to_json(self) -> str:
        return (f'{{"name":{go_string(self.name)},"listen":{go_string(self.listen)},'
                f'"upstream":{go_string(self.upstream)},"enabled":{json.dumps(self.enabled)},'
                f'"Logger":{{}},"toxics":{self.toxics.to_json()}}}')

    def upstream_target(self) -> tuple[str, int]:
        """Host and port to dial, parsed once per upstream string (Go dials the string each time)."""
        cached = self._target
        if cached is not None and cached[0] == self.upstream:
            return cached[1], cached[2]
        try:
            host, port_text = split_host_port(self.upstream)
            port = lookup_port(port_text)
        except AddrError as exc:
            raise OSError(f"dial tcp: {exc}") from None
        self._target = (self.upstream, host or "localhost", port)
        return self._target[1], self._target[2]

    async def start(self) -> None:
        """Listen now; raises RawError(500) worded like Go's net.Listen error."""
        if self.enabled:
            return
        sock, bound = open_listener(self.listen, LISTEN_BACKLOG)
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: ClientProtocol(self), sock=sock,
                                               backlog=LISTEN_BACKLOG)
        self.listen = bound
        self.enabled = True
        logs.log("info", "Started proxy", name=self.name, proxy=self.listen, upstream=self.upstream)

    def stop(self) -> None:
        """Close the listener (new connects are refused) and every connection of this proxy."""
        if self.server is not None:
            self.server.close()
            self.server = None
        was = self.enabled
        self.enabled = False
        for conn in list(self.connections):
            conn.abort()
        if was:
            logs.log("info", "Terminated proxy", name=self.name, proxy=self.listen, upstream=self.upstream)

    def differs(self, listen: str, upstream: str) -> bool:
        """Go's Differs: resolved new listen vs current listen string, or a different upstream."""
        try:
            resolved = resolve_tcp(listen)
        except AddrError as exc:
            raise RawError(str(exc)) from None
        return self.listen != str(resolved) or self.upstream != upstream

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """Apply a PATCH: restart on a listen/upstream change, then start or stop for `enabled`."""
        if self.differs(listen, upstream):
            self.stop()
            self.listen = listen
            self.upstream = upstream
        if enabled != self.enabled:
            if enabled:
                await self.start()
            else:
                self.stop()
