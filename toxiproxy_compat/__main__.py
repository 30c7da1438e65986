"""Command line: `python -m toxiproxy_compat -host 127.0.0.1 -port 8474 [-config FILE]`.

Go-style flags as the real toxiproxy-server: -host, -port, -config, -seed (no effect),
-proxy-metrics / -runtime-metrics (accepted, ignored: /metrics is not implemented), -version.
SIGINT/SIGTERM close the API listener, every proxy listener and every connection, then exit 0.
"""
from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import dataclass

from . import __version__, logs
from .addresses import open_listener
from .api import Api
from .collection import ProxyCollection
from .errors import ApiError
from .http_server import serve_connection

USAGE = """Usage of toxiproxy-server:
  -config string
    \tJSON file containing proxies to create on startup
  -host string
    \tHost for toxiproxy's API to listen on (default "localhost")
  -port string
    \tPort for toxiproxy's API to listen on (default "8474")
  -proxy-metrics
    \tenable metrics for Proxy (accepted, not implemented)
  -runtime-metrics
    \tenable metrics related to golang runtime (accepted, not implemented)
  -seed int
    \tSeed for randomizing toxics with (no effect)
  -version
    \tshow version
"""


@dataclass
class Options:
    """Parsed command-line flags."""

    host: str = "localhost"
    port: str = "8474"
    config: str = ""
    seed: int = 0
    version: bool = False
    proxy_metrics: bool = False
    runtime_metrics: bool = False


BOOL_FLAGS = {"version": "version", "proxy-metrics": "proxy_metrics", "runtime-metrics": "runtime_metrics"}
VALUE_FLAGS = {"host": "host", "port": "port", "config": "config", "seed": "seed"}


def parse_args(argv: list[str]) -> Options:
    """Parse like Go's flag package: -name value, -name=value, --name; stops at the first non-flag."""
    opts = Options()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-") or arg == "-":
            break
        if arg == "--":
            break
        name = arg.lstrip("-")
        name, has_value, value = name.partition("=")
        if name in ("h", "help"):
            sys.stderr.write(USAGE)
            sys.exit(0)
        if name in BOOL_FLAGS:
            flag_value = True
            if has_value:
                if value.lower() not in ("1", "0", "t", "f", "true", "false"):
                    _fail(f'invalid boolean value "{value}" for -{name}: parse error')
                flag_value = value.lower() in ("1", "t", "true")
            setattr(opts, BOOL_FLAGS[name], flag_value)
        elif name in VALUE_FLAGS:
            if not has_value:
                i += 1
                if i >= len(argv):
                    _fail(f"flag needs an argument: -{name}")
                value = argv[i]
            if name == "seed":
                try:
                    opts.seed = int(value, 0)
                except ValueError:
                    _fail(f'invalid value "{value}" for flag -seed: parse error')
            else:
                setattr(opts, VALUE_FLAGS[name], value)
        else:
            _fail(f"flag provided but not defined: -{name}")
        i += 1
    return opts


def _fail(message: str) -> None:
    sys.stderr.write(message + "\n" + USAGE)
    sys.exit(2)


async def populate_config(collection: ProxyCollection, path: str) -> None:
    """Load a -config file (the /populate format); errors are only logged, as in the real server."""
    try:
        with open(path, "rb") as handle:
            body = handle.read()
    except OSError as exc:
        logs.log("error", "Error reading config file", config=path, error=str(exc))
        return
    done, err = await collection.populate(body)
    if err is not None:
        logs.log("error", "Failed to populate proxies from file", error=err.message)
    else:
        logs.log("info", "Populated proxies from file", config=path, proxies=len(done))


async def run(opts: Options) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    collection = ProxyCollection()
    api = Api(collection)
    if opts.config:
        await populate_config(collection, opts.config)
    address = f"{opts.host}:{opts.port}"
    logs.log("info", "Starting Toxiproxy HTTP server", address=address)
    try:
        sock, _bound = open_listener(address, 1024)
    except ApiError as exc:
        logs.log("fatal", "Server finished with error", error=exc.message)
        collection.stop_all()
        return 1
    server = await asyncio.start_server(lambda r, w: serve_connection(r, w, api.handle), sock=sock,
                                        limit=1 << 20)
    await stop.wait()
    logs.log("info", "Shutting down Toxiproxy HTTP server")
    server.close()
    collection.stop_all()
    await asyncio.sleep(0)
    return 0


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    if opts.version:
        sys.stdout.write(f"toxiproxy-server version {__version__}\n")
        return 0
    return asyncio.run(run(opts))


if __name__ == "__main__":
    sys.exit(main())
