"""The harness's one Toxiproxy client, for the official server and the project's compatible one.

``ToxiproxyAPI(url)`` speaks the Toxiproxy HTTP API (v2.12.0, see ../shared/toxiproxy-api.md).
It builds on toxiproxy-python 0.1.1 for the reads and deletes it covers (``GET /version``,
``GET /proxies``, ``GET .../toxics``, ``DELETE``), whose only errors are 404s that the library
maps to exceptions. Writes go through ``requests`` with a timeout, because the library has no
PATCH for toxics and ignores 500 responses (a failed listen on create or re-enable would pass
silently). The library keeps host and port in the global ``toxiproxy.api.APIConsumer``, so
every library call sets them from this client's URL under one module-wide lock.

Every failure becomes a one-line ``FaultError``: what was asked, the URL, the server's error
text and what to do::

    api = ToxiproxyAPI("http://127.0.0.1:8474")
    api.create_proxy("postgres", listen="0.0.0.0:15432", upstream="postgres:5432")
    api.add_toxic("postgres", "latency_downstream", "latency", "downstream", 1.0,
                  {"latency": 300, "jitter": 50})
    api.remove_toxic("postgres", "latency_downstream")      # 404 counts as done

Known limit: the library's own calls carry no timeout (it offers no way to pass one); a server
that accepts connections and never answers would block those calls.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from toxiproxy import Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy.proxy import Proxy as _LibraryProxy

from harness.errors import ConfigError, FaultError

STREAMS = ("upstream", "downstream")
TOXIC_TYPES = ("latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer",
               "limit_data", "noop")
DEFAULT_PORT = 8474

# toxiproxy-python keeps host/port in class attributes: one lock for every library call.
_LIBRARY_LOCK = threading.Lock()

_FIX_BY_STATUS = {
    400: "check the request fields against the Toxiproxy API reference (toxiproxy-api.md)",
    404: "check the name against GET /proxies; the stack may have been recreated",
    409: "it already exists; remove it first or choose another name",
    500: "the server could not do it (often a listen address in use); pick a free port or "
         "read the server's log",
}


@dataclass(frozen=True)
class ProxyInfo:
    """A proxy as the server reports it (``listen`` is the bound address once started)."""

    name: str
    listen: str
    upstream: str
    enabled: bool


@dataclass(frozen=True)
class ToxicInfo:
    """A toxic as the server reports it; ``attributes`` holds every attribute of its type."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ToxicInfo:
        return cls(name=body["name"], type=body["type"], stream=body["stream"],
                   toxicity=float(body["toxicity"]), attributes=dict(body.get("attributes") or {}))


