"""All proxies of the server (Go's ProxyCollection): add, get, remove, populate and reset."""
from __future__ import annotations

import random
from dataclasses import dataclass

from . import errors, gojson
from .gojson import Field
from .proxy import Proxy

PROXY_FIELDS = [Field("name", "string", "name"), Field("listen", "string", "listen"),
                Field("upstream", "string", "upstream"), Field("enabled", "bool", "enabled")]
POPULATE_FIELDS = PROXY_FIELDS[:3] + [Field("enabled", "*bool", "enabled")]


@dataclass
class ProxyInput:
    """A decoded proxy request body (create, update or one populate entry)."""

    name: str = ""
    listen: str = ""
    upstream: str = ""
    enabled: bool | None = True


def decode_proxy(body: bytes, defaults: ProxyInput) -> ProxyInput:
    """Decode a proxy body over `defaults`; raises the Go-worded 400 on a bad body."""
    try:
        value = gojson.decode_first(body)
    except gojson.DecodeError as exc:
        raise errors.BAD_REQUEST_BODY.joined(str(exc)) from None
    if value is not None and not gojson.is_object(value):
        raise errors.BAD_REQUEST_BODY.joined(
            f"json: cannot unmarshal {gojson.json_kind(value)} into Go value of type toxiproxy.Proxy")
    err = gojson.decode_into(value, PROXY_FIELDS, defaults, "Proxy")
    if err:
        raise errors.BAD_REQUEST_BODY.joined(err)
    return defaults


POPULATE_GO_TYPE = ('[]struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }')


class ProxyCollection:
    """Named proxies; every mutation of the set happens on the event loop."""

    def __init__(self) -> None:
        self.proxies: dict[str, Proxy] = {}

    def get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise errors.PROXY_NOT_FOUND
        return proxy

    async def create(self, body: bytes) -> Proxy:
        data = decode_proxy(body, ProxyInput())
        if not data.name:
            raise errors.MISSING_FIELD.joined("name")
        if not data.upstream:
            raise errors.MISSING_FIELD.joined("upstream")
        if data.name in self.proxies:
            raise errors.PROXY_ALREADY_EXISTS
        proxy = Proxy(data.name, data.listen, data.upstream)
        if data.enabled:
            await proxy.start()
        if data.name in self.proxies:  # raced with another create while binding
            proxy.stop()
            raise errors.PROXY_ALREADY_EXISTS
        self.proxies[data.name] = proxy
        return proxy

    async def update(self, name: str, body: bytes) -> Proxy:
        proxy = self.get(name)
        data = decode_proxy(body, ProxyInput(listen=proxy.listen, upstream=proxy.upstream,
                                             enabled=proxy.enabled))
        await proxy.update(data.listen, data.upstream, bool(data.enabled))
        return proxy

    def remove(self, name: str) -> None:
        proxy = self.get(name)
        proxy.stop()
        del self.proxies[name]

    async def populate(self, body: bytes) -> tuple[list[Proxy], errors.ApiError | None]:
        """Apply a /populate array in order; returns the proxies done and the first error, if any."""
        try:
            value = gojson.decode_first(body)
        except gojson.DecodeError as exc:
            return [], errors.BAD_REQUEST_BODY.joined(str(exc))
        if value is not None and not isinstance(value, list) or gojson.is_object(value):
            return [], errors.BAD_REQUEST_BODY.joined(
                f"json: cannot unmarshal {gojson.json_kind(value)} into Go value of type {POPULATE_GO_TYPE}")
        entries: list[ProxyInput] = []
        first_error: str | None = None
        for item in value or []:
            entry = ProxyInput(enabled=None)
            if item is not None and not gojson.is_object(item):
                first_error = first_error or (
                    f"json: cannot unmarshal {gojson.json_kind(item)} into Go value of type "
                    'struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }')
            else:
                err = gojson.decode_into(item, POPULATE_FIELDS, entry, "")
                first_error = first_error or err
            entries.append(entry)
        if first_error:
            return [], errors.BAD_REQUEST_BODY.joined(first_error)
        for index, entry in enumerate(entries, start=1):
            if not entry.name:
                return [], errors.MISSING_FIELD.joined(f"name at proxy {index}")
            if not entry.upstream:
                return [], errors.MISSING_FIELD.joined(f"upstream at proxy {index}")
        done: list[Proxy] = []
        for entry in entries:
            try:
                done.append(await self._add_or_replace(entry))
            except errors.ApiError as exc:
                return done, exc
        return done, None

    async def _add_or_replace(self, entry: ProxyInput) -> Proxy:
        existing = self.proxies.get(entry.name)
        if existing is not None:
            if not existing.differs(entry.listen, entry.upstream):
                return existing
            existing.stop()
        proxy = Proxy(entry.name, entry.listen, entry.upstream)
        if entry.enabled is None or entry.enabled:
            await proxy.start()
        self.proxies[entry.name] = proxy
        return proxy

    async def reset(self) -> None:
        """Re-enable every proxy and remove all toxics, in random order like a Go map walk."""
        proxies = list(self.proxies.values())
        random.shuffle(proxies)
        for proxy in proxies:
            await proxy.start()
            await proxy.toxics.reset()

    def stop_all(self) -> None:
        for proxy in self.proxies.values():
            proxy.stop()
