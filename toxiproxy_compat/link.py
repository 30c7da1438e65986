"""One direction of one connection: a fast path, or a chain of toxic stubs when toxics are present.

Fast path (no toxics): bytes read from the source transport are written straight to the
destination transport; flow control pauses the source while the destination is above its
high-water mark. Toxic path: each read becomes a `Chunk` stamped with its arrival time and goes
through `Chan`s between `Stub` tasks (one per toxic, Go's ToxicStub) to a writer task, exactly as the
real server's link.go chain. Adding, updating and removing toxics rewires live chains the way
link.go does (interrupt, flush, restart with a new toxicity roll); when the last toxic is gone and
the chain has drained, the link returns to the fast path. Bytes are never lost or reordered by a
switch because every hand-over happens synchronously on the event loop.
"""
from __future__ import annotations

import asyncio
import random
from collections import deque
from typing import TYPE_CHECKING, Any

from . import logs
from .toxics import INTERRUPTED, noop_pipe

if TYPE_CHECKING:
    from .connection import Connection, SideProtocol
    from .toxic_collection import ToxicWrapper


class Chunk:
    """A piece of stream data and the loop time it arrived (Go's StreamChunk)."""

    __slots__ = ("data", "ts")

    def __init__(self, data: bytes, ts: float) -> None:
        self.data = data
        self.ts = ts


class Chan:
    """A FIFO of chunks between two stages; `None` is end-of-stream, after which gets keep returning None."""

    __slots__ = ("buf", "capacity", "closed", "getter", "putters", "on_space")

    def __init__(self, capacity: int) -> None:
        self.buf: deque[Chunk | None] = deque()
        self.capacity = max(1, capacity)
        self.closed = False
        self.getter: asyncio.Future[Any] | None = None
        self.putters: deque[asyncio.Future[Any]] = deque()
        self.on_space: Any = None

    def ready(self) -> bool:
        return bool(self.buf) or self.closed

    def push(self, item: Chunk | None) -> None:
        """Append without waiting (used by readers and by flushes)."""
        self.buf.append(item)
        getter = self.getter
        if getter is not None:
            self.getter = None
            if not getter.done():
                getter.set_result(None)

    def pop(self) -> Chunk | None:
        if not self.buf:
            return None
        item = self.buf.popleft()
        if item is None:
            self.closed = True
        if len(self.buf) < self.capacity:
            while self.putters:
                putter = self.putters.popleft()
                if not putter.done():
                    putter.set_result(None)
                    break
            if self.on_space is not None:
                self.on_space()
        return item

    async def put(self, item: Chunk | None) -> None:
        while len(self.buf) >= self.capacity:
            fut = asyncio.get_running_loop().create_future()
            self.putters.append(fut)
            await fut
        self.push(item)


