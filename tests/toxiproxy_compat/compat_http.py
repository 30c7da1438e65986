"""Raw HTTP access to a Toxiproxy API for the conformance suite.

``ApiClient`` sends exactly the method, path, headers and body bytes it is given (no path
normalisation, no redirects followed) and returns the raw status, headers and body bytes, so tests
can compare bodies byte for byte. ``expect_error`` checks the spec's error shape (§2.3).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

JsonBody = dict[str, Any] | list[Any]


def compact(value: Any) -> str:
    """JSON the way Go's encoder writes it: no spaces, keys in the given order."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class RawResponse:
    """One HTTP response as received."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.body[:300]!r}"


@dataclass(frozen=True)
class ApiClient:
    """A raw HTTP client for one Toxiproxy API endpoint (``http://host:port``)."""

    host: str
    port: int

    @classmethod
    def from_url(cls, url: str) -> "ApiClient":
        """Build from a base URL such as ``http://127.0.0.1:8474``."""
        parts = urlsplit(url)
        if not parts.hostname or not parts.port:
            raise ValueError(f"TOXIPROXY_URL {url!r} needs a host and a port, e.g. http://127.0.0.1:8474")
        return cls(parts.hostname, parts.port)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def request(self, method: str, path: str, body: bytes | str | JsonBody | None = None,
                headers: dict[str, str] | None = None, timeout_s: float = 30.0) -> RawResponse:
        """Send one request on a fresh connection and return the raw response."""
        if isinstance(body, (dict, list)):
            payload: bytes | None = compact(body).encode()
        elif isinstance(body, str):
            payload = body.encode()
        else:
            payload = body
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout_s)
        try:
            conn.request(method, path, body=payload, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return RawResponse(resp.status, tuple(resp.getheaders()), data)
        finally:
            conn.close()

    def get(self, path: str, **kw: Any) -> RawResponse:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: bytes | str | JsonBody | None = None, **kw: Any) -> RawResponse:
        return self.request("POST", path, body, **kw)

    def patch(self, path: str, body: bytes | str | JsonBody | None = None, **kw: Any) -> RawResponse:
        return self.request("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> RawResponse:
        return self.request("DELETE", path, **kw)

    # -- checked shortcuts for test setup ---------------------------------------------------
    def create_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0",
                     enabled: bool = True) -> dict[str, Any]:
        """POST /proxies and return the created proxy; fail the test on anything but 201."""
        resp = self.post("/proxies", {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled})
        assert resp.status == 201, f"creating proxy {name!r}: {resp}"
        return resp.json()

    def add_toxic(self, proxy: str, toxic: JsonBody) -> dict[str, Any]:
        """POST a toxic and return it; fail the test on anything but 200."""
        resp = self.post(f"/proxies/{quote(proxy)}/toxics", toxic)
        assert resp.status == 200, f"adding toxic {toxic!r} to {proxy!r}: {resp}"
        return resp.json()

    def update_toxic(self, proxy: str, toxic: str, body: JsonBody) -> dict[str, Any]:
        """PATCH a toxic and return it; fail the test on anything but 200."""
        resp = self.patch(f"/proxies/{quote(proxy)}/toxics/{quote(toxic)}", body)
        assert resp.status == 200, f"updating toxic {toxic!r} on {proxy!r}: {resp}"
        return resp.json()

    def remove_toxic(self, proxy: str, toxic: str) -> None:
        """DELETE a toxic; fail the test on anything but 204."""
        resp = self.delete(f"/proxies/{quote(proxy)}/toxics/{quote(toxic)}")
        assert resp.status == 204, f"removing toxic {toxic!r} from {proxy!r}: {resp}"

    def set_enabled(self, proxy: str, enabled: bool) -> dict[str, Any]:
        """PATCH a proxy's ``enabled``; fail the test on anything but 200."""
        resp = self.patch(f"/proxies/{quote(proxy)}", {"enabled": enabled})
        assert resp.status == 200, f"setting enabled={enabled} on {proxy!r}: {resp}"
        return resp.json()

    def is_up(self) -> bool:
        """True when GET /version answers 200."""
        try:
            return self.get("/version", timeout_s=5).status == 200
        except OSError:
            return False


def error_body(message: str, status: int) -> str:
    """The exact error body of §2.3, trailing newline included."""
    return compact({"error": message, "status": status}) + "\n"


def expect_error(resp: RawResponse, status: int, message: str) -> None:
    """Assert ``resp`` is the spec's error response (§2.3) on a matched route: status, exact body, text/plain, nosniff, request id."""
    assert (resp.status, resp.text) == (status, error_body(message, status))
    assert resp.header("Content-Type") == "text/plain; charset=utf-8"
    assert resp.header("X-Content-Type-Options") == "nosniff"
    assert resp.header("X-Toxiproxy-Request-Id"), "matched routes carry X-Toxiproxy-Request-Id (§1.1)"


def expect_json(resp: RawResponse, status: int) -> Any:
    """Assert a success JSON response (status, application/json, no trailing newline); return it parsed."""
    assert resp.status == status, str(resp)
    assert resp.header("Content-Type") == "application/json"
    assert not resp.body.endswith(b"\n"), "success bodies carry no trailing newline (§0)"
    return resp.json()


def raw_exchange(api: ApiClient, request: bytes, timeout_s: float = 30.0) -> bytes:
    """Write ``request`` bytes to the API port while reading concurrently; return all bytes received.

    Requests should carry ``Connection: close`` so the server ends the exchange. A server may answer
    early (e.g. 413) and close while the request is still being sent; the concurrent reader keeps
    that answer, and the send error that follows is ignored.
    """
    received = bytearray()
    sock = socket.create_connection((api.host, api.port), timeout=timeout_s)

    def reader() -> None:
        try:
            while chunk := sock.recv(65536):
                received.extend(chunk)
        except OSError:
            pass

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        try:
            sock.sendall(request)
        except OSError:
            pass
        thread.join(timeout_s)
    finally:
        sock.close()
        thread.join(5)
    return bytes(received)


def status_of(raw: bytes) -> int:
    """The status code of a raw HTTP/1.x response, or 0 when there is none."""
    first = raw.split(b"\r\n", 1)[0].split()
    return int(first[1]) if len(first) >= 2 and first[0].startswith(b"HTTP/1.") and first[1].isdigit() else 0
