"""The harness's exceptions: one root, a shallow tree, one clear line each.

    HarnessError                  root; its str() is one line: what, where, what to do
    ├── ConfigError               a bad objectives file, setting or command-line option
    ├── EngineUnavailable         no Docker engine answers
    ├── ImageUnavailable          an image that can be neither found, pulled nor built
    ├── PortInUse                 a port the run needs is taken
    ├── ServiceNotReady           a service never passed its readiness probe (last log lines attached)
    ├── FaultError                a fault could not be injected or healed
    └── DrillError                a backup/restore drill step failed (e.g. a checksum mismatch)

Foreign exceptions (docker, psycopg, redis, requests) are translated at the boundary with
``raise HarnessError(...) from exc`` so the cause stays in the traceback while the message
stays short.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Root of the harness's errors. ``str(err)`` is a single line meant for a person."""

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None,
                 evidence: str | None = None) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        self.evidence = evidence
        super().__init__(self.line())

    def line(self) -> str:
        parts = [self.what]
        if self.where:
            parts.append(f"(in {self.where})")
        text = " ".join(parts)
        if self.fix:
            text += f"; {self.fix}"
        return text.replace("\n", " ")


class ConfigError(HarnessError):
    """A bad objectives file, setting or option."""


class EngineUnavailable(HarnessError):
    """No Docker engine answers at DOCKER_HOST or the default socket."""


class ImageUnavailable(HarnessError):
    """An image can be neither found locally, pulled nor built from its recipe (harness/stack/recipes/)."""


class PortInUse(HarnessError):
    """A port the run needs is already taken by another process."""


class ServiceNotReady(HarnessError):
    """A service never passed its readiness probe; ``evidence`` holds its last log lines."""


class FaultError(HarnessError):
    """A fault could not be injected or healed."""


class DrillError(HarnessError):
    """A backup/restore drill step failed."""
