"""The Toxiproxy v2 HTTP API: routes, middleware and handlers (api.go with gorilla/mux behaviour).

Unmatched paths give 404 "404 page not found"; a matched path with another method gives an empty
405; non-clean paths are redirected (301) to the cleaned path. Matched routes get an
X-Toxiproxy-Request-Id header, an access log line, the Mozilla/ user-agent block (403) and a 25 s
handler timeout (503).
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import posixpath
import re
import time
from typing import Awaitable, Callable
from urllib.parse import unquote

from . import __version__, errors, logs
from .collection import ProxyCollection
from .gojson import go_string
from .http_server import Request, Response

HANDLER_TIMEOUT_S = 25.0
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
TIMEOUT_BODY = b"<html><head><title>Timeout</title></head><body><h1>Timeout</h1></body></html>"

_xid_counter = int.from_bytes(os.urandom(3), "big")
_xid_machine = os.urandom(3)


def request_id() -> str:
    """A 20-character xid-style id (time, machine, pid, counter in base32hex)."""
    global _xid_counter
    _xid_counter = (_xid_counter + 1) & 0xFFFFFF
    raw = (int(time.time()).to_bytes(4, "big") + _xid_machine + (os.getpid() & 0xFFFF).to_bytes(2, "big")
           + _xid_counter.to_bytes(3, "big"))
    return base64.b32hexencode(raw).decode().lower().rstrip("=")


def json_response(status: int, body: str) -> Response:
    return Response(status, [("Content-Type", JSON)], body.encode())


def error_response(err: errors.ApiError) -> Response:
    body = json.dumps({"error": err.message, "status": err.status}, separators=(",", ":"),
                      ensure_ascii=False)
    return Response(err.status, [("Content-Type", TEXT), ("X-Content-Type-Options", "nosniff")],
                    (body + "\n").encode())


def clean_path(path: str) -> str:
    """gorilla/mux cleanPath: path.Clean keeping a trailing slash."""
    if path == "":
        return "/"
    if not path.startswith("/"):
        path = "/" + path
    cleaned = posixpath.normpath(re.sub("/+", "/", path))
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


Route = tuple[re.Pattern[str], dict[str, Callable[..., Awaitable[Response]]], str]


class Api:
    """Routes API requests to handlers over one ProxyCollection."""

    def __init__(self, collection: ProxyCollection, metrics: bool = False) -> None:
        self.collection = collection
        seg = "([^/]+)"
        self.routes: list[Route] = [
            (re.compile("^/reset$"), {"POST": self.reset}, "ResetState"),
            (re.compile("^/proxies$"), {"GET": self.proxy_index, "POST": self.proxy_create}, "Proxies"),
            (re.compile("^/populate$"), {"POST": self.populate}, "Populate"),
            (re.compile(f"^/proxies/{seg}$"), {"GET": self.proxy_show, "POST": self.proxy_update,
                                               "PATCH": self.proxy_update, "DELETE": self.proxy_delete},
             "Proxy"),
            (re.compile(f"^/proxies/{seg}/toxics$"), {"GET": self.toxic_index, "POST": self.toxic_create},
             "Toxics"),
            (re.compile(f"^/proxies/{seg}/toxics/{seg}$"),
             {"GET": self.toxic_show, "POST": self.toxic_update, "PATCH": self.toxic_update,
              "DELETE": self.toxic_delete}, "Toxic"),
            (re.compile("^/version$"), {"GET": self.version}, "Version"),
        ]

    async def handle(self, req: Request) -> Response:
        raw_path, _, query = req.target.partition("?")
        if raw_path.startswith("http://") or raw_path.startswith("https://"):
            raw_path = "/" + raw_path.split("/", 3)[3] if raw_path.count("/") >= 3 else "/"
        path = unquote(raw_path)
        cleaned = clean_path(path)
        if cleaned != path:
            location = cleaned + (f"?{query}" if query else "")
            return Response(301, [("Location", location)])
        path_matched = False
        for pattern, methods, _name in self.routes:
            match = pattern.match(path)
            if match is None:
                continue
            path_matched = True
            handler = methods.get(req.method)
            if handler is None:
                continue
            return await self._run_matched(req, handler, match.groups())
        if path_matched:
            return Response(405)
        return Response(404, [("Content-Type", TEXT), ("X-Content-Type-Options", "nosniff")],
                        b"404 page not found\n")

    async def _run_matched(self, req: Request, handler: Callable[..., Awaitable[Response]],
                           args: tuple[str, ...]) -> Response:
        rid = request_id()
        started = time.monotonic()
        if req.headers.get("user-agent", "").startswith("Mozilla/"):
            resp = Response(403, [("Content-Type", TEXT), ("X-Content-Type-Options", "nosniff")],
                            b"User agent not allowed\n")
        else:
            task = asyncio.ensure_future(self._call(handler, req, args))
            try:
                resp = await asyncio.wait_for(asyncio.shield(task), HANDLER_TIMEOUT_S)
            except asyncio.TimeoutError:
                resp = Response(503, [("Content-Type", "text/html; charset=utf-8")], TIMEOUT_BODY)
        resp.headers.insert(0, ("X-Toxiproxy-Request-Id", rid))
        if logs.THRESHOLD <= logs.LEVELS["debug"]:
            logs.log("debug", "", request_id=rid, client=req.remote, method=req.method, url=req.target,
                     user_agent=req.headers.get("user-agent", ""), status=resp.status,
                     size=len(resp.body), duration=round((time.monotonic() - started) * 1000, 3))
        return resp

    async def _call(self, handler: Callable[..., Awaitable[Response]], req: Request,
                    args: tuple[str, ...]) -> Response:
        try:
            return await handler(req, *args)
        except errors.ApiError as err:
            if err.status >= 500:
                logs.log("warn", "Error did not include status code", error=err.message)
            return error_response(err)
        except Exception as exc:  # never let a handler bug take the server down
            logs.log("error", "Handler failed", error=repr(exc))
            return error_response(errors.RawError(str(exc) or type(exc).__name__))

    # ----- handlers ------------------------------------------------------------------------
    async def reset(self, req: Request) -> Response:
        await self.collection.reset()
        return Response(204)

    async def proxy_index(self, req: Request) -> Response:
        items = sorted(self.collection.proxies.items())
        body = "{" + ",".join(f"{go_string(n)}:{p.to_json()}" for n, p in items) + "}"
        return json_response(200, body)

    async def proxy_create(self, req: Request) -> Response:
        proxy = await self.collection.create(req.body)
        return json_response(201, proxy.to_json())

    async def populate(self, req: Request) -> Response:
        done, err = await self.collection.populate(req.body)
        proxies = "[" + ",".join(p.to_json() for p in done) + "]" if done else "null"
        if err is None:
            return json_response(201, f'{{"proxies":{proxies}}}')
        logs.log("warn", "Populate errors", error=err.message)
        head = json.dumps({"error": err.message, "status": err.status}, separators=(",", ":"),
                          ensure_ascii=False)[:-1]
        return json_response(err.status, f'{head},"proxies":{proxies}}}')

    async def proxy_show(self, req: Request, name: str) -> Response:
        return json_response(200, self.collection.get(name).to_json())

    async def proxy_update(self, req: Request, name: str) -> Response:
        if req.method == "POST":
            logs.log("warn", "ProxyUpdate: HTTP method POST is depercated. Use HTTP PATCH instead.")
        proxy = await self.collection.update(name, req.body)
        return json_response(200, proxy.to_json())

    async def proxy_delete(self, req: Request, name: str) -> Response:
        self.collection.remove(name)
        return Response(204)

    async def toxic_index(self, req: Request, name: str) -> Response:
        return json_response(200, self.collection.get(name).toxics.to_json())

    async def toxic_create(self, req: Request, name: str) -> Response:
        proxy = self.collection.get(name)
        wrapper = await proxy.toxics.add_json(req.body)
        return json_response(200, wrapper.to_json())

    async def toxic_show(self, req: Request, name: str, toxic: str) -> Response:
        wrapper = self.collection.get(name).toxics.find(toxic)
        if wrapper is None:
            raise errors.TOXIC_NOT_FOUND
        return json_response(200, wrapper.to_json())

    async def toxic_update(self, req: Request, name: str, toxic: str) -> Response:
        if req.method == "POST":
            logs.log("warn", "ToxicUpdate: HTTP method POST is depercated. Use HTTP PATCH instead.")
        wrapper = await self.collection.get(name).toxics.update_json(toxic, req.body)
        return json_response(200, wrapper.to_json())

    async def toxic_delete(self, req: Request, name: str, toxic: str) -> Response:
        await self.collection.get(name).toxics.remove(toxic)
        return Response(204)

    async def version(self, req: Request) -> Response:
        return Response(200, [("Content-Type", "application/json;charset=utf-8")],
                        f'{{"version": "{__version__}"}}\n'.encode())
