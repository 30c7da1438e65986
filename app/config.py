"""Settings from environment variables, validated once at start-up (see app/README.md for the list).

Every mistake is one line naming the variable, the value found and what to set instead::

    >>> Settings.from_env({"DATABASE_URL": "postgresql://u:p@db:5432/shop"}).pg_timeout_s
    0.5
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

TRUE = {"1", "true", "yes", "on"}
FALSE = {"", "0", "false", "no", "off"}


class ConfigError(ValueError):
    """A bad environment variable: what was found and how to fix it, on one line."""


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment. Durations in seconds, sizes in counts."""

    database_url: str
    redis_url: str | None = None
    elasticsearch_url: str | None = None
    elasticsearch_index: str = "items"
    fragile: bool = False
    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 1
    log_level: str = "info"
    request_deadline_s: float = 2.0
    pg_timeout_s: float = 0.5
    redis_timeout_s: float = 0.2
    es_timeout_s: float = 0.5
    retry_attempts: int = 3
    retry_wait_max_s: float = 0.2
    breaker_fail_max: int = 5
    breaker_reset_s: float = 5.0
    cache_fresh_s: float = 30.0
    cache_keep_s: float = 86400.0
    idempotency_ttl_s: float = 86400.0
    pg_pool_max: int = 10
    pid_file: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read and validate the settings; raises ConfigError naming the first bad variable."""
        env = {k: v.strip() for k, v in environ.items()}
        settings = cls(
            database_url=_url(env, "DATABASE_URL", ("postgres", "postgresql"), required=True) or "",
            redis_url=_url(env, "REDIS_URL", ("redis", "rediss", "unix")),
            elasticsearch_url=_url(env, "ELASTICSEARCH_URL", ("http", "https")),
            elasticsearch_index=env.get("ELASTICSEARCH_INDEX") or "items",
            fragile=_flag(env, "APP_FRAGILE"),
            host=env.get("HOST") or "0.0.0.0",
            port=_int(env, "PORT", 8080, low=1, high=65535),
            workers=_int(env, "APP_WORKERS", 1, low=1, high=64),
            log_level=_choice(env, "APP_LOG_LEVEL", "info", ("critical", "error", "warning", "info", "debug")),
            request_deadline_s=_seconds(env, "APP_REQUEST_DEADLINE_S", 2.0),
            pg_timeout_s=_seconds(env, "APP_PG_TIMEOUT_S", 0.5),
            redis_timeout_s=_seconds(env, "APP_REDIS_TIMEOUT_S", 0.2),
            es_timeout_s=_seconds(env, "APP_ES_TIMEOUT_S", 0.5),
            retry_attempts=_int(env, "APP_RETRY_ATTEMPTS", 3, low=1, high=10),
            retry_wait_max_s=_seconds(env, "APP_RETRY_WAIT_MAX_S", 0.2, allow_zero=True),
            breaker_fail_max=_int(env, "APP_BREAKER_FAIL_MAX", 5, low=1, high=1000),
            breaker_reset_s=_seconds(env, "APP_BREAKER_RESET_S", 5.0),
            cache_fresh_s=_seconds(env, "APP_CACHE_FRESH_S", 30.0, allow_zero=True),
            cache_keep_s=_seconds(env, "APP_CACHE_KEEP_S", 86400.0),
            idempotency_ttl_s=_seconds(env, "APP_IDEMPOTENCY_TTL_S", 86400.0),
            pg_pool_max=_int(env, "APP_PG_POOL_MAX", 10, low=1, high=1000),
            pid_file=env.get("APP_PID_FILE") or None,
        )
        if settings.cache_keep_s < settings.cache_fresh_s:
            raise ConfigError(f"APP_CACHE_KEEP_S={settings.cache_keep_s:g} is shorter than APP_CACHE_FRESH_S="
                              f"{settings.cache_fresh_s:g}; keep stale entries at least as long as fresh ones")
        slowest = max(settings.pg_timeout_s, settings.redis_timeout_s, settings.es_timeout_s)
        if settings.request_deadline_s < slowest:
            raise ConfigError(f"APP_REQUEST_DEADLINE_S={settings.request_deadline_s:g} is shorter than a single "
                              f"dependency timeout ({slowest:g} s); raise it or lower the timeouts")
        return settings

    def describe(self) -> str:
        """One line for the start-up log: the mode and the limits, no credentials."""
        if self.fragile:
            return "FRAGILE mode: no timeouts, no fallbacks, no circuit breakers, no retries"
        return (f"deadline {self.request_deadline_s:g} s; timeouts pg {self.pg_timeout_s:g} s, "
                f"redis {self.redis_timeout_s:g} s, es {self.es_timeout_s:g} s; retries {self.retry_attempts}; "
                f"breakers open after {self.breaker_fail_max} failures for {self.breaker_reset_s:g} s; "
                f"cache fresh {self.cache_fresh_s:g} s, kept {self.cache_keep_s:g} s; "
                f"redis {'on' if self.redis_url else 'off'}, elasticsearch {'on' if self.elasticsearch_url else 'off'}")


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ConfigError(f"{name}={env[name]!r} is not a flag; set it to 1 or 0")


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number; set it to e.g. {default}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is outside {low}..{high}; set it to e.g. {default}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float, *, allow_zero: bool = False) -> float:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds; set it to e.g. {default:g}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name}={raw!r} must be a finite number of seconds {bound}; set it to e.g. {default:g}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").lower() or default
    if value not in choices:
        raise ConfigError(f"{name}={env[name]!r} is not one of {', '.join(choices)}")
    return value


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...], *, required: bool = False) -> str | None:
    raw = env.get(name, "")
    if not raw:
        if required:
            raise ConfigError(f"{name} is not set; set it to e.g. {schemes[-1]}://user:password@host:5432/db")
        return None
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not (parts.netloc or parts.path):
        shown = raw if parts.password is None else raw.replace(f":{parts.password}@", ":***@")
        raise ConfigError(f"{name}={shown!r} is not a {'/'.join(schemes)} URL")
    return raw
