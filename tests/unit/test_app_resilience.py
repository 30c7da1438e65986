"""Unit tests of app/resilience.py: timeouts, breaker wiring and bounded retries, on hand-made calls."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.resilience import DependencyUnavailable, Guard, deadline, guard


class Flaky:
    """A dependency call that fails ``failures`` times with ``error`` (or sleeps ``delay_s``), then answers."""

    def __init__(self, failures: int = 0, error: BaseException | None = None, delay_s: float = 0.0) -> None:
        self.failures, self.error, self.delay_s = failures, error or ConnectionError("reset"), delay_s
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.calls <= self.failures:
            raise self.error
        return "answer"


def sound(**overrides: float) -> Guard:
    kwargs = {"timeout_s": 0.05, "failures": (ConnectionError,), "fail_max": 3, "reset_s": 0.2,
              "attempts": 3, "wait_max_s": 0.001, **overrides}
    return guard("dep", fragile=False, **kwargs)  # type: ignore[arg-type]


def test_a_slow_call_times_out_as_dependency_unavailable() -> None:
    """A call that outlives its timeout ends at the timeout, as DependencyUnavailable."""
    g = sound(attempts=1)
    started = time.monotonic()
    with pytest.raises(DependencyUnavailable, match="no answer within 0.050 s"):
        asyncio.run(g.call(Flaky(delay_s=2.0), idempotent=True))
    assert time.monotonic() - started < 0.5


def test_idempotent_calls_are_retried_and_others_are_not() -> None:
    """Two failures then success: an idempotent call succeeds on its third try; a write tries once."""
    read, write = Flaky(failures=2), Flaky(failures=2)
    assert asyncio.run(sound().call(read, idempotent=True)) == "answer" and read.calls == 3
    with pytest.raises(DependencyUnavailable, match="ConnectionError: reset"):
        asyncio.run(sound().call(write, idempotent=False))
    assert write.calls == 1


def test_retries_are_bounded_by_attempts() -> None:
    """A dependency that never answers is tried exactly ``attempts`` times."""
    call = Flaky(failures=100)
    with pytest.raises(DependencyUnavailable):
        asyncio.run(sound(attempts=3, fail_max=100).call(call, idempotent=True))
    assert call.calls == 3


def test_retries_and_timeouts_stop_at_the_request_deadline() -> None:
    """With 0.12 s left, attempts of 0.05 s each stop by the deadline instead of running all 10."""
    call = Flaky(delay_s=1.0)
    g = sound(attempts=10, fail_max=100)

    async def within_deadline() -> None:
        deadline.set(time.monotonic() + 0.12)
        await g.call(call, idempotent=True)

    started = time.monotonic()
    with pytest.raises(DependencyUnavailable):
        asyncio.run(within_deadline())
    # the point is "stopped by the deadline", not how fast: one undisturbed call alone takes 1 s and
    # all ten would take 10 s; a loaded machine may fit fewer attempts in 0.12 s, never more than 3
    assert time.monotonic() - started < 0.9
    assert 1 <= call.calls <= 3


def test_breaker_opens_after_fail_max_then_fails_fast_then_half_opens() -> None:
    """Three failures open the breaker; calls then fail without reaching the dependency until the
    reset timeout passes, when one trial call goes through and a success closes it again."""
    g = sound(attempts=1, fail_max=3, reset_s=0.2)
    call = Flaky(failures=3)

    async def scenario() -> list[str]:
        seen = []
        for _ in range(5):
            try:
                await g.call(call, idempotent=True)
                seen.append("ok")
            except DependencyUnavailable as exc:
                seen.append(exc.reason.split(":")[0])
        seen.append(g.state)
        await asyncio.sleep(0.25)
        seen.append(await g.call(call, idempotent=True))
        seen.append(g.state)
        return seen

    assert asyncio.run(scenario()) == ["ConnectionError", "ConnectionError", "ConnectionError", "circuit open",
                                       "circuit open", "open", "answer", "closed"]
    assert call.calls == 4


def test_an_open_breaker_is_not_retried() -> None:
    """Retrying into an open breaker only burns the deadline: the call gives up at once."""
    g = sound(attempts=3, fail_max=1, reset_s=10)
    call = Flaky(failures=100)
    for _ in range(2):
        with pytest.raises(DependencyUnavailable):
            asyncio.run(g.call(call, idempotent=True))
    assert call.calls == 1 and g.state == "open"


def test_errors_that_are_not_dependency_failures_pass_through_and_do_not_trip() -> None:
    """An application error (here KeyError) is raised as itself and never opens the breaker."""
    g = sound(attempts=3, fail_max=1)
    call = Flaky(failures=5, error=KeyError("no such item"))
    for _ in range(3):
        with pytest.raises(KeyError):
            asyncio.run(g.call(call, idempotent=True))
    assert call.calls == 3 and g.state == "closed"


def test_fragile_guard_has_no_timeout_no_breaker_no_translation() -> None:
    """Fragile: a slow call is waited for, a failure is raised raw, and failures never open anything."""
    g = guard("dep", fragile=True, timeout_s=0.01, failures=(ConnectionError,), fail_max=1, reset_s=1,
              attempts=3, wait_max_s=0)
    assert g.state == "none"
    assert asyncio.run(g.call(Flaky(delay_s=0.1), idempotent=True)) == "answer"
    failing = Flaky(failures=10)
    for _ in range(3):
        with pytest.raises(ConnectionError):
            asyncio.run(g.call(failing, idempotent=True))
    assert failing.calls == 3