def _error_text(body: bytes | str) -> str:
    """The server's ``error`` message from an error body, else the body itself (shortened)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        message = json.loads(text).get("error")
    except (ValueError, AttributeError):
        message = None
    message = message if isinstance(message, str) and message else text.strip()
    return " ".join(message.split())[:300] or "(empty body)"


class ToxiproxyAPI:
    """Client for one Toxiproxy API server at ``url`` (``http://host:port``)."""

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ConfigError(f"Toxiproxy API URL {url!r} is not http://host:port",
                              fix="pass e.g. http://127.0.0.1:8474")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0: {timeout_s}")
        self.url = f"http://{parts.hostname}:{parts.port or DEFAULT_PORT}"
        self.host = parts.hostname
        self.port = parts.port or DEFAULT_PORT
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"ToxiproxyAPI({self.url!r})"

    # -- reads and deletes: toxiproxy-python ---------------------------------------------------

    def version(self) -> str:
        """The server's version string, e.g. ``"2.12.0"``."""
        with self._library("read the version", "/version") as lib:
            raw = lib.version()
        if raw is None:
            raise self._unreachable()
        try:
            return str(json.loads(raw)["version"])
        except (ValueError, KeyError, TypeError) as exc:
            raise FaultError(f"Toxiproxy API answered /version with {_error_text(raw)!r}",
                             where=self.url + "/version",
                             fix="is this URL really a Toxiproxy API?") from exc

    def proxies(self) -> dict[str, ProxyInfo]:
        """Every proxy on the server, by name."""
        with self._library("list proxies", "/proxies") as lib:
            found = lib.proxies()
        return {name: ProxyInfo(name=p.name, listen=p.listen, upstream=p.upstream,
                                enabled=bool(p.enabled)) for name, p in sorted(found.items())}

    def toxics(self, proxy: str) -> list[ToxicInfo]:
        """The toxics of ``proxy``: upstream ones first, each direction in insertion order."""
        with self._library(f"list the toxics of proxy {proxy!r}", f"/proxies/{proxy}/toxics"):
            found = self._library_proxy(proxy).toxics()
        return [ToxicInfo(name=t.name, type=t.type, stream=t.stream, toxicity=float(t.toxicity),
                          attributes=dict(t.attributes)) for t in found.values()]

    def delete_proxy(self, name: str) -> None:
        """Delete proxy ``name`` and close its connections; an unknown proxy counts as deleted."""
        with self._library(f"delete proxy {name!r}", f"/proxies/{name}", missing_ok=True):
            self._library_proxy(name).destroy()

    def remove_toxic(self, proxy: str, name: str) -> None:
        """Remove toxic ``name`` from ``proxy``; a 404 counts as removed (idempotent)."""
        with self._library(f"remove toxic {name!r} from proxy {proxy!r}",
                           f"/proxies/{proxy}/toxics/{name}", missing_ok=True):
            self._library_proxy(proxy).destroy_toxic(name)

    # -- writes: requests with a timeout and the server's error text ---------------------------

    def create_proxy(self, name: str, listen: str, upstream: str, enabled: bool = True) -> ProxyInfo:
        """Create proxy ``name`` listening on ``listen`` and forwarding to ``upstream``."""
        body = self._request("POST", "/proxies", f"create proxy {name!r}",
                             {"name": name, "listen": listen, "upstream": upstream,
                              "enabled": enabled})
        return self._proxy_info(body)

    def set_enabled(self, name: str, enabled: bool) -> ProxyInfo:
        """Enable (listen again) or disable (refuse and close connections) proxy ``name``."""
        verb = "enable" if enabled else "disable"
        body = self._request("PATCH", f"/proxies/{name}", f"{verb} proxy {name!r}",
                             {"enabled": enabled})
        return self._proxy_info(body)

    def add_toxic(self, proxy: str, name: str, type: str, stream: str, toxicity: float,
                  attributes: Mapping[str, Any]) -> ToxicInfo:
        """Add toxic ``name`` of ``type`` on ``stream`` ("upstream"/"downstream") of ``proxy``."""
        body = self._request("POST", f"/proxies/{proxy}/toxics",
                             f"add toxic {name!r} ({type}) to proxy {proxy!r}",
                             {"name": name, "type": type, "stream": stream,
                              "toxicity": toxicity, "attributes": dict(attributes)})
        return ToxicInfo.from_json(body)

    def update_toxic(self, proxy: str, name: str, attributes: Mapping[str, Any] | None = None,
                     toxicity: float | None = None) -> ToxicInfo:
        """Change some attributes and/or the toxicity of toxic ``name`` (others are kept)."""
        payload: dict[str, Any] = {"attributes": dict(attributes or {})}
        if toxicity is not None:
            payload["toxicity"] = toxicity
        body = self._request("PATCH", f"/proxies/{proxy}/toxics/{name}",
                             f"update toxic {name!r} of proxy {proxy!r}", payload)
        return ToxicInfo.from_json(body)

    def reset(self) -> None:
        """Re-enable every proxy and remove every toxic."""
        self._request("POST", "/reset", "reset all proxies and toxics", None)

    # -- plumbing --------------------------------------------------------------------------------

    def _unreachable(self, exc: Exception | None = None) -> FaultError:
        error = FaultError(f"Toxiproxy API at {self.url} does not answer", fix="is the stack up?")
        if exc is not None:
            error.__cause__ = exc
        return error

    @contextmanager
    def _library(self, action: str, path: str, *, missing_ok: bool = False) -> Iterator[Toxiproxy]:
        """Run toxiproxy-python calls against this URL, translating its errors."""
        with _LIBRARY_LOCK:
            lib = Toxiproxy()
            lib.update_api_consumer(self.host, self.port)
            try:
                yield lib
            except requests.ConnectionError as exc:
                raise self._unreachable(exc) from exc
            except requests.RequestException as exc:
                raise FaultError(f"Toxiproxy: could not {action}: {type(exc).__name__}: {exc}",
                                 where=self.url + path, fix="is the stack up?") from exc
            except NotFound as exc:
                if missing_ok:
                    return
                raise self._http_error(action, path, 404, exc.args[0] if exc.args else b"") from exc
            except (ProxyExists, InvalidToxic) as exc:
                status = 409 if isinstance(exc, ProxyExists) else 400
                raise self._http_error(action, path, status,
                                       exc.args[0] if exc.args else b"") from exc

    @staticmethod
    def _library_proxy(name: str) -> _LibraryProxy:
        # The library's Proxy needs these fields but only uses ``name`` to build its URLs.
        return _LibraryProxy(name=name, upstream="", enabled=True, listen="")

    def _http_error(self, action: str, path: str, status: int, body: bytes | str) -> FaultError:
        return FaultError(f"Toxiproxy could not {action}: {_error_text(body)} (HTTP {status})",
                          where=self.url + path,
                          fix=_FIX_BY_STATUS.get(status, "read the Toxiproxy server's log"))

    def _request(self, method: str, path: str, action: str,
                 payload: Mapping[str, Any] | None) -> dict[str, Any]:
        """Send one request; return the JSON body ({} for 204) or raise a one-line FaultError."""
        try:
            response = requests.request(method, self.url + path, json=payload,
                                        timeout=self.timeout_s)
        except requests.ConnectionError as exc:
            raise self._unreachable(exc) from exc
        except requests.Timeout as exc:
            raise FaultError(f"Toxiproxy API at {self.url} did not answer within "
                             f"{self.timeout_s:g} s to {action}", where=self.url + path,
                             fix="is the server overloaded or stuck?") from exc
        except requests.RequestException as exc:
            raise FaultError(f"Toxiproxy: could not {action}: {type(exc).__name__}: {exc}",
                             where=self.url + path, fix="is the stack up?") from exc
        if response.status_code >= 300:
            raise self._http_error(action, path, response.status_code, response.content)
        if response.status_code == 204 or not response.content:
            return {}
        try:
            body = response.json()
        except ValueError as exc:
            raise FaultError(f"Toxiproxy answered {action} with a body that is not JSON: "
                             f"{_error_text(response.content)!r}", where=self.url + path,
                             fix="is this URL really a Toxiproxy API?") from exc
        return body if isinstance(body, dict) else {"value": body}

    @staticmethod
    def _proxy_info(body: Mapping[str, Any]) -> ProxyInfo:
        return ProxyInfo(name=body["name"], listen=body["listen"], upstream=body["upstream"],
                         enabled=bool(body["enabled"]))
