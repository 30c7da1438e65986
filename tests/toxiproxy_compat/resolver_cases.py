"""Unit checks of toxiproxy_compat's upstream resolver and dial with a lookup that blocks (issue 14).

Plain functions (no pytest) so that test_resolver.py can run them in-process and again under
TOXIPROXY_COMPAT_PYTHON (Debian's python3 3.11.2, the image's interpreter):
``python resolver_cases.py`` runs them all and exits non-zero on the first failure.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from toxiproxy_compat import connection, resolver  # noqa: E402
from toxiproxy_compat.proxy import Proxy  # noqa: E402

ADDR = [(int(socket.AF_INET), "127.0.0.1")]


class BlockingLookup:
    """A fake system resolver: each call blocks until released; counts calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.gates: list[threading.Event] = []
        self.lock = threading.Lock()
        self.answer = ADDR

    def __call__(self, host: str) -> list[tuple[int, str]]:
        gate = threading.Event()
        with self.lock:
            self.calls.append(host)
            self.gates.append(gate)
        if not gate.wait(20):
            raise socket.gaierror(-3, "Temporary failure in name resolution")
        return self.answer

    def release(self, index: int) -> None:
        self.gates[index].set()

    def release_all(self) -> None:
        for gate in list(self.gates):
            gate.set()


