"""Read-back after a fault waits (bounded) for a restarting server, then says what failed."""

from __future__ import annotations

import socket
import time

import psycopg
import pytest
import redis

from harness.workloads.clients import read_back_postgres, read_back_redis


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]     # nothing listens once the socket is closed


def test_postgres_read_back_waits_then_raises_the_last_error() -> None:
    began = time.monotonic()
    with pytest.raises(psycopg.OperationalError):
        read_back_postgres(host="127.0.0.1", port=_closed_port(), user="u", password="p", dbname="d",
                           connect_timeout_s=1, wait_s=0.6)
    assert 0.6 <= time.monotonic() - began < 5


def test_redis_read_back_waits_then_raises_the_last_error() -> None:
    began = time.monotonic()
    with pytest.raises(redis.exceptions.ConnectionError):
        read_back_redis(host="127.0.0.1", port=_closed_port(), timeout_s=1, wait_s=0.6)
    assert 0.6 <= time.monotonic() - began < 5
