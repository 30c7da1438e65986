"""HTTP probe: a fixed-rate GET against a URL, one fresh connection per attempt.

Built on ``harness.workloads.base.Workload`` (open-loop scheduling, the in-flight bound, stop and
abandon rules are described there).
A 2xx reply is ok (its value is the status); anything else, or a connection error, is
classified fail/info by ``classify_http_error`` in ``harness/workloads/clients.py``.

    with HttpProbe(history, "http://127.0.0.1:8080/health", timeout_s=1.0, rate_hz=10):
        ...                                     # inject a fault, wait, heal
"""

from __future__ import annotations

import http.client
import urllib.parse
from typing import Any

from harness.errors import ConfigError
from harness.history import History
from harness.workloads.base import Attempt, Workload
from harness.workloads.clients import classify_http_error, http_get, shutdown_socket

__all__ = ["HttpProbe"]


class HttpProbe(Workload):
    """GETs ``url`` on a fresh connection per attempt; 2xx is ok (value: the status)."""

    f = "probe"
    client_fields = ("_conn",)

    def __init__(self, history: History, url: str, *, timeout_s: float | None = 1.0,
                 rate_hz: float = 10, process: str = "http-probe", max_ops: int = 10_000,
                 max_seconds: float = 300.0, max_in_flight: int | None = None,
                 closed_loop: bool = False) -> None:
        super().__init__(history, process=process, rate_hz=rate_hz, max_ops=max_ops,
                         max_seconds=max_seconds, max_in_flight=max_in_flight,
                         closed_loop=closed_loop)
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"probe url {url!r} is not an http(s) URL",
                              where=f"HttpProbe(process={process!r})",
                              fix="pass e.g. http://127.0.0.1:8080/health")
        self.url = url
        self.timeout_s = timeout_s
        self._target = parts
        self._path = parts.path + (f"?{parts.query}" if parts.query else "")
        self._conn: http.client.HTTPConnection | None = None

    def attempt(self, attempt: Attempt) -> Any:
        factory = (http.client.HTTPSConnection if self._target.scheme == "https"
                   else http.client.HTTPConnection)
        self._conn = conn = factory(self._target.hostname, self._target.port,
                                    timeout=self.timeout_s)
        try:
            conn.connect()
            attempt.sent = True
            return http_get(conn, self._path)
        finally:
            conn.close()

    def longest_wait_s(self) -> float | None:
        """Connect plus one read, each bounded by ``timeout_s``; None without a timeout."""
        return None if self.timeout_s is None else 2 * self.timeout_s

    def classify(self, exc: BaseException, *, sent: bool) -> str:
        return classify_http_error(exc, sent=sent)

    def interrupt(self) -> bool:
        sock = self._conn.sock if self._conn is not None else None
        return sock is not None and shutdown_socket(sock.fileno())
