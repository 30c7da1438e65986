"""A declared service run as a local command on the workstation (``ServiceSpec(run=...)``).

The command is started without a shell, in its own process group, with the rendered environment
on top of the harness's own; its output goes to ``<logs_dir>/<service>.log``, which is kept after
the run as evidence. It is stopped by its process-group id (SIGTERM, SIGKILL after a grace), never
by name. It reaches its dependencies through the proxies' ports published on 127.0.0.1.

    proc = LocalProcess("web", ["python3", "app.py", "--port", "8123"], env, logs_dir, port=8123)
    proc.start(); proc.alive(); proc.tail(); proc.stop()
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, FaultError

STOP_GRACE_S = 5.0


class LocalProcess:
    """One local command of a stack; ``start()``, ``alive()``, ``tail()``, ``stop()``."""

    def __init__(self, service: str, args: Sequence[str], env: Mapping[str, str], logs_dir: Path, *,
                 port: int, cwd: str | Path | None = None) -> None:
        self.service = service
        self.port = port              # where it must listen, on 127.0.0.1 (its {port})
        self.args = list(args)
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = Path(logs_dir) / f"{service}.log"
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    def start(self) -> "LocalProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} start: {' '.join(self.args)}\n".encode())
            log.flush()
            try:
                self._popen = subprocess.Popen(self.args, env={**os.environ, **self.env}, cwd=self.cwd,
                                               stdin=subprocess.DEVNULL, stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as exc:
                raise ConfigError(f"service {self.service!r}: cannot start local command "
                                  f"{self.args[0]!r}: {exc.strerror or exc}", where="run=",
                                  fix="give a command that exists on this workstation "
                                      "(a full path or one on PATH)") from None
        return self

    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def exit_code(self) -> int | None:
        return self._popen.poll() if self._popen is not None else None

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no output)"
        return "\n".join(text.strip().splitlines()[-lines:])

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the command's process group (the command and what it started)."""
        if self._popen is None:
            return
        try:
            os.killpg(self._popen.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace_s``; reap it. Safe to call twice."""
        if self._popen is None:
            return
        if self._popen.poll() is None:
            self.signal(signal.SIGCONT)   # a paused process cannot act on SIGTERM
            self.signal(signal.SIGTERM)
            try:
                self._popen.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self._popen.wait(timeout=10)
        self.signal(signal.SIGKILL)       # whatever it left behind in its group

    def fault(self, cls: type, *args: Any, **kwargs: Any) -> Any:
        """Container faults do not apply to a local command; say what to do instead."""
        raise FaultError(f"service {self.service!r} runs as a local command (pid {self.pid}): "
                         f"{cls.__name__} needs a container",
                         fix="run it as a container (image= or build=), or fault its dependencies")
