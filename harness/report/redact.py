"""Secrets out of the evidence: every file a run writes passes through ``redact`` first.

Two kinds of secret are removed: the passwords the run generated (each stack's, handed over by the
plugin as ``RunRecord.redact``), wherever they appear, and any credential written inside a URL
(``scheme://user:PASSWORD@host``) or as a ``password=...`` / ``"password": "..."`` pair, which catches
secrets the harness never saw (a team's own DSN in a log line). Each becomes ``***``.

    redact("redis://:s3cret@proxy-redis:16379/0 ok", ["s3cret"])   # 'redis://:***@proxy-redis:16379/0 ok'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
MIN_SECRET_LEN = 6  # shorter strings would blank out ordinary words and numbers
URL_CREDENTIALS = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@\"'<>]*:)(?P<pw>[^\s@/\"'<>]+)@")
KEY_VALUE = re.compile(r"(?P<head>(?i:\b(?:password|passwd|pgpassword)[\"']?\s*[=:]|\brequirepass\s)\s*[\"']?)"
                       r"(?P<pw>[^\s\"'&,;<>}]+)")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every given secret, URL password and password pair replaced by ``***``."""
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = URL_CREDENTIALS.sub(lambda m: m["head"] + MASK + "@", text)
    return KEY_VALUE.sub(lambda m: m["head"] + (m["pw"] if m["pw"] == MASK else MASK), text)
