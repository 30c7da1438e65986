"""One guard per dependency: a timeout on every call, a circuit breaker, retries only when idempotent.

``Guard.call(fn, idempotent=...)`` runs ``fn()`` (a coroutine function) so that:

- each attempt is bounded by the dependency's timeout and by what is left of the request deadline
  (``deadline`` below, set by the web layer for each request);
- the dependency's breaker (pybreaker) counts the failures; when open, calls fail at once;
- an idempotent call is retried on a dependency failure, at most ``attempts`` times, with jittered
  exponential waits, and never past the deadline; a non-idempotent call is tried once;
- every dependency failure (timeout, connection error, open breaker, exhausted deadline) comes out as
  ``DependencyUnavailable``, which the service turns into a fallback or a fast 503.

Errors that are not dependency failures (an unknown item, a constraint) pass through untouched and
count as successes for the breaker. ``Guard.fragile`` builds the negative control: no timeout, no
breaker, no retry, no translation, so the raw error (or the hang) reaches the client.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import pybreaker
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

T = TypeVar("T")
log = logging.getLogger("app.resilience")

# Monotonic time by which the current request must be answered; None outside a request.
deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)
MIN_ATTEMPT_S = 0.005


class DependencyUnavailable(Exception):
    """A dependency could not answer in time (or at all): the caller falls back or answers 503."""

    def __init__(self, dependency: str, reason: str) -> None:
        super().__init__(f"{dependency} unavailable: {reason}")
        self.dependency = dependency
        self.reason = reason


class _LogTransitions(pybreaker.CircuitBreakerListener):
    def state_change(self, cb: pybreaker.CircuitBreaker, old_state, new_state) -> None:  # type: ignore[no-untyped-def]
        log.warning("breaker %s: %s -> %s", cb.name, getattr(old_state, "name", old_state), new_state.name)


def new_breaker(name: str, fail_max: int, reset_s: float,
                failures: tuple[type[BaseException], ...]) -> pybreaker.CircuitBreaker:
    """A breaker counting only dependency failures (timeouts, cancellations, ``failures``), that
    keeps the original error on the failure that trips it (no CircuitBreakerError then)."""
    def not_a_failure(exc: BaseException) -> bool:
        return not isinstance(exc, (TimeoutError, asyncio.CancelledError, *failures))

    return pybreaker.CircuitBreaker(fail_max=fail_max, reset_timeout=reset_s, name=name, exclude=[not_a_failure],
                                    listeners=[_LogTransitions()], throw_new_error_on_trip=False)


def remaining_s(now: float | None = None) -> float | None:
    """Seconds left before the current request's deadline, or None outside a request."""
    end = deadline.get()
    if end is None:
        return None
    return end - (time.monotonic() if now is None else now)


@dataclass
class Guard:
    """Timeout, breaker and retry policy for one dependency (see the module docstring)."""

    name: str
    timeout_s: float | None
    failures: tuple[type[BaseException], ...]
    breaker: pybreaker.CircuitBreaker | None = None
    attempts: int = 1
    wait_max_s: float = 0.0

    @classmethod
    def fragile(cls, name: str) -> Guard:
        """No timeout, no breaker, no retry, no translation of errors: the negative control."""
        return cls(name, None, (), None, 1, 0.0)

    @property
    def is_fragile(self) -> bool:
        return self.timeout_s is None and self.breaker is None

    @property
    def state(self) -> str:
        """The breaker's state: closed, open, half-open, or 'none' without a breaker."""
        return "none" if self.breaker is None else self.breaker.current_state

    async def call(self, fn: Callable[[], Awaitable[T]], *, idempotent: bool) -> T:
        """``fn()`` under this guard; raises DependencyUnavailable on a dependency failure."""
        if self.is_fragile:
            return await fn()
        if not idempotent or self.attempts <= 1:
            return await self._attempt(fn)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_random_exponential(multiplier=self.wait_max_s / 4 or 0.001, max=self.wait_max_s),
            retry=retry_if_exception(self._worth_retrying), reraise=True)
        async for attempt in retrying:
            with attempt:
                return await self._attempt(fn)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    def _worth_retrying(self, exc: BaseException) -> bool:
        """Retry a failed attempt, not an open breaker, and only if the deadline leaves room."""
        if not isinstance(exc, DependencyUnavailable) or exc.reason == "circuit open":
            return False
        left = remaining_s()
        return left is None or left > max(self.wait_max_s, MIN_ATTEMPT_S) + MIN_ATTEMPT_S

    def _budget(self) -> float:
        left = remaining_s()
        limit = self.timeout_s if self.timeout_s is not None else float("inf")
        return limit if left is None else min(limit, left)

    async def _attempt(self, fn: Callable[[], Awaitable[T]]) -> T:
        budget = self._budget()
        if budget < MIN_ATTEMPT_S:
            raise DependencyUnavailable(self.name, "request deadline exhausted")
        try:
            if self.breaker is None:
                return await self._timed(fn, budget)
            with self.breaker.calling():
                return await self._timed(fn, budget)
        except pybreaker.CircuitBreakerError:
            raise DependencyUnavailable(self.name, "circuit open") from None
        except TimeoutError as exc:
            raise DependencyUnavailable(self.name, f"no answer within {budget:.3f} s") from exc
        except self.failures as exc:
            raise DependencyUnavailable(self.name, f"{type(exc).__name__}: {exc}".strip()[:200]) from exc

    async def _timed(self, fn: Callable[[], Awaitable[T]], budget: float) -> T:
        if budget == float("inf"):
            return await fn()
        async with asyncio.timeout(budget):
            return await fn()


def guard(name: str, *, fragile: bool, timeout_s: float, failures: tuple[type[BaseException], ...],
          fail_max: int, reset_s: float, attempts: int, wait_max_s: float) -> Guard:
    """The guard for one dependency in the configured mode."""
    if fragile:
        return Guard.fragile(name)
    return Guard(name, timeout_s, failures, new_breaker(name, fail_max, reset_s, failures), attempts, wait_max_s)