async def _until(cond, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


def _no_default_executor(loop: asyncio.AbstractEventLoop) -> None:
    class Refuse(ThreadPoolExecutor):
        def submit(self, *a, **k):  # type: ignore[override]
            raise AssertionError("the default executor was used")
    loop.set_default_executor(Refuse(max_workers=1))


def case_concurrent_lookups_are_merged() -> None:
    """50 concurrent resolutions of one host run one lookup; all get its answer when it returns."""
    async def main() -> None:
        _no_default_executor(asyncio.get_running_loop())
        fake = BlockingLookup()
        res = resolver.Resolver(fake, fresh_s=60.0)
        tasks = [asyncio.ensure_future(res.resolve("postgres")) for _ in range(50)]
        await _until(lambda: res.waiting() == 50)
        assert fake.calls == ["postgres"], fake.calls
        fake.release(0)
        results = await asyncio.wait_for(asyncio.gather(*tasks), 2)
        assert all(r == ADDR for r in results)
        assert res.threads == 0 and res.waiting() == 0
    asyncio.run(main())


def case_a_late_caller_does_not_queue_behind_a_stalled_lookup() -> None:
    """A caller arriving after the in-flight lookup went stale starts its own and is answered by it
    at once; the answer also releases the callers of the stalled lookup, whose thread runs on."""
    async def main() -> None:
        fake = BlockingLookup()
        res = resolver.Resolver(fake, fresh_s=0.05)
        early = [asyncio.ensure_future(res.resolve("postgres")) for _ in range(5)]
        await _until(lambda: len(fake.calls) == 1)
        await asyncio.sleep(0.1)
        late = asyncio.ensure_future(res.resolve("postgres"))
        await _until(lambda: len(fake.calls) == 2)
        began = time.monotonic()
        fake.release(1)                      # the fresh lookup answers; the first stays stalled
        assert await asyncio.wait_for(late, 1) == ADDR
        assert [await asyncio.wait_for(t, 1) for t in early] == [ADDR] * 5
        assert time.monotonic() - began < 0.5
        assert res.threads == 1              # the stalled thread is not waited for
        fake.release_all()
        await _until(lambda: res.threads == 0)
    asyncio.run(main())


def case_lookups_have_a_bounded_time() -> None:
    """A lookup that never answers fails its callers after timeout_s with Go's i/o timeout text."""
    async def main() -> None:
        fake = BlockingLookup()
        res = resolver.Resolver(fake, timeout_s=0.2)
        began = time.monotonic()
        try:
            await res.resolve("postgres")
        except OSError as exc:
            assert str(exc) == "lookup postgres: i/o timeout", str(exc)
        else:
            raise AssertionError("a stalled lookup did not time out")
        assert 0.15 < time.monotonic() - began < 1.0
        assert res.waiting() == 0
        fake.release_all()
    asyncio.run(main())


def case_a_cancelled_caller_stops_waiting_at_once() -> None:
    """Cancelling a resolution (the client went away) returns at once and leaves no waiter behind."""
    async def main() -> None:
        fake = BlockingLookup()
        res = resolver.Resolver(fake)
        task = asyncio.ensure_future(res.resolve("postgres"))
        await _until(lambda: res.waiting() == 1)
        task.cancel()
        began = time.monotonic()
        try:
            await task
        except asyncio.CancelledError:
            pass
        assert time.monotonic() - began < 0.1
        assert res.waiting() == 0
        fake.release_all()
    asyncio.run(main())


def case_failures_and_thread_bounds() -> None:
    """A failed lookup reads like Go's; beyond the thread caps callers join the newest lookup."""
    async def main() -> None:
        def nxdomain(host: str) -> list[tuple[int, str]]:
            raise socket.gaierror(-2, "Name or service not known")
        try:
            await resolver.Resolver(nxdomain).resolve("postgres")
        except OSError as exc:
            assert str(exc) == "lookup postgres: no such host", str(exc)
        else:
            raise AssertionError("no error for a host that does not resolve")
        fake = BlockingLookup()
        res = resolver.Resolver(fake, fresh_s=0.0, max_threads_per_host=3)
        tasks = [asyncio.ensure_future(res.resolve("postgres")) for _ in range(10)]
        await _until(lambda: res.waiting() == 10)
        assert len(fake.calls) == 3 and res.threads == 3
        fake.release_all()
        assert await asyncio.wait_for(asyncio.gather(*tasks), 2) == [ADDR] * 10
    asyncio.run(main())


def case_a_client_that_leaves_abandons_its_pending_dial() -> None:
    """Through a real proxy: clients that connect and close while the upstream lookup is stalled
    leave no connection, pending dial or waiter behind, and the default executor is never used."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        _no_default_executor(loop)
        fake = BlockingLookup()
        res = resolver.Resolver(fake, fresh_s=60.0)
        resolver._RESOLVERS[loop] = res
        proxy = Proxy("p", "127.0.0.1:0", "stalled.invalid:5432")
        await proxy.start()
        port = int(proxy.listen.rsplit(":", 1)[1])
        writers: list[asyncio.StreamWriter] = []
        try:
            for _ in range(200):
                _r, w = await asyncio.open_connection("127.0.0.1", port)
                writers.append(w)
            await _until(lambda: len(proxy.connections) == 200 and res.waiting() == 200)
            assert fake.calls == ["stalled.invalid"], fake.calls   # merged into one lookup
            for w in writers[:100]:
                w.close()                          # FIN
            for w in writers[100:]:
                sock = w.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                w.transport.abort()                # RST
            await _until(lambda: not proxy.connections and proxy.pending_dials == 0
                         and res.waiting() == 0)
        finally:
            proxy.stop()
            fake.release_all()
            for w in writers:
                w.close()
            await asyncio.sleep(0.05)
    asyncio.run(main())


def case_pending_dials_are_capped() -> None:
    """Beyond MAX_PENDING_DIALS pending dials of one proxy, a new client is closed at once."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        fake = BlockingLookup()
        resolver._RESOLVERS[loop] = resolver.Resolver(fake)
        saved = connection.MAX_PENDING_DIALS
        connection.MAX_PENDING_DIALS = 5
        proxy = Proxy("p", "127.0.0.1:0", "stalled.invalid:5432")
        await proxy.start()
        port = int(proxy.listen.rsplit(":", 1)[1])
        try:
            held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
            await _until(lambda: proxy.pending_dials == 5)
            reader, _w = await asyncio.open_connection("127.0.0.1", port)
            assert await asyncio.wait_for(reader.read(), 2) == b""   # closed at once
            assert proxy.pending_dials == 5 and len(proxy.connections) == 5
            for _r, w in held:
                w.close()
            _w.close()
            await _until(lambda: proxy.pending_dials == 0 and not proxy.connections)
        finally:
            connection.MAX_PENDING_DIALS = saved
            proxy.stop()
            fake.release_all()
            await asyncio.sleep(0.05)
    asyncio.run(main())


CASES = [case_concurrent_lookups_are_merged, case_a_late_caller_does_not_queue_behind_a_stalled_lookup,
         case_lookups_have_a_bounded_time, case_a_cancelled_caller_stops_waiting_at_once,
         case_failures_and_thread_bounds, case_a_client_that_leaves_abandons_its_pending_dial,
         case_pending_dials_are_capped]

if __name__ == "__main__":
    for case in CASES:
        case()
        print("ok", case.__name__)
