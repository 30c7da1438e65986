"""Upstream name resolution that never queues a new connection behind stalled lookups (issue 14).

asyncio's own `create_connection(host, port)` resolves in the loop's default executor: at most
min(32, cores + 4) threads, first come first served. While an upstream container is stopped its
Docker alias does not resolve and some lookups stall for seconds, so under a flood of connects the
executor fills with them and connections that arrive after the upstream is back wait behind them.

Here each lookup runs in its own daemon thread (never the default executor) and:
  * concurrent resolutions of one host are merged into one in-flight lookup (like Go's
    singleflight), but only while that lookup is fresh (`FRESH_S`): a caller arriving later starts
    a new lookup, so it never inherits a lookup that began before the upstream came back;
  * when a lookup succeeds, the callers waiting on it and on every older lookup of that host get
    its answer at once (an older stalled lookup is not waited for);
  * a caller waits at most `LOOKUP_TIMEOUT_S`; a caller that is cancelled (its client went away)
    stops waiting at once and nobody waits for its lookup's thread;
  * at most `MAX_THREADS_PER_HOST` / `MAX_THREADS` lookups run at a time; beyond that a caller
    joins the newest lookup of its host (or fails at once if its host has none).
Nothing is cached: every connection's lookup starts at or after its arrival, or joins one that
started at most FRESH_S before it (a restarted container may come back with a new address).

`TOXIPROXY_COMPAT_RESOLVER=executor` restores the previous behaviour (asyncio resolves in its
default executor); it exists only so that the recovery benchmark can measure both side by side.
"""
from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

LOOKUP_TIMEOUT_S = 5.0
FRESH_S = 0.1
MAX_THREADS_PER_HOST = 64
MAX_THREADS = 256
MODE_ENV = "TOXIPROXY_COMPAT_RESOLVER"

Addr = tuple[int, str]  # (address family, numeric IP)


def getaddrinfo_lookup(host: str) -> list[Addr]:
    """The system resolver (blocking): the host's TCP addresses in getaddrinfo's order."""
    seen: list[Addr] = []
    for family, _type, _proto, _name, sockaddr in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM):
        if family in (socket.AF_INET, socket.AF_INET6):
            addr = (int(family), str(sockaddr[0]))
            if addr not in seen:
                seen.append(addr)
    return seen


class _Lookup:
    """One running lookup of one host and the callers waiting for its answer."""

    __slots__ = ("host", "started", "waiters")

    def __init__(self, host: str, started: float) -> None:
        self.host = host
        self.started = started
        self.waiters: list[asyncio.Future[list[Addr]]] = []


