"""JSON log lines on stdout in the spirit of zerolog, filtered by the LOG_LEVEL environment variable.

Cheap by design: a level check is one integer comparison, and a line is one json.dumps and one write.
"""
from __future__ import annotations

import json
import os
import sys
import time

LEVELS = {"trace": -1, "debug": 0, "info": 1, "warn": 2, "error": 3, "fatal": 4, "panic": 5}


def _threshold() -> int:
    raw = os.environ.get("LOG_LEVEL", "").strip().lower()
    return LEVELS.get(raw, -1) if raw else -1


THRESHOLD = _threshold()


def enabled(level: str) -> bool:
    """True when a line at `level` would be written."""
    return LEVELS[level] >= THRESHOLD


def log(level: str, message: str, **fields: object) -> None:
    """Write one JSON log line (level, fields, time, message) when the level passes LOG_LEVEL."""
    if LEVELS[level] < THRESHOLD:
        return
    record: dict[str, object] = {"level": level}
    record.update(fields)
    record["time"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    record["message"] = message
    try:
        sys.stdout.write(json.dumps(record, default=str, separators=(",", ":")) + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
