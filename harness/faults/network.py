"""Network faults: one Toxiproxy toxic per direction, or a disabled proxy for ``Down``.

Each fault maps one-to-one to a Toxiproxy toxic (see toxiproxy-api.md §5) on a named proxy,
through ``ToxiproxyAPI``. ``direction`` is ``"downstream"`` (what the server sends back, the
default as in Toxiproxy), ``"upstream"`` (what the client sends) or ``"both"`` (two toxics).
Toxic names default to Toxiproxy's own ``<type>_<stream>``; with ``name="x"`` they are ``x``
(one direction) or ``x_upstream``/``x_downstream`` (both). Heal removes the toxics; a toxic
that is already gone counts as removed, so heal after a half-done injection is safe.

Arguments are checked on construction, including the inputs that crash a real Toxiproxy
server (a slicer with ``average_size`` 0 or a variation not below it, a negative bandwidth)
and those that silently stall it (bandwidth 0)::

    Latency(api, "postgres", latency_ms=300, jitter_ms=50)     # latency(postgres, 300ms±50, downstream)
    Bandwidth(api, "redis", rate_kbps=64, direction="both")
    Down(api, "postgres")                                      # connects refused until healed

Evidence that the fault is in effect (see base.py): given the clients' ``path`` (the proxy's
address as clients reach it, and a few bytes its server always answers), ``Down``, ``Timeout``
and ``ResetPeer`` show that a probe that got a reply before injection gets none after it, and
``Latency`` that the probe's round trip grew by at least 80 % of ``latency_ms - jitter_ms``.
Without a path, and for the toxics a small probe cannot show (bandwidth, slicer, limit_data,
slow_close), the evidence is Toxiproxy's own read-back of the disabled proxy or the toxics, and
the evidence line says so.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from harness.faults.base import Effect, Fault
from harness.toxiproxy import STREAMS, ToxiproxyAPI

DIRECTIONS = ("downstream", "upstream", "both")
SILENCE_WAIT_S = 0.5   # a probe that hears nothing for this long counts as "silent"
BASELINE_WAIT_S = 2.0  # the probe before injection may take longer: a loaded machine (pytest -n 4 on
                       # two cores) answered in over 0.5 s and the fault could not be shown
LATENCY_SHARE = 0.8    # a latency fault is shown when the probe slowed by this share of its minimum


@dataclass(frozen=True)
class RoundTrip:
    """One probe: ``reply`` (the server answered), ``refused``, ``closed``, ``reset`` or ``silent``."""

    outcome: str
    seconds: float

    def __str__(self) -> str:
        return f"{self.outcome} after {self.seconds * 1000:.1f} ms"


@dataclass(frozen=True)
class ClientPath:
    """Where clients reach a proxy (host side) and ``hello``: bytes its server always answers."""

    host: str
    port: int
    hello: bytes

    def round_trip(self, wait_s: float = SILENCE_WAIT_S) -> RoundTrip:
        """Connect, send ``hello``, wait up to ``wait_s`` for the first byte back."""
        began = time.monotonic()

        def seen(outcome: str) -> RoundTrip:
            return RoundTrip(outcome, time.monotonic() - began)

        try:
            with socket.create_connection((self.host, self.port), timeout=wait_s) as sock:
                sock.settimeout(max(0.001, wait_s - (time.monotonic() - began)))
                sock.sendall(self.hello)
                return seen("reply" if sock.recv(1) else "closed")
        except ConnectionRefusedError:
            return seen("refused")
        except (ConnectionResetError, BrokenPipeError):
            return seen("reset")
        except (TimeoutError, socket.timeout):
            return seen("silent")


class _Baseline:
    """The probe taken just before injection (None without a client path)."""

    def __init__(self) -> None:
        self.trip: RoundTrip | None = None


def _check_int(owner: str, field_name: str, value: Any, *, minimum: int) -> None:
    """ValueError unless ``value`` is an int >= ``minimum`` (Toxiproxy rejects floats)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{owner}: {field_name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{owner}: {field_name} must be >= {minimum}, got {value}")


@dataclass(frozen=True, eq=False)
class _ProxyFault(Fault):
    """A fault on one Toxiproxy proxy."""

    api: ToxiproxyAPI = field(repr=False)
    proxy: str
    path: ClientPath | None = field(default=None, kw_only=True, repr=False)
    _baseline: _Baseline = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_baseline", _Baseline())
        super().__post_init__()

    @property
    def target(self) -> str:
        return self.proxy

    def _validate(self) -> None:
        if not isinstance(self.proxy, str) or not self.proxy:
            raise ValueError(f"{type(self).__name__}: proxy must be a non-empty proxy name, "
                             f"got {self.proxy!r}")

    def _take_baseline(self, wait_s: float = BASELINE_WAIT_S) -> None:
        self._baseline.trip = self.path.round_trip(wait_s) if self.path is not None else None

    def _silenced(self, what: str, wait_s: float = SILENCE_WAIT_S) -> Effect | None:
        """Evidence from the client path that a probe answered before now gets no reply, if any."""
        before = self._baseline.trip
        if self.path is None or before is None:
            return None
        after = self.path.round_trip(wait_s)
        where = f"{self.path.host}:{self.path.port}"
        if before.outcome != "reply":
            return Effect(False, f"a probe through {where} got no reply even before the {what} "
                                 f"({before}), so the probe cannot show the fault")
        if after.outcome == "reply":
            return Effect(False, f"a probe through {where} still got a reply ({after}; before: {before})")
        return Effect(True, f"a probe through {where}: {after} (before injection: {before})")

@dataclass(frozen=True, eq=False)
class ToxicFault(_ProxyFault):
    """A fault made of one toxic per direction; subclasses give ``kind`` and ``attributes()``."""

    direction: str = field(default="downstream", kw_only=True)
    toxicity: float = field(default=1.0, kw_only=True)
    name: str | None = field(default=None, kw_only=True)

    def _validate(self) -> None:
        super()._validate()
        owner = type(self).__name__
        if self.direction not in DIRECTIONS:
            raise ValueError(f"{owner}: direction must be one of {', '.join(DIRECTIONS)}, "
                             f"got {self.direction!r}")
        if isinstance(self.toxicity, bool) or not isinstance(self.toxicity, (int, float)) \
                or not 0.0 <= self.toxicity <= 1.0:
            raise ValueError(f"{owner}: toxicity must be a probability in [0, 1], got {self.toxicity!r}")
        if self.name is not None and (not isinstance(self.name, str) or not self.name
                                      or "/" in self.name):
            raise ValueError(f"{owner}: name must be a non-empty string without '/', got {self.name!r}")

    def attributes(self) -> dict[str, int]:
        """The toxic's attributes in Toxiproxy's names and units."""
        raise NotImplementedError

    def streams(self) -> tuple[str, ...]:
        """The Toxiproxy streams this fault puts a toxic on."""
        return STREAMS if self.direction == "both" else (self.direction,)

    def toxic_names(self) -> dict[str, str]:
        """The toxic name used on each stream."""
        if self.name is None:
            return {s: f"{self.kind}_{s}" for s in self.streams()}
        if self.direction == "both":
            return {s: f"{self.name}_{s}" for s in self.streams()}
        return {self.direction: self.name}

    def _describe(self) -> str:
        parts = [self._parameters(), self.direction]
        if self.toxicity < 1.0:
            parts.append(f"{self.toxicity:.0%}")
        return ", ".join(parts)

    def _parameters(self) -> str:
        raise NotImplementedError

    def _toxics_read_back(self, why: str) -> Effect:
        """Evidence from Toxiproxy's own state: this fault's toxics are on the proxy."""
        wanted = set(self.toxic_names().values())
        present = {t.name for t in self.api.toxics(self.proxy)}
        missing = wanted - present
        if missing:
            return Effect(False, f"Toxiproxy does not list toxic(s) {', '.join(sorted(missing))} on "
                                 f"proxy {self.proxy}")
        return Effect(True, f"Toxiproxy lists toxic(s) {', '.join(sorted(wanted))} on proxy "
                            f"{self.proxy} ({why})")

    def _inject(self) -> None:
        attributes = self.attributes()
        self._take_baseline()
        for stream, toxic in self.toxic_names().items():
            self.api.add_toxic(self.proxy, toxic, self.kind, stream, float(self.toxicity), attributes)

    def _check_effect(self) -> Effect:
        return self._toxics_read_back(f"a small probe cannot show a {self.kind} toxic")

    def _heal(self) -> None:
        for toxic in self.toxic_names().values():
            self.api.remove_toxic(self.proxy, toxic)


@dataclass(frozen=True, eq=False)
class Latency(ToxicFault):
    """Delay each chunk by ``latency_ms`` ± ``jitter_ms`` (uniform)."""

    kind: ClassVar[str] = "latency"
    latency_ms: int
    jitter_ms: int = 0

    def _validate(self) -> None:
        super()._validate()
        _check_int("Latency", "latency_ms", self.latency_ms, minimum=0)
        _check_int("Latency", "jitter_ms", self.jitter_ms, minimum=0)

    def attributes(self) -> dict[str, int]:
        return {"latency": self.latency_ms, "jitter": self.jitter_ms}

    def _check_effect(self) -> Effect:
        least_ms = self.latency_ms - self.jitter_ms
        before = self._baseline.trip
        if self.path is None or before is None or least_ms <= 0:
            why = "no client path to probe" if self.path is None else "jitter may cancel the delay"
            return self._toxics_read_back(why)
        if before.outcome != "reply":
            return Effect(False, f"a probe through {self.path.host}:{self.path.port} got no reply even "
                                 f"before the latency toxic ({before})")
        wait_s = 2 * (self.latency_ms + self.jitter_ms) / 1000.0 + 1.0
        tries = 1 if self.toxicity >= 1.0 else 5  # a partial toxic may spare one connection
        trips = [self.path.round_trip(wait_s) for _ in range(tries)]
        added = [(t.seconds - before.seconds) * 1000.0 for t in trips if t.outcome == "reply"]
        if added and max(added) >= LATENCY_SHARE * least_ms:
            return Effect(True, f"a probe's round trip grew by {max(added):.1f} ms (expected at least "
                                f"{least_ms} ms; before injection {before})")
        return Effect(False, f"a probe's round trip did not grow by {LATENCY_SHARE * least_ms:g} ms: "
                             f"{', '.join(map(str, trips))} (before injection {before})")

    def _parameters(self) -> str:
        return f"{self.latency_ms}ms" + (f"±{self.jitter_ms}" if self.jitter_ms else "")


@dataclass(frozen=True, eq=False)
class Bandwidth(ToxicFault):
    """Limit throughput to ``rate_kbps`` kilobytes per second (Toxiproxy's unit: 1 KB = 1000 B)."""

    kind: ClassVar[str] = "bandwidth"
    rate_kbps: int

    def _validate(self) -> None:
        super()._validate()
        # 0 stalls the stream forever and a negative rate crashes the server (toxiproxy-api.md §5.3).
        _check_int("Bandwidth", "rate_kbps", self.rate_kbps, minimum=1)

    def attributes(self) -> dict[str, int]:
        return {"rate": self.rate_kbps}

    def _parameters(self) -> str:
        return f"{self.rate_kbps}KB/s"


@dataclass(frozen=True, eq=False)
class Timeout(ToxicFault):
    """Drop all data; close the connection after ``timeout_ms`` of silence (0 = blackhole forever).

    Healing removes the toxic, which closes every connection that went through it.
    """

    kind: ClassVar[str] = "timeout"
    timeout_ms: int

    def _validate(self) -> None:
        super()._validate()
        _check_int("Timeout", "timeout_ms", self.timeout_ms, minimum=0)

    def attributes(self) -> dict[str, int]:
        return {"timeout": self.timeout_ms}

    def _parameters(self) -> str:
        return "blackhole" if self.timeout_ms == 0 else f"{self.timeout_ms}ms"

    def _check_effect(self) -> Effect:
        if self.toxicity < 1.0:
            return self._toxics_read_back("a partial toxic may spare the probe's connection")
        return self._silenced("timeout toxic") or self._toxics_read_back("no client path to probe")


@dataclass(frozen=True, eq=False)
class ResetPeer(ToxicFault):
    """Drop the first data and reset the connection (RST) ``timeout_ms`` later.

    Only connections opened after injection get an RST; already open ones see a plain close.
    """

    kind: ClassVar[str] = "reset_peer"
    timeout_ms: int = 0

    def _validate(self) -> None:
        super()._validate()
        _check_int("ResetPeer", "timeout_ms", self.timeout_ms, minimum=0)

    def attributes(self) -> dict[str, int]:
        return {"timeout": self.timeout_ms}

    def _parameters(self) -> str:
        return f"after {self.timeout_ms}ms"

    def _check_effect(self) -> Effect:
        if self.toxicity < 1.0:
            return self._toxics_read_back("a partial toxic may spare the probe's connection")
        wait_s = SILENCE_WAIT_S + self.timeout_ms / 1000.0
        return self._silenced("reset_peer toxic", wait_s) or self._toxics_read_back("no client path to probe")


@dataclass(frozen=True, eq=False)
class Slicer(ToxicFault):
    """Cut data into pieces of about ``average_size_bytes`` with ``delay_us`` between them."""

    kind: ClassVar[str] = "slicer"
    average_size_bytes: int
    size_variation_bytes: int = 0
    delay_us: int = 0

    def _validate(self) -> None:
        super()._validate()
        _check_int("Slicer", "average_size_bytes", self.average_size_bytes, minimum=1)
        _check_int("Slicer", "size_variation_bytes", self.size_variation_bytes, minimum=0)
        _check_int("Slicer", "delay_us", self.delay_us, minimum=0)
        if self.size_variation_bytes >= self.average_size_bytes:
            # Toxiproxy panics on size_variation > average_size (toxiproxy-api.md §5.7).
            raise ValueError(f"Slicer: size_variation_bytes ({self.size_variation_bytes}) must be "
                             f"below average_size_bytes ({self.average_size_bytes})")

    def attributes(self) -> dict[str, int]:
        return {"average_size": self.average_size_bytes,
                "size_variation": self.size_variation_bytes, "delay": self.delay_us}

    def _parameters(self) -> str:
        variation = f"±{self.size_variation_bytes}" if self.size_variation_bytes else ""
        return f"{self.average_size_bytes}B{variation}/{self.delay_us}us"


@dataclass(frozen=True, eq=False)
class LimitData(ToxicFault):
    """Close each connection once ``limit_bytes`` have passed in the direction (0: at first data)."""

    kind: ClassVar[str] = "limit_data"
    limit_bytes: int

    def _validate(self) -> None:
        super()._validate()
        _check_int("LimitData", "limit_bytes", self.limit_bytes, minimum=0)

    def attributes(self) -> dict[str, int]:
        return {"bytes": self.limit_bytes}

    def _parameters(self) -> str:
        return f"{self.limit_bytes}B"


@dataclass(frozen=True, eq=False)
class SlowClose(ToxicFault):
    """Delay the close travelling through the proxy by ``delay_ms``."""

    kind: ClassVar[str] = "slow_close"
    delay_ms: int

    def _validate(self) -> None:
        super()._validate()
        _check_int("SlowClose", "delay_ms", self.delay_ms, minimum=0)

    def attributes(self) -> dict[str, int]:
        return {"delay": self.delay_ms}

    def _parameters(self) -> str:
        return f"{self.delay_ms}ms"


@dataclass(frozen=True, eq=False)
class Down(_ProxyFault):
    """Disable the proxy: connects are refused and open connections closed; heal re-enables it."""

    kind: ClassVar[str] = "down"

    def _describe(self) -> str:
        return ""

    def _inject(self) -> None:
        self._take_baseline()
        self.api.set_enabled(self.proxy, False)

    def _check_effect(self) -> Effect:
        shown = self._silenced("proxy was disabled")
        if shown is not None:
            return shown
        enabled = self.api.proxies()[self.proxy].enabled
        if enabled:
            return Effect(False, f"Toxiproxy reports proxy {self.proxy} still enabled")
        return Effect(True, f"Toxiproxy reports proxy {self.proxy} disabled (no client path to probe)")

    def _heal(self) -> None:
        self.api.set_enabled(self.proxy, True)
