"""Toxic types: attributes (all default 0, like Go's reflect.New), validation and runtime behaviour.

Each type mirrors a file of the real server's `toxics/` package. `pipe(stub)` is the per-link
coroutine (the Go `Pipe`): it reads chunks with `stub.recv()`, which returns a chunk, `None` at
end of stream, or `INTERRUPTED`; it forwards with `stub.send()` (never interrupted) and waits
with `stub.sleep()` (returns False when interrupted). Attribute values are read on every pass,
so an in-place update is seen by running links.
"""
from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any, ClassVar

from .errors import ApiError
from .gojson import Field

if TYPE_CHECKING:
    from .link import Stub

INTERRUPTED = object()


class Toxic:
    """Base: a toxic's attributes plus its Pipe; subclasses declare FIELDS and STRUCT."""

    FIELDS: ClassVar[tuple[Field, ...]] = ()
    STRUCT: ClassVar[str] = "NoopToxic"
    BUFFER: ClassVar[int] = 1  # Go's unbuffered channel, modelled as a one-slot queue
    STATEFUL: ClassVar[bool] = False
    HAS_CLEANUP: ClassVar[bool] = False

    def __init__(self) -> None:
        for field in self.FIELDS:
            setattr(self, field.attr, 0)

    def attributes(self) -> list[tuple[str, int]]:
        return [(f.json_name, getattr(self, f.attr)) for f in self.FIELDS]

    def copy(self) -> "Toxic":
        clone = type(self)()
        for field in self.FIELDS:
            setattr(clone, field.attr, getattr(self, field.attr))
        return clone

    def assign_from(self, other: "Toxic") -> None:
        for field in self.FIELDS:
            setattr(self, field.attr, getattr(other, field.attr))

    def validate(self) -> None:
        """Raise ApiError(400) for inputs that crash the real server (a documented divergence)."""

    def new_state(self) -> Any:
        return None

    def cleanup(self, stub: "Stub") -> None:
        """Called when the toxic is removed from a live link (only timeout has one)."""

    async def pipe(self, stub: "Stub") -> None:
        await noop_pipe(stub)


async def noop_pipe(stub: "Stub") -> None:
    """Pass every chunk through unchanged (Go's NoopToxic)."""
    while True:
        chunk = await stub.recv()
        if chunk is INTERRUPTED:
            return
        if chunk is None:
            stub.close()
            return
        await stub.send(chunk)


class NoopToxic(Toxic):
    STRUCT = "NoopToxic"


class LatencyToxic(Toxic):
    """Delay each chunk by latency ± jitter ms from its arrival time (pipelined, order kept)."""

    FIELDS = (Field("latency", "int64", "latency"), Field("jitter", "int64", "jitter"))
    STRUCT = "LatencyToxic"
    BUFFER = 1024

    def delay_ms(self) -> int:
        delay = self.latency
        if self.jitter > 0:
            delay += random.randrange(self.jitter * 2) - self.jitter
        return delay

    async def pipe(self, stub: "Stub") -> None:
        loop = asyncio.get_running_loop()
        while True:
            chunk = await stub.recv()
            if chunk is INTERRUPTED:
                return
            if chunk is None:
                stub.close()
                return
            sleep = self.delay_ms() / 1000.0 - (loop.time() - chunk.ts)
            completed = await stub.sleep(sleep)
            chunk.ts += sleep
            await stub.send(chunk)
            if not completed:
                return


class BandwidthToxic(Toxic):
    """Limit to `rate` bytes per millisecond, cutting big chunks into rate*100-byte pieces per 100 ms."""

    FIELDS = (Field("rate", "int64", "rate"),)
    STRUCT = "BandwidthToxic"

    def validate(self) -> None:
        if self.rate < 0:
            raise ApiError("bandwidth rate must not be negative "
                           "(the real server crashes on a negative rate)", 400)

    async def pipe(self, stub: "Stub") -> None:
        loop = asyncio.get_running_loop()
        sleep = 0.0
        while True:
            chunk = await stub.recv()
            if chunk is INTERRUPTED:
                return
            if chunk is None:
                stub.close()
                return
            rate = self.rate
            sleep = 0.0 if rate <= 0 else sleep + len(chunk.data) / rate / 1000.0
            piece = rate * 100
            while len(chunk.data) > piece:
                if not await stub.sleep(0.1):
                    await stub.send(chunk)
                    return
                await stub.send(stub.make_chunk(chunk.data[:piece], chunk.ts))
                chunk.data = chunk.data[piece:]
                sleep -= 0.1
            start = loop.time()
            if not await stub.sleep(sleep):
                await stub.send(chunk)
                return
            sleep -= loop.time() - start
            await stub.send(chunk)


