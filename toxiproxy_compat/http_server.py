"""A small HTTP/1.1 server on asyncio streams: keep-alive, Content-Length and chunked bodies.

It only frames requests and responses; routing lives in api.py. Limits: request head 1 MiB
(431 beyond), request body 1 MiB (413 beyond, then the connection is closed), idle keep-alive
60 s, reading a request 15 s (Go's IdleTimeout and ReadTimeout of the real server).
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Awaitable, Callable

MAX_HEAD_BYTES = 1 << 20
MAX_BODY_BYTES = 1 << 20
IDLE_TIMEOUT_S = 60.0
READ_TIMEOUT_S = 15.0

REASONS = {100: "Continue", 200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently",
           400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           409: "Conflict", 413: "Request Entity Too Large", 431: "Request Header Fields Too Large",
           500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass
class Request:
    """A parsed request: method, raw target, headers (lower-case names) and body."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    remote: str


@dataclass
class Response:
    """A response to write: status, headers in order, body."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class HttpError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


Handler = Callable[[Request], Awaitable[Response]]


def _date() -> str:
    return formatdate(time.time(), usegmt=True)


def render(resp: Response, keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Status')}"]
    lines.extend(f"{k}: {v}" for k, v in resp.headers)
    lines.append(f"Date: {_date()}")
    if resp.status != 204 and resp.status >= 200:
        lines.append(f"Content-Length: {len(resp.body)}")
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + resp.body


async def _read_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     headers: dict[str, str]) -> bytes:
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise HttpError(400, "malformed chunked encoding") from None
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return bytes(body)
            if len(body) + size > MAX_BODY_BYTES:
                raise HttpError(413, "request body larger than 1 MiB")
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    length_text = headers.get("content-length")
    if length_text is None:
        return b""
    try:
        length = int(length_text)
        if length < 0:
            raise ValueError
    except ValueError:
        raise HttpError(400, "bad Content-Length") from None
    if length > MAX_BODY_BYTES:
        raise HttpError(413, "request body larger than 1 MiB")
    return await reader.readexactly(length)


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           handler: Handler) -> None:
    """Serve requests on one client connection until it closes or asks to."""
    peer = writer.get_extra_info("peername")
    remote = f"{peer[0]}:{peer[1]}" if peer else ""
    try:
        while True:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT_S)
            except asyncio.LimitOverrunError:
                writer.write(render(Response(431, [("Content-Type", "text/plain; charset=utf-8")],
                                             b"431 Request Header Fields Too Large"), False))
                return
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                writer.write(render(Response(400, [("Content-Type", "text/plain; charset=utf-8")],
                                             b"400 Bad Request"), False))
                return
            method, target, version = parts
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if not line:
                    continue
                name, _, value = line.partition(":")
                key = name.strip().lower()
                headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
            conn_hdr = headers.get("connection", "").lower()
            keep_alive = ("close" not in conn_hdr) if version == "HTTP/1.1" else ("keep-alive" in conn_hdr)
            try:
                body = await asyncio.wait_for(_read_body(reader, writer, headers), READ_TIMEOUT_S)
            except HttpError as exc:
                writer.write(render(Response(exc.status, [("Content-Type", "text/plain; charset=utf-8")],
                                             f"{exc.status} {exc.text}".encode()), False))
                return
            resp = await handler(Request(method, target, headers, body, remote))
            writer.write(render(resp, keep_alive))
            await writer.drain()
            if not keep_alive:
                return
    except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, OSError):
        return
    finally:
        try:
            writer.close()
        except (ConnectionError, OSError, RuntimeError):
            pass
