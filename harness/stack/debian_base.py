"""The Debian 12 base image that local recipes build on, where no base image can be pulled.

``debian:bookworm-slim`` when present or pullable; else ``dr-harness/debian:bookworm-<hash12>``
made with ``debootstrap --variant=minbase`` from the host's own Debian mirror (read from its apt
sources, never a hard-coded host) and imported with ``docker import``. ``HARNESS_BASE_IMAGE``
overrides both.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import requests.exceptions

from harness.errors import ImageUnavailable
from harness.stack.image_store import (RECIPE_HASH_LABEL, Progress, exclusive, local_image, say, short,
                                       try_pull)

BASE_OFFICIAL_REF = "debian:bookworm-slim"
BASE_ENV_VAR = "HARNESS_BASE_IMAGE"


@dataclass(frozen=True)
class AptSource:
    """One Debian archive entry of the host's apt configuration."""

    uri: str
    suite: str
    components: tuple[str, ...]

    def line(self) -> str:
        return f"deb {self.uri} {self.suite} {' '.join(self.components)}"


def parse_apt_sources(apt_dir: Path = Path("/etc/apt"), *, release: str = "bookworm") -> list[AptSource]:
    """The host's Debian archive entries for ``release`` (one-line and deb822 files, enabled only).

    Only URIs whose path ends in ``/debian`` or ``/debian-security`` count: those are the Debian
    archive's layout, whatever host serves them; third-party repositories are left out.
    """
    found: list[AptSource] = []

    def add(uri: str, suites: list[str], components: list[str]) -> None:
        if not uri.rstrip("/").endswith(("/debian", "/debian-security")):
            return
        for suite in suites:
            if suite == release or suite.startswith(release + "-"):
                found.append(AptSource(uri.rstrip("/"), suite, tuple(components)))

    files = [apt_dir / "sources.list"] if (apt_dir / "sources.list").is_file() else []
    files += sorted((apt_dir / "sources.list.d").glob("*.list")) + \
        sorted((apt_dir / "sources.list.d").glob("*.sources"))
    for path in files:
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for stanza in text.split("\n\n"):
                fields: dict[str, str] = {}
                for raw in stanza.splitlines():
                    if raw.strip().startswith("#") or ":" not in raw:
                        continue
                    key, value = raw.split(":", 1)
                    fields[key.strip().lower()] = value.strip()
                if "deb" not in fields.get("types", "").split() or \
                        fields.get("enabled", "yes").lower() == "no":
                    continue
                for uri in fields.get("uris", "").split():
                    add(uri, fields.get("suites", "").split(), fields.get("components", "main").split())
        else:
            for raw in text.splitlines():
                words = raw.split("#", 1)[0].split()
                if not words or words[0] != "deb":
                    continue
                words = words[1:]
                if words and words[0].startswith("["):
                    while words and not words[0].endswith("]"):
                        words = words[1:]
                    words = words[1:]
                if len(words) >= 2:
                    add(words[0], [words[1]], words[2:] or ["main"])
    return found


def base_tag(sources: list[AptSource]) -> str:
    """``dr-harness/debian:bookworm-<hash12>``; the hash covers the variant and the apt sources."""
    text = "minbase\n" + "\n".join(s.line() for s in sources)
    return f"dr-harness/debian:bookworm-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def resolve_base(client: docker.DockerClient, *, progress: Progress = print,
                 environ: Mapping[str, str] | None = None) -> str:
    """A Debian 12 base ref that exists locally: override, official slim, or a debootstrap build."""
    env = os.environ if environ is None else environ
    override = env.get(BASE_ENV_VAR, "").strip()
    if override:
        if local_image(client, override) is None and try_pull(client, override, progress=progress) is None:
            raise ImageUnavailable(f"base image {override} (from {BASE_ENV_VAR}) is not present "
                                   "and cannot be pulled", fix=f"unset {BASE_ENV_VAR}")
        return override
    with exclusive("debian-base"):
        if local_image(client, BASE_OFFICIAL_REF) is not None:
            return BASE_OFFICIAL_REF
        sources = parse_apt_sources()
        tag = base_tag(sources)
        if local_image(client, tag) is not None:
            say(progress, f"base: reused {tag}")
            return tag
        if try_pull(client, BASE_OFFICIAL_REF, progress=progress) is not None:
            return BASE_OFFICIAL_REF
        _debootstrap_base(client, sources, tag, progress)
        return tag


def _debootstrap_base(client: docker.DockerClient, sources: list[AptSource], tag: str,
                      progress: Progress) -> None:
    mirrors = [s.uri for s in sources if s.suite == "bookworm" and s.uri.endswith("/debian")]
    fix = f"make {BASE_OFFICIAL_REF} available locally, or set {BASE_ENV_VAR}"
    if not mirrors:
        raise ImageUnavailable("no Debian bookworm mirror found in /etc/apt/sources.list(.d)",
                               where="/etc/apt", fix=fix)
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        raise ImageUnavailable(f"cannot build the Debian base {tag}: debootstrap needs root and "
                               "the debootstrap package", fix=f"run dr-harness engine as root, or {fix}")
    say(progress, f"base: building {tag} with debootstrap from {mirrors[0]} (about a minute) ...")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dr-harness-base-") as work:
        rootfs, log = Path(work) / "rootfs", Path(work) / "debootstrap.log"
        with open(log, "wb") as out:
            try:
                done = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs),
                                       mirrors[0]], stdout=out, stderr=subprocess.STDOUT,
                                      timeout=1200, check=False)
                code = done.returncode
            except subprocess.TimeoutExpired:
                code = -1
        if code != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise ImageUnavailable(f"debootstrap of {tag} failed (exit {code})", where=mirrors[0],
                                   fix=fix, evidence=tail)
        (rootfs / "etc/apt/sources.list").write_text("\n".join(s.line() for s in sources) + "\n")
        for junk in ("var/lib/apt/lists", "var/cache/apt/archives"):
            for path in (rootfs / junk).glob("*"):
                if path.is_file() and path.name != "lock":
                    path.unlink()
        tarball = Path(work) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(tarball), "."],
                       check=True)
        repo, version = tag.split(":", 1)
        try:
            client.api.import_image_from_file(
                str(tarball), repository=repo, tag=version,
                changes=['CMD ["bash"]', f"LABEL {RECIPE_HASH_LABEL}={version.rsplit('-', 1)[-1]}"])
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            raise ImageUnavailable(f"docker import of {tag} failed: {short(exc)}", fix=fix) from exc
    if local_image(client, tag) is None:
        raise ImageUnavailable(f"docker import of {tag} produced no image", fix=fix)
    say(progress, f"base: built {tag} in {time.monotonic() - started:.0f} s")