class SlowCloseToxic(Toxic):
    """Pass data through; delay the close that reaches it by `delay` ms."""

    FIELDS = (Field("delay", "int64", "delay"),)
    STRUCT = "SlowCloseToxic"

    async def pipe(self, stub: "Stub") -> None:
        while True:
            chunk = await stub.recv()
            if chunk is INTERRUPTED:
                return
            if chunk is None:
                if await stub.sleep(self.delay / 1000.0):
                    stub.close()
                return
            await stub.send(chunk)


class TimeoutToxic(Toxic):
    """Drop all data; with timeout > 0 close after that many ms without a chunk; removal closes."""

    FIELDS = (Field("timeout", "int64", "timeout"),)
    STRUCT = "TimeoutToxic"
    HAS_CLEANUP = True

    async def pipe(self, stub: "Stub") -> None:
        while True:
            timeout = self.timeout
            if timeout > 0:
                chunk = await stub.recv(timeout / 1000.0)
                if chunk is TimeoutError:
                    stub.close()
                    return
            else:
                chunk = await stub.recv()
            if chunk is INTERRUPTED:
                return
            if chunk is None:
                stub.close()
                return

    def cleanup(self, stub: "Stub") -> None:
        stub.close()


class ResetPeerToxic(Toxic):
    """On the first chunk (or EOF): drop it, sleep `timeout` ms uninterruptibly, then close."""

    FIELDS = (Field("timeout", "int64", "timeout"),)
    STRUCT = "ResetToxic"

    async def pipe(self, stub: "Stub") -> None:
        chunk = await stub.recv()
        if chunk is INTERRUPTED:
            return
        if self.timeout > 0:
            await asyncio.sleep(self.timeout / 1000.0)
        stub.close()


class SlicerToxic(Toxic):
    """Split each chunk by recursive halving around average_size ± size_variation, `delay` µs apart."""

    FIELDS = (Field("average_size", "int", "average_size"), Field("size_variation", "int", "size_variation"),
              Field("delay", "int", "delay"))
    STRUCT = "SlicerToxic"

    def validate(self) -> None:
        if self.average_size + self.size_variation < 1:
            raise ApiError("slicer average_size + size_variation must be at least 1 "
                           "(the real server overflows its stack on this input)", 400)
        if self.size_variation > self.average_size:
            raise ApiError("slicer size_variation must not exceed average_size "
                           "(the real server panics on this input)", 400)

    def offsets(self, start: int, end: int) -> list[int]:
        out: list[int] = []
        spans = [(start, end)]
        avg, var = self.average_size, self.size_variation
        while spans:
            lo, hi = spans.pop()
            if (hi - lo) - avg <= var:
                out.append(lo)
                out.append(hi)
                continue
            mid = lo + (hi - lo) // 2
            if var > 0:
                mid += random.randrange(var * 2) - var
            mid = min(max(mid, lo), hi)
            spans.append((mid, hi))
            spans.append((lo, mid))
        return out

    async def pipe(self, stub: "Stub") -> None:
        while True:
            chunk = await stub.recv()
            if chunk is INTERRUPTED:
                return
            if chunk is None:
                stub.close()
                return
            marks = self.offsets(0, len(chunk.data))
            for i in range(1, len(marks), 2):
                await stub.send(stub.make_chunk(chunk.data[marks[i - 1]:marks[i]], chunk.ts))
                if not await stub.sleep(self.delay / 1_000_000.0):
                    if marks[i] < len(chunk.data):
                        await stub.send(stub.make_chunk(chunk.data[marks[i]:], chunk.ts))
                    return


class LimitDataState:
    """Bytes forwarded on one link; survives updates and re-rolls."""

    __slots__ = ("transmitted",)

    def __init__(self) -> None:
        self.transmitted = 0


class LimitDataToxic(Toxic):
    """Forward at most `bytes` bytes (truncating the crossing chunk), then close."""

    FIELDS = (Field("bytes", "int64", "bytes"),)
    STRUCT = "LimitDataToxic"
    STATEFUL = True

    def new_state(self) -> LimitDataState:
        return LimitDataState()

    async def pipe(self, stub: "Stub") -> None:
        state: LimitDataState = stub.state
        remaining = self.bytes - state.transmitted
        while True:
            chunk = await stub.recv()
            if chunk is INTERRUPTED:
                return
            if chunk is None:
                stub.close()
                return
            remaining = max(remaining, 0)
            if remaining < len(chunk.data):
                chunk = stub.make_chunk(chunk.data[:remaining], chunk.ts)
            if chunk.data:
                await stub.send(chunk)
                state.transmitted += len(chunk.data)
            remaining = self.bytes - state.transmitted
            if remaining <= 0:
                stub.close()
                return


REGISTRY: dict[str, type[Toxic]] = {
    "latency": LatencyToxic,
    "bandwidth": BandwidthToxic,
    "slow_close": SlowCloseToxic,
    "timeout": TimeoutToxic,
    "reset_peer": ResetPeerToxic,
    "slicer": SlicerToxic,
    "limit_data": LimitDataToxic,
    "noop": NoopToxic,
}