def _wake(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_result(None)


class Stub:
    """The per-link runner of one toxic (Go's ToxicStub): input, output, state, interrupt, close."""

    __slots__ = ("link", "wrapper", "input", "output", "state", "task", "closed", "_interrupted", "_waiter")

    def __init__(self, link: "Link", wrapper: "ToxicWrapper", inp: Chan, out: Chan) -> None:
        self.link = link
        self.wrapper = wrapper
        self.input = inp
        self.output = out
        self.state = wrapper.toxic.new_state()
        self.task: asyncio.Task[None] | None = None
        self.closed = False
        self._interrupted = False
        self._waiter: asyncio.Future[Any] | None = None

    @staticmethod
    def make_chunk(data: bytes, ts: float) -> Chunk:
        return Chunk(data, ts)

    def start(self) -> None:
        """Run the toxic, or a noop when the toxicity roll says so (re-rolled on every start)."""
        self._interrupted = False
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            if random.random() < self.wrapper.toxicity:
                await self.wrapper.toxic.pipe(self)
            else:
                await noop_pipe(self)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a toxic bug must not take the server down
            logs.log("error", "Toxic failed", toxic=self.wrapper.name, error=repr(exc))
            self.close()

    async def recv(self, timeout: float | None = None) -> Any:
        """Next chunk, None at end of stream, INTERRUPTED, or TimeoutError when `timeout` s pass idle."""
        inp = self.input
        loop = asyncio.get_running_loop()
        handle = None
        fired = False
        while True:
            if self._interrupted:
                result: Any = INTERRUPTED
                break
            if inp.buf or inp.closed:
                result = inp.pop()
                break
            if fired:
                result = TimeoutError
                break
            fut = loop.create_future()
            self._waiter = fut
            inp.getter = fut
            if timeout is not None and handle is None:
                handle = loop.call_later(timeout, _wake, fut)
            try:
                await fut
            finally:
                self._waiter = None
                if inp.getter is fut:
                    inp.getter = None
            if handle is not None and handle.when() <= loop.time():
                fired = True
        if handle is not None:
            handle.cancel()
        return result

    async def sleep(self, seconds: float) -> bool:
        """Sleep; False if interrupted before or during the sleep."""
        if self._interrupted:
            return False
        if seconds <= 0:
            return True
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._waiter = fut
        handle = loop.call_later(seconds, _wake, fut)
        try:
            await fut
        finally:
            handle.cancel()
            self._waiter = None
        return not self._interrupted

    async def send(self, chunk: Chunk) -> None:
        await self.output.put(chunk)

    def close(self) -> None:
        """End this stub's output (Go's stub.Close): the close travels on down the chain."""
        if not self.closed:
            self.closed = True
            self.output.push(None)

    async def interrupt(self) -> bool:
        """Stop the running toxic cooperatively; False when the stub is already closed."""
        if self.closed:
            return False
        self._interrupted = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        task = self.task
        if task is not None and not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if task.cancelled():
                    return False
                raise
        return not self.closed

    def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()


class Link:
    """One direction (source socket -> destination socket) of a proxied connection."""

    __slots__ = ("conn", "direction", "src", "dst", "stubs", "fast", "head", "tail", "writer",
                 "writer_idle", "eof_fed", "finished", "dst_paused", "head_full", "src_paused",
                 "_drained")

    def __init__(self, conn: "Connection", direction: str, src: "SideProtocol", dst: "SideProtocol") -> None:
        self.conn = conn
        self.direction = direction
        self.src = src
        self.dst = dst
        self.stubs: list[Stub] = []
        self.fast = True
        self.head: Chan | None = None
        self.tail: Chan | None = None
        self.writer: asyncio.Task[None] | None = None
        self.writer_idle: asyncio.Future[Any] | None = None
        self.eof_fed = False
        self.finished = False
        self.dst_paused = False
        self.head_full = False
        self.src_paused = False
        self._drained: asyncio.Future[Any] | None = None

    # ----- setup ---------------------------------------------------------------------------
    def start(self, wrappers: list["ToxicWrapper"]) -> None:
        """Build the chain for the toxics present when the connection was accepted."""
        if not wrappers:
            return
        self._enter_pipeline()
        out = self.tail
        assert out is not None
        chans = [Chan(w.toxic.BUFFER) for w in wrappers]
        for index, wrapper in enumerate(wrappers):
            nxt = chans[index + 1] if index + 1 < len(chans) else out
            self.stubs.append(Stub(self, wrapper, chans[index], nxt))
        self._set_head(chans[0])
        for stub in self.stubs:
            stub.start()

    def _enter_pipeline(self) -> None:
        self.fast = False
        self.tail = Chan(1)
        self._set_head(self.tail)
        self.writer = asyncio.get_running_loop().create_task(self._write_loop())
        self._update_reading()

    def _set_head(self, chan: Chan) -> None:
        if self.head is not None and self.head is not chan:
            self.head.on_space = None
        self.head = chan
        chan.on_space = self._on_head_space
        self.head_full = len(chan.buf) >= chan.capacity
        self._update_reading()

    # ----- reading side --------------------------------------------------------------------
    def on_data(self, data: bytes) -> None:
        if self.eof_fed:
            return
        if self.fast:
            dst = self.dst.transport
            if dst is not None and not self.dst.closing:
                dst.write(data)
            return
        head = self.head
        assert head is not None
        head.push(Chunk(data, asyncio.get_running_loop().time()))
        if len(head.buf) >= head.capacity and not self.head_full:
            self.head_full = True
            self._update_reading()

    def _on_head_space(self) -> None:
        head = self.head
        if self.head_full and head is not None and len(head.buf) < head.capacity:
            self.head_full = False
            self._update_reading()

    def set_dst_paused(self, paused: bool) -> None:
        self.dst_paused = paused
        if not paused and self._drained is not None:
            _wake(self._drained)
        self._update_reading()

    def _update_reading(self) -> None:
        want_pause = (self.dst_paused and self.fast) or (self.head_full and not self.fast)
        if want_pause != self.src_paused:
            self.src_paused = want_pause
            self.src.set_reading(not want_pause)

    def feed_eof(self) -> None:
        """The source ended (FIN, error, or closed by the other link): send the close down the chain."""
        if self.eof_fed:
            return
        self.eof_fed = True
        if self.fast:
            self.finish()
        else:
            assert self.head is not None
            self.head.push(None)

    # ----- writing side --------------------------------------------------------------------
    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                tail = self.tail
                assert tail is not None
                if not tail.ready():
                    if not self.stubs and self.head is tail:
                        self._enter_fast()
                        return
                    fut = loop.create_future()
                    tail.getter = fut
                    self.writer_idle = fut
                    try:
                        await fut
                    finally:
                        self.writer_idle = None
                        if tail.getter is fut:
                            tail.getter = None
                    continue
                chunk = tail.pop()
                if chunk is None:
                    self.finish()
                    return
                transport = self.dst.transport
                if transport is None or self.dst.closing:
                    continue
                transport.write(chunk.data)
                if self.dst_paused:
                    self._drained = loop.create_future()
                    try:
                        await self._drained
                    finally:
                        self._drained = None
        except asyncio.CancelledError:
            pass

    def kick_writer(self) -> None:
        """Make an idle writer re-check whether the link can return to the fast path."""
        if self.writer_idle is not None:
            _wake(self.writer_idle)

    def _enter_fast(self) -> None:
        if self.head is not None:
            self.head.on_space = None
        self.fast = True
        self.head = self.tail = None
        self.writer = None
        self.head_full = False
        self._update_reading()
        if self.eof_fed:
            self.finish()

    def finish(self) -> None:
        """The close reached the end of the chain: close the destination (a full close)."""
        if self.finished:
            return
        self.finished = True
        self.conn.link_finished(self)

    # ----- live chain changes (link.go AddToxic / UpdateToxic / RemoveToxic) ----------------
    async def add_toxic(self, wrapper: "ToxicWrapper") -> None:
        if self.finished:
            return
        if self.fast:
            self._enter_pipeline()
        tail = self.tail
        assert tail is not None
        newin = Chan(wrapper.toxic.BUFFER)
        if not self.stubs:
            stub = Stub(self, wrapper, newin, tail)
            self.stubs.append(stub)
            self._set_head(newin)
            stub.start()
            return
        last = self.stubs[-1]
        stub = Stub(self, wrapper, newin, last.output)
        if await last.interrupt():
            last.output = newin
            self.stubs.append(stub)
            stub.start()
            last.start()

    async def update_toxic(self, wrapper: "ToxicWrapper") -> None:
        for stub in self.stubs:
            if stub.wrapper is wrapper:
                if await stub.interrupt():
                    stub.start()
                return

    async def remove_toxic(self, wrapper: "ToxicWrapper") -> None:
        index = next((i for i, s in enumerate(self.stubs) if s.wrapper is wrapper), -1)
        if index < 0:
            return
        stub = self.stubs[index]
        if not await stub.interrupt():
            return
        if wrapper.toxic.HAS_CLEANUP:
            wrapper.toxic.cleanup(stub)
            if stub.closed:
                return
        stub.input.capacity = 1 << 62  # let the previous stage flush without blocking
        for putter in stub.input.putters:
            _wake(putter)
        prev_ok = False
        if index > 0:
            prev_ok = await self.stubs[index - 1].interrupt()
        index = self.stubs.index(stub)
        inp, out = stub.input, stub.output
        was_closed = inp.closed
        while inp.buf:
            item = inp.pop()
            out.push(item)
            if item is None:
                stub.closed = True
        if was_closed and not stub.closed:
            stub.closed = True
            out.push(None)
        del self.stubs[index]
        if index > 0:
            prev = self.stubs[index - 1]
            prev.output = out
            if prev_ok:
                prev.start()
        else:
            self._set_head(out)
        if not self.stubs:
            self.kick_writer()

    def cancel(self) -> None:
        for stub in self.stubs:
            stub.cancel()
        if self.writer is not None and not self.writer.done():
            self.writer.cancel()
