"""Starting and stopping the compat server process for the conformance suite (spec §1).

``start_compat_server`` runs ``python -m toxiproxy_compat -host 127.0.0.1 -port <free>`` from the repo
root with its output in a log file and waits for GET /version (tenacity); ``stop_server`` sends
SIGTERM to that PID, waits (bounded) and returns the exit status.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from compat_http import ApiClient

SERVER_PYTHON_ENV = "TOXIPROXY_COMPAT_PYTHON"
"""Names the interpreter that runs a started compat server (default: the one running pytest)."""
from harness.errors import ServiceNotReady

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_S = 15
SHUTDOWN_S = 35  # the official server allows its HTTP server 30 s to shut down gracefully


@dataclass(frozen=True)
class ServerUnderTest:
    """The Toxiproxy API server the suite talks to; ``process`` is None when it was not started here."""

    api: ApiClient
    official: bool
    process: subprocess.Popen[bytes] | None
    log_path: Path | None

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the started server's log ('' when not started here)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def assert_alive(self) -> None:
        """Fail unless the process (if started here) is running and the API answers /version."""
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"server process exited with {self.process.returncode}; log tail:\n"
                                 f"{self.log_tail()}")
        assert self.api.is_up(), "server no longer answers GET /version"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_version(server: ServerUnderTest) -> None:
    """Wait until GET /version answers 200; raise ServiceNotReady if the process dies or time runs out."""

    @retry(stop=stop_after_delay(STARTUP_S), wait=wait_fixed(0.1), retry=retry_if_exception_type(OSError),
           reraise=True)
    def probe() -> None:
        if server.process is not None and server.process.poll() is not None:
            raise ServiceNotReady(f"toxiproxy_compat exited with {server.process.returncode} at startup",
                                  where=str(server.log_path), fix="read its log", evidence=server.log_tail())
        if server.api.get("/version", timeout_s=2).status != 200:
            raise OSError("GET /version not 200 yet")

    try:
        probe()
    except OSError as exc:
        raise ServiceNotReady(f"no answer on {server.api.base_url}/version within {STARTUP_S} s",
                              where=str(server.log_path or server.api.base_url),
                              fix="check that the server starts with -host/-port", evidence=server.log_tail()) from exc


def start_compat_server(log_path: Path, extra_args: tuple[str, ...] = ()) -> ServerUnderTest:
    """Start ``python -m toxiproxy_compat`` on a free 127.0.0.1 port and wait until it answers."""
    port = free_port()
    python = os.environ.get(SERVER_PYTHON_ENV) or sys.executable
    argv = [python, "-m", "toxiproxy_compat", "-host", "127.0.0.1", "-port", str(port), *extra_args]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = ServerUnderTest(ApiClient("127.0.0.1", port), False, proc, log_path)
    try:
        wait_for_version(server)
    except BaseException:
        stop_server(server)
        raise
    return server


def stop_server(server: ServerUnderTest) -> int | None:
    """SIGTERM the started process by PID and wait for it; SIGKILL after SHUTDOWN_S. Returns its exit status."""
    proc = server.process
    if proc is None:
        return None
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=SHUTDOWN_S)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            raise AssertionError(f"server did not exit within {SHUTDOWN_S} s of SIGTERM (§1)") from None
    return proc.returncode
