"""Go `net` address handling: SplitHostPort, ResolveTCPAddr, TCPAddr.String and listen sockets.

Error texts follow Go's wording (`address nonsense: missing port in address`,
`listen tcp 127.0.0.1:18481: bind: address already in use`) so API answers match the real server.
"""
from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass

from .errors import RawError


class AddrError(Exception):
    """A Go net error text (without the "listen tcp" prefix)."""


def split_host_port(hostport: str) -> tuple[str, str]:
    """Go's net.SplitHostPort."""
    def err(why: str) -> AddrError:
        return AddrError(f"address {hostport}: {why}")
    i = hostport.rfind(":")
    if i < 0:
        raise err("missing port in address")
    j = k = 0
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise err("missing ']' in address")
        if end + 1 == len(hostport):
            raise err("missing port in address")
        if end + 1 != i:
            if hostport[end + 1] == ":":
                raise err("too many colons in address")
            raise err("missing port in address")
        host = hostport[1:end]
        j, k = 1, end + 1
    else:
        host = hostport[:i]
        if ":" in host:
            raise err("too many colons in address")
    if "[" in hostport[j:]:
        raise err("unexpected '[' in address")
    if "]" in hostport[k:]:
        raise err("unexpected ']' in address")
    return host, hostport[i + 1:]


def lookup_port(port: str) -> int:
    """Go's LookupPort for "tcp": numeric, empty (0) or a service name."""
    if port == "":
        return 0
    if port.isdigit() or (port[:1] in "+-" and port[1:].isdigit()):
        value = int(port)
        if value < 0 or value > 65535:
            raise AddrError(f"address {port}: invalid port")
        return value
    try:
        return socket.getservbyname(port, "tcp")
    except OSError:
        raise AddrError(f"lookup tcp/{port}: unknown port") from None


@dataclass(frozen=True)
class TCPAddr:
    """A resolved TCP address; ip "" means unspecified (Go's nil IP)."""

    ip: str
    port: int

    def __str__(self) -> str:
        if not self.ip:
            return f":{self.port}"
        if ":" in self.ip:
            return f"[{self.ip}]:{self.port}"
        return f"{self.ip}:{self.port}"


def resolve_tcp(address: str) -> TCPAddr:
    """Go's net.ResolveTCPAddr("tcp", address); raises AddrError with Go's text."""
    host, port_text = ("", "") if address == "" else split_host_port(address)
    port = lookup_port(port_text)
    if host == "":
        return TCPAddr("", port)
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
        return TCPAddr(str(ip) if not isinstance(ip, ipaddress.IPv6Address) or not ip.ipv4_mapped
                       else str(ip.ipv4_mapped), port)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        raise AddrError(f"lookup {host}: no such host") from None
    v4 = [i[4][0] for i in infos if i[0] == socket.AF_INET]
    v6 = [i[4][0] for i in infos if i[0] == socket.AF_INET6]
    if not v4 and not v6:
        raise AddrError(f"lookup {host}: no such host")
    return TCPAddr(v4[0] if v4 else v6[0], port)


def _dual_stack_ok() -> bool:
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    probe.close()
    return True


DUAL_STACK = _dual_stack_ok()


def open_listener(listen: str, backlog: int) -> tuple[socket.socket, str]:
    """Bind and listen like Go's net.Listen("tcp", listen); returns the socket and Addr().String().

    Raises RawError(500) worded like Go: "listen tcp: address x: missing port in address" or
    "listen tcp 127.0.0.1:1: bind: address already in use".
    """
    try:
        addr = resolve_tcp(listen)
    except AddrError as exc:
        raise RawError(f"listen tcp: {exc}") from None
    wildcard = addr.ip in ("", "0.0.0.0", "::")
    if wildcard and DUAL_STACK:
        family, bind_to = socket.AF_INET6, ("::", addr.port)
    elif wildcard:
        family, bind_to = socket.AF_INET, ("0.0.0.0", addr.port)
    elif ":" in addr.ip:
        family, bind_to = socket.AF_INET6, (addr.ip, addr.port)
    else:
        family, bind_to = socket.AF_INET, (addr.ip, addr.port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and wildcard:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(bind_to)
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise RawError(f"listen tcp {addr}: bind: {reason}") from None
    host, port = sock.getsockname()[:2]
    bound = TCPAddr(host, port)
    return sock, str(bound)
