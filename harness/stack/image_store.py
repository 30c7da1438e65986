"""Low-level image store operations shared by the image policy and the Debian base builder.

Looking an image up locally, pulling it with a bound on time (an unreachable registry fails fast),
serialising builds across threads and processes, and progress lines with the ``[harness]`` prefix.
"""

from __future__ import annotations

import contextlib
import fcntl
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import docker.utils
import requests.exceptions

PREFIX = "[harness]"
RECIPE_HASH_LABEL = "dr-harness.recipe-hash"
PULL_TIMEOUT_S = 600.0

Progress = Callable[[str], None]


def say(progress: Progress, message: str) -> None:
    """Report one progress line, prefixed so a reader can tell the harness from pytest."""
    progress(f"{PREFIX} {message}")


@contextlib.contextmanager
def exclusive(name: str) -> Iterator[None]:
    """Serialise work on ``name`` across threads and processes (flock on a per-name file)."""
    safe = "".join(c if c.isalnum() else "_" for c in name)
    path = Path(tempfile.gettempdir()) / f"dr-harness-image-{safe}.lock"
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def local_image(client: docker.DockerClient, ref: str) -> docker.models.images.Image | None:
    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def short(exc: BaseException) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return " ".join(str(text).split())[:200]


def try_pull(client: docker.DockerClient, ref: str, *, progress: Progress = print,
             timeout_s: float = PULL_TIMEOUT_S) -> docker.models.images.Image | None:
    """Pull ``ref``; None when the registry refuses, is unreachable, or ``timeout_s`` passes.

    One process at a time pulls a given ref (the others wait, then find it present), and a failed
    pull is not tried again on this machine for ``PULL_FAILED_TTL_S``: parallel workers of one run
    ask the registry once, not once each.
    """
    with exclusive(f"pull-{ref}"):
        image = local_image(client, ref)
        if image is not None:
            return image
        memo = _failed_pull_memo(ref)
        try:
            age = time.time() - memo.stat().st_mtime
        except OSError:
            age = None
        if age is not None and 0 <= age < PULL_FAILED_TTL_S:
            say(progress, f"not pulling {ref}: a pull failed {age:.0f} s ago ({memo.read_text().strip()})")
            return None
        image = _pull(client, ref, progress=progress, timeout_s=timeout_s, memo=memo)
        if image is not None:
            memo.unlink(missing_ok=True)
        return image


PULL_FAILED_TTL_S = 120.0


def _failed_pull_memo(ref: str) -> Path:
    safe = "".join(c if c.isalnum() else "_" for c in ref)
    return Path(tempfile.gettempdir()) / f"dr-harness-pull-failed-{safe}"


def _pull(client: docker.DockerClient, ref: str, *, progress: Progress, timeout_s: float,
          memo: Path) -> docker.models.images.Image | None:
    def failed(line: str) -> None:
        say(progress, line)
        memo.write_text(line.removeprefix(f"cannot pull {ref}: ") + "\n")

    repo, tag = docker.utils.parse_repository_tag(ref)
    say(progress, f"pulling {ref} ...")
    deadline = time.monotonic() + timeout_s
    try:
        for event in client.api.pull(repo, tag=tag, stream=True, decode=True):
            if "error" in event:
                failed(f"cannot pull {ref}: {short(Exception(event['error']))}")
                return None
            if time.monotonic() > deadline:
                failed(f"gave up pulling {ref} after {timeout_s:.0f} s")
                return None
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        failed(f"cannot pull {ref}: {short(exc)}")
        return None
    return local_image(client, ref)