class Resolver:
    """Merged, bounded, abandonable host lookups for one event loop (see the module docstring)."""

    def __init__(self, lookup: Callable[[str], list[Addr]] = getaddrinfo_lookup, *,
                 timeout_s: float = LOOKUP_TIMEOUT_S, fresh_s: float = FRESH_S,
                 max_threads_per_host: int = MAX_THREADS_PER_HOST, max_threads: int = MAX_THREADS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._lookup = lookup
        self.timeout_s = timeout_s
        self.fresh_s = fresh_s
        self.max_threads_per_host = max_threads_per_host
        self.max_threads = max_threads
        self._clock = clock
        self._inflight: dict[str, list[_Lookup]] = {}  # per host, oldest first
        self.threads = 0
        self.started = 0  # lookups started so far (for tests and diagnostics)

    def waiting(self) -> int:
        """Callers currently waiting for an answer."""
        return sum(len(l.waiters) for ls in self._inflight.values() for l in ls)

    async def resolve(self, host: str) -> list[Addr]:
        """The addresses of `host`; OSError with Go-like wording when it fails or takes too long."""
        loop = asyncio.get_running_loop()
        lookup = self._join_or_start(host, loop)
        fut: asyncio.Future[list[Addr]] = loop.create_future()
        lookup.waiters.append(fut)
        timer = loop.call_later(self.timeout_s, _fail, fut, OSError(f"lookup {host}: i/o timeout"))
        try:
            return await fut
        finally:
            timer.cancel()
            if fut in lookup.waiters:  # timed out or cancelled: stop waiting, the thread runs on
                lookup.waiters.remove(fut)

    def _join_or_start(self, host: str, loop: asyncio.AbstractEventLoop) -> _Lookup:
        now = self._clock()
        running = self._inflight.get(host)
        newest = running[-1] if running else None
        if newest is not None:
            full = len(running) >= self.max_threads_per_host or self.threads >= self.max_threads  # type: ignore[arg-type]
            if full or now - newest.started < self.fresh_s:
                return newest
        elif self.threads >= self.max_threads:
            raise OSError(f"lookup {host}: too many lookups in flight")
        lookup = _Lookup(host, now)
        self._inflight.setdefault(host, []).append(lookup)
        self.threads += 1
        self.started += 1
        thread = threading.Thread(target=self._run, args=(lookup, loop), daemon=True,
                                  name=f"lookup {host}")
        try:
            thread.start()
        except RuntimeError:  # cannot start a thread (resource limit): fail this caller only
            self._done(lookup)
            raise OSError(f"lookup {host}: cannot start a lookup thread") from None
        return lookup

    def _run(self, lookup: _Lookup, loop: asyncio.AbstractEventLoop) -> None:
        result: list[Addr] | None = None
        error: OSError | None = None
        try:
            result = self._lookup(lookup.host)
            if not result:
                error = OSError(f"lookup {lookup.host}: no such host")
        except socket.gaierror:
            error = OSError(f"lookup {lookup.host}: no such host")
        except Exception as exc:  # noqa: BLE001 - any failure of the lookup fails its callers
            error = OSError(f"lookup {lookup.host}: {exc}")
        try:
            loop.call_soon_threadsafe(self._finish, lookup, result, error)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    def _done(self, lookup: _Lookup) -> None:
        running = self._inflight.get(lookup.host, [])
        if lookup in running:
            running.remove(lookup)
            self.threads -= 1
        if not running:
            self._inflight.pop(lookup.host, None)

    def _finish(self, lookup: _Lookup, result: list[Addr] | None, error: OSError | None) -> None:
        running = self._inflight.get(lookup.host, [])
        older = running[:running.index(lookup)] if lookup in running else []
        self._done(lookup)
        if error is not None:
            for fut in lookup.waiters:
                _fail(fut, error)
            lookup.waiters = []
            return
        # A success answers this lookup's callers and those of every older, still running lookup.
        for each in [*older, lookup]:
            for fut in each.waiters:
                if not fut.done():
                    fut.set_result(list(result or ()))
            each.waiters = []


def _fail(fut: asyncio.Future[Any], error: OSError) -> None:
    if not fut.done():
        fut.set_exception(error)


_RESOLVERS: dict[asyncio.AbstractEventLoop, Resolver] = {}


def default_resolver() -> Resolver:
    """The running loop's resolver (one per loop)."""
    loop = asyncio.get_running_loop()
    resolver = _RESOLVERS.get(loop)
    if resolver is None:
        for stale in [l for l in _RESOLVERS if l.is_closed()]:
            del _RESOLVERS[stale]
        resolver = _RESOLVERS[loop] = Resolver()
    return resolver


def executor_mode() -> bool:
    """True when TOXIPROXY_COMPAT_RESOLVER=executor asks for the pre-issue-14 behaviour."""
    return os.environ.get(MODE_ENV, "").strip().lower() == "executor"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def open_upstream(factory: Callable[[], asyncio.Protocol], host: str, port: int,
                        resolver: Resolver | None = None) -> tuple[asyncio.Transport, Any]:
    """Dial host:port like asyncio's create_connection (addresses tried in order), resolving via
    the merged resolver. Cancelling it (the client went away) abandons the lookup and the dial."""
    loop = asyncio.get_running_loop()
    if executor_mode() or _is_ip(host):
        return await loop.create_connection(factory, host, port)  # type: ignore[return-value]
    addrs = await (resolver or default_resolver()).resolve(host)
    last: OSError | None = None
    for _family, ip in addrs:
        try:
            # A numeric host: asyncio takes it as is, without its executor.
            return await loop.create_connection(factory, ip, port)  # type: ignore[return-value]
        except OSError as exc:
            last = exc
    assert last is not None
    raise last
