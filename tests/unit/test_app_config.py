"""Unit tests of app/config.py: the service's environment, parsed and validated once."""

from __future__ import annotations

import pytest

from app.config import ConfigError, Settings

BASE = {"DATABASE_URL": "postgresql://shop:secret@db:5432/shop"}


def test_defaults_are_the_documented_sound_mode() -> None:
    """Only DATABASE_URL is needed; the rest defaults to the sound mode with the README's limits."""
    s = Settings.from_env(BASE)
    assert (s.fragile, s.redis_url, s.elasticsearch_url, s.port) == (False, None, None, 8080)
    assert (s.request_deadline_s, s.pg_timeout_s, s.redis_timeout_s, s.es_timeout_s) == (2.0, 0.5, 0.2, 0.5)
    assert (s.retry_attempts, s.breaker_fail_max, s.breaker_reset_s) == (3, 5, 5.0)
    assert "deadline 2 s" in s.describe() and "FRAGILE" not in s.describe()


@pytest.mark.parametrize("raw, fragile", [("1", True), ("true", True), (" YES ", True), ("0", False),
                                          ("", False), ("off", False)])
def test_one_variable_switches_fragile_mode(raw: str, fragile: bool) -> None:
    """APP_FRAGILE accepts the usual spellings of a flag."""
    s = Settings.from_env({**BASE, "APP_FRAGILE": raw})
    assert s.fragile is fragile
    assert ("FRAGILE" in s.describe()) is fragile


def test_every_setting_is_read() -> None:
    """Each documented variable reaches its field (a typo in a name would leave the default)."""
    env = {**BASE, "REDIS_URL": "redis://cache:6379/1", "ELASTICSEARCH_URL": "http://es:9200",
           "ELASTICSEARCH_INDEX": "goods", "HOST": "127.0.0.1", "PORT": "9000", "APP_WORKERS": "2",
           "APP_LOG_LEVEL": "DEBUG", "APP_REQUEST_DEADLINE_S": "3", "APP_PG_TIMEOUT_S": "0.7",
           "APP_REDIS_TIMEOUT_S": "0.1", "APP_ES_TIMEOUT_S": "0.9", "APP_RETRY_ATTEMPTS": "4",
           "APP_RETRY_WAIT_MAX_S": "0", "APP_BREAKER_FAIL_MAX": "7", "APP_BREAKER_RESET_S": "1.5",
           "APP_CACHE_FRESH_S": "0", "APP_CACHE_KEEP_S": "60", "APP_IDEMPOTENCY_TTL_S": "120",
           "APP_PG_POOL_MAX": "4", "APP_PID_FILE": "/tmp/x.pid"}
    s = Settings.from_env(env)
    assert (s.redis_url, s.elasticsearch_url, s.elasticsearch_index) == ("redis://cache:6379/1", "http://es:9200",
                                                                         "goods")
    assert (s.host, s.port, s.workers, s.log_level) == ("127.0.0.1", 9000, 2, "debug")
    assert (s.request_deadline_s, s.pg_timeout_s, s.redis_timeout_s, s.es_timeout_s) == (3.0, 0.7, 0.1, 0.9)
    assert (s.retry_attempts, s.retry_wait_max_s, s.breaker_fail_max, s.breaker_reset_s) == (4, 0.0, 7, 1.5)
    assert (s.cache_fresh_s, s.cache_keep_s, s.idempotency_ttl_s, s.pg_pool_max) == (0.0, 60.0, 120.0, 4)
    assert s.pid_file == "/tmp/x.pid"


@pytest.mark.parametrize("env, expected", [
    ({}, "DATABASE_URL is not set"),
    ({"DATABASE_URL": "mysql://u:hunter2@db/x"}, "DATABASE_URL='mysql://u:***@db/x' is not a postgres/postgresql URL"),
    ({**BASE, "REDIS_URL": "http://cache"}, "REDIS_URL='http://cache' is not a redis/rediss/unix URL"),
    ({**BASE, "APP_FRAGILE": "maybe"}, "APP_FRAGILE='maybe' is not a flag"),
    ({**BASE, "APP_PG_TIMEOUT_S": "fast"}, "APP_PG_TIMEOUT_S='fast' is not a number of seconds"),
    ({**BASE, "APP_PG_TIMEOUT_S": "0"}, "APP_PG_TIMEOUT_S='0' must be a finite number of seconds > 0"),
    ({**BASE, "APP_REDIS_TIMEOUT_S": "nan"}, "APP_REDIS_TIMEOUT_S='nan' must be a finite"),
    ({**BASE, "PORT": "70000"}, "PORT=70000 is outside 1..65535"),
    ({**BASE, "APP_RETRY_ATTEMPTS": "two"}, "APP_RETRY_ATTEMPTS='two' is not a whole number"),
    ({**BASE, "APP_LOG_LEVEL": "loud"}, "APP_LOG_LEVEL='loud' is not one of"),
    ({**BASE, "APP_REQUEST_DEADLINE_S": "0.3"}, "APP_REQUEST_DEADLINE_S=0.3 is shorter than a single dependency"),
    ({**BASE, "APP_CACHE_FRESH_S": "10", "APP_CACHE_KEEP_S": "5"}, "APP_CACHE_KEEP_S=5 is shorter than"),
])
def test_a_bad_variable_is_one_line_naming_it(env: dict[str, str], expected: str) -> None:
    """Each mistake names the variable and the value found (never a password) on one line."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    text = str(caught.value)
    assert text.startswith(expected) and "\n" not in text and "hunter2" not in text
