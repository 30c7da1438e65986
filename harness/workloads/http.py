"""HTTP workloads: a fixed-rate GET (``HttpProbe``) and a fixed-rate keyed POST (``HttpWrites``),
one fresh connection per attempt.

Built on ``harness.workloads.base.Workload`` (open-loop scheduling, the in-flight bound, stop and
abandon rules are described there). Every answered attempt records what ``response_fields``
(``harness/workloads/clients.py``) read of the response, as the value of its completion:
``{"status": 200, "degraded": false}``, ``{"status": 200, "degraded": true, "degraded_by":
"stale-cache"}``, ``{"status": 503, "degraded": false, "retry_after": "1", "clean": true}``.
A 2xx is ``ok``; anything else, or a connection error, is classified fail/info by
``classify_http_error``: a 5xx is ``fail`` (a 503 with ``Retry-After`` is a "clean" fail, marked
``clean``), a timeout after sending is ``info``. The checkers read these fields: the share of 5xx
answers and of degraded answers per phase (harness/judging/responses.py).

    with HttpProbe(history, "http://127.0.0.1:8080/health", timeout_s=1.0, rate_hz=10):
        ...                                     # inject a fault, wait, heal
    with HttpWrites(history, "http://127.0.0.1:8080/orders", body={"item_id": 1},
                    key_header="Idempotency-Key", rate_hz=10):
        ...                                     # the value of attempt n is the key "w-<n>"
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from harness.errors import ConfigError
from harness.history import History
from harness.workloads.base import Attempt, Workload
from harness.workloads.clients import HttpStatusError, classify_http_error, http_request, shutdown_socket

__all__ = ["HttpProbe", "HttpWrites"]


class HttpProbe(Workload):
    """GETs ``url`` on a fresh connection per attempt; 2xx is ok (value: the response's fields)."""

    f = "probe"
    client_fields = ("_conn",)
    method = "GET"
    idempotent = True

    def __init__(self, history: History, url: str, *, timeout_s: float | None = 1.0,
                 rate_hz: float = 10, process: str = "http-probe", max_ops: int = 10_000,
                 max_seconds: float = 300.0, max_in_flight: int | None = None,
                 closed_loop: bool = False) -> None:
        super().__init__(history, process=process, rate_hz=rate_hz, max_ops=max_ops,
                         max_seconds=max_seconds, max_in_flight=max_in_flight,
                         closed_loop=closed_loop)
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{type(self).__name__} url {url!r} is not an http(s) URL",
                              where=f"{type(self).__name__}(process={process!r})",
                              fix="pass e.g. http://127.0.0.1:8080/health")
        self.url = url
        self.timeout_s = timeout_s
        self._target = parts
        self._path = parts.path + (f"?{parts.query}" if parts.query else "")
        self._conn: http.client.HTTPConnection | None = None

    def request(self, attempt: Attempt) -> tuple[bytes | None, dict[str, str]]:
        """The body and headers of this attempt's request (none for a GET)."""
        return None, {}

    def attempt(self, attempt: Attempt) -> Any:
        factory = (http.client.HTTPSConnection if self._target.scheme == "https"
                   else http.client.HTTPConnection)
        self._conn = conn = factory(self._target.hostname, self._target.port,
                                    timeout=self.timeout_s)
        body, headers = self.request(attempt)
        try:
            conn.connect()
            attempt.sent = True
            return http_request(conn, self._path, method=self.method, body=body, headers=headers)
        finally:
            conn.close()

    def longest_wait_s(self) -> float | None:
        """Connect plus one read, each bounded by ``timeout_s``; None without a timeout."""
        return None if self.timeout_s is None else 2 * self.timeout_s

    def classify(self, exc: BaseException, *, sent: bool) -> str:
        return classify_http_error(exc, sent=sent, idempotent=self.idempotent)

    def failure_value(self, exc: BaseException) -> Any:
        """An answered failure records the response's fields (its status); others nothing."""
        return dict(exc.fields) if isinstance(exc, HttpStatusError) else None

    def interrupt(self) -> bool:
        sock = self._conn.sock if self._conn is not None else None
        return sock is not None and shutdown_socket(sock.fileno())


class HttpWrites(HttpProbe):
    """POSTs ``body`` as JSON to ``url``; attempt n carries the key ``<key_prefix>-<n>`` (its value).

    With ``key_header`` the key is sent in that header (an idempotency key: a 5xx then is still
    ``fail``, since a retry with the same key could not apply twice, but a timeout stays
    ``info``); without it the key goes into the body as ``key_field`` and a 5xx other than a
    clean 503 is ``info`` (the server may have written before it failed). The keys acknowledged
    (2xx) are what a read-back must find: ``judge(..., f="write", observed=keys)``.
    """

    f = "write"
    method = "POST"

    def __init__(self, history: History, url: str, *, body: Mapping[str, Any] | None = None,
                 key_header: str | None = None, key_field: str = "key", key_prefix: str = "w",
                 process: str = "http-writer", **kwargs: Any) -> None:
        super().__init__(history, url, process=process, **kwargs)
        self.body = dict(body or {})
        self.key_header = key_header
        self.key_field = key_field
        self.key_prefix = key_prefix
        self.idempotent = key_header is not None

    def value_for(self, number: int) -> Any:
        return f"{self.key_prefix}-{number}"

    def request(self, attempt: Attempt) -> tuple[bytes | None, dict[str, str]]:
        body = dict(self.body)
        headers = {"Content-Type": "application/json"}
        if self.key_header:
            headers[self.key_header] = str(attempt.value)
        else:
            body[self.key_field] = attempt.value
        return json.dumps(body).encode(), headers

    def attempt(self, attempt: Attempt) -> Any:
        fields = super().attempt(attempt)
        return {**fields, "key": attempt.value}
