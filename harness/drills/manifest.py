"""The SHA-256 manifest of a backup: what was written, so a copy can be checked before a restore.

Pure data and text, no Docker: the drill runs ``sha256sum`` and ``find -printf '%s %P'`` where the
files are (inside a container on the backup volume) and hands their output here.

    manifest = Manifest.from_listing(sha256sum_output, sizes_output)
    manifest.text()                               # the MANIFEST.sha256 file, sha256sum's own format
    problems = manifest.problems(Manifest.from_listing(copy_sums, copy_sizes).digests)
    # ["base/global/pg_control: sha256 3fa1... expected 9c04...", "wal/000000010000000000000003: missing"]

A manifest lists every regular file by its path relative to the backup's root. A copy passes when
it holds exactly those files with exactly those digests: a changed byte, a missing file and an
extra file are each a problem, named by path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

MANIFEST_NAME = "MANIFEST.sha256"
_SUM_LINE = re.compile(r"^(?P<digest>[0-9a-f]{64}) [ *](?P<path>.+)$")
_SIZE_LINE = re.compile(r"^(?P<size>\d+) (?P<path>.+)$")


def _relative(path: str) -> str:
    return path[2:] if path.startswith("./") else path


def parse_sha256sum(text: str) -> dict[str, str]:
    """``sha256sum`` output -> {relative path: hex digest}; ValueError naming the first bad line."""
    digests: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _SUM_LINE.match(line)
        if match is None:
            raise ValueError(f"line {number} of the sha256sum output is not '<digest>  <path>': {line[:80]!r}")
        digests[_relative(match["path"])] = match["digest"]
    return digests


def parse_sizes(text: str) -> dict[str, int]:
    """``find -type f -printf '%s %P\\n'`` output -> {relative path: size in bytes}."""
    sizes: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _SIZE_LINE.match(line)
        if match is None:
            raise ValueError(f"line {number} of the size listing is not '<bytes> <path>': {line[:80]!r}")
        sizes[_relative(match["path"])] = int(match["size"])
    return sizes


@dataclass(frozen=True)
class Manifest:
    """Every file of a backup with its SHA-256 digest (and size, when known)."""

    digests: Mapping[str, str]
    sizes: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_listing(cls, sums: str, sizes: str = "") -> Manifest:
        """The manifest that ``sha256sum`` (and optionally the size listing) output describes."""
        digests = {p: d for p, d in parse_sha256sum(sums).items() if p != MANIFEST_NAME}
        return cls(digests, {p: s for p, s in parse_sizes(sizes).items() if p in digests})

    @classmethod
    def parse(cls, text: str) -> Manifest:
        """Read back a MANIFEST.sha256 written by ``text()``."""
        return cls(parse_sha256sum(text))

    @property
    def total_bytes(self) -> int:
        """The backup's size: the sum of its files' sizes (0 when sizes are unknown)."""
        return sum(self.sizes.values())

    def text(self) -> str:
        """The manifest in ``sha256sum -c`` format, sorted by path."""
        return "".join(f"{self.digests[p]}  {p}\n" for p in sorted(self.digests))

    def problems(self, found: Mapping[str, str]) -> list[str]:
        """Why a copy whose files hash to ``found`` is not this backup (empty when it is)."""
        found = {p: d for p, d in found.items() if p != MANIFEST_NAME}
        out = []
        for path in sorted(self.digests):
            if path not in found:
                out.append(f"{path}: missing")
            elif found[path] != self.digests[path]:
                out.append(f"{path}: sha256 {found[path][:12]}... expected {self.digests[path][:12]}...")
        out += [f"{path}: not in the manifest" for path in sorted(set(found) - set(self.digests))]
        if not self.digests:
            out.append("the manifest lists no files: the backup is empty")
        return out
