"""Image policy: which image each service runs, and how it is obtained on machines without a registry.

For every service the official image, pinned to an exact tag, is the default; an env var overrides
it. ``resolve()`` tries, in order:

    1. the ref is present locally                      -> source "present"
    2. the ref can be pulled (an unreachable registry fails in well under a second)
                                                       -> source "pulled"
    3. only for the default ref of a service with a recipe in compose/images/<service>/:
       build ``dr-harness/<service>:<version>-<recipehash12>`` on a Debian 12 base, or reuse
       that tag when it already exists                -> source "built", equivalent_of=<official ref>
    4. otherwise ImageUnavailable, one line naming what is missing (callers turn it into a skip).

Built images never carry the official name. The recipe hash covers the recipe directory's files
and any extra build-context sources (toxiproxy: the toxiproxy_compat package), so a recipe is
rebuilt only when it changed. The base is ``debian:bookworm-slim`` when present or pullable, else
``dr-harness/debian:bookworm-<hash12>`` made with debootstrap from the host's own Debian mirror.
Builds are serialised per tag by a file lock, so threads and parallel processes build once.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import docker
import docker.errors
import docker.utils
import requests.exceptions

from harness.errors import ImageUnavailable

REPO_ROOT = Path(__file__).resolve().parent.parent
RECIPES_DIR = REPO_ROOT / "compose" / "images"
PREFIX = "[harness]"
RECIPE_HASH_LABEL = "dr-harness.recipe-hash"
PULL_TIMEOUT_S = 600.0
BASE_OFFICIAL_REF = "debian:bookworm-slim"
BASE_ENV_VAR = "HARNESS_BASE_IMAGE"
_IGNORED_NAMES = ("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info")

Progress = Callable[[str], None]
Source = Literal["present", "pulled", "built"]


@dataclass(frozen=True)
class ImageSpec:
    """Where a service's image comes from: an official pinned ref, its env override, a recipe."""

    service: str
    default_ref: str
    env_var: str
    recipe_dir: Path | None
    recipe_version: str = "local"
    extra_context: tuple[Path, ...] = field(default=())

    def ref(self, environ: Mapping[str, str] | None = None) -> str:
        """The ref to use: the env override if set and non-empty, else the pinned default."""
        env = os.environ if environ is None else environ
        return env.get(self.env_var, "").strip() or self.default_ref


@dataclass(frozen=True)
class ResolvedImage:
    """An image that exists locally now, and how it got there."""

    service: str
    ref: str
    id: str
    source: Source
    equivalent_of: str | None = None


SPECS: dict[str, ImageSpec] = {
    "postgres": ImageSpec("postgres", "postgres:15.10-bookworm", "HARNESS_POSTGRES_IMAGE",
                          RECIPES_DIR / "postgres", recipe_version="15"),
    "redis": ImageSpec("redis", "redis:7.0.15-bookworm", "HARNESS_REDIS_IMAGE",
                       RECIPES_DIR / "redis", recipe_version="7.0"),
    "toxiproxy": ImageSpec("toxiproxy", "ghcr.io/shopify/toxiproxy:2.12.0", "HARNESS_TOXIPROXY_IMAGE",
                           RECIPES_DIR / "toxiproxy", recipe_version="compat",
                           extra_context=(REPO_ROOT / "toxiproxy_compat",)),
    "elasticsearch": ImageSpec("elasticsearch", "docker.elastic.co/elasticsearch/elasticsearch:8.15.3",
                               "HARNESS_ELASTICSEARCH_IMAGE", None),
}


def _say(progress: Progress, message: str) -> None:
    progress(f"{PREFIX} {message}")


def _hashed_files(root: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        ignored = any(fnmatch.fnmatch(part, pat) for part in rel.parts for pat in _IGNORED_NAMES)
        if path.is_file() and not ignored:
            yield rel.as_posix(), path


def recipe_hash(spec: ImageSpec) -> str:
    """sha256 (first 12 hex digits) over the recipe's files and extra context: names, modes, bytes."""
    if spec.recipe_dir is None:
        raise ValueError(f"{spec.service} has no recipe")
    digest = hashlib.sha256()
    for label, root in [("recipe", spec.recipe_dir), *[(p.name, p) for p in spec.extra_context]]:
        for rel, path in _hashed_files(root):
            executable = os.access(path, os.X_OK)
            digest.update(f"{label}/{rel}\0{int(executable)}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()[:12]


def recipe_tag(spec: ImageSpec) -> str:
    """The local tag a recipe build gets: ``dr-harness/<service>:<version>-<recipehash12>``."""
    return f"dr-harness/{spec.service}:{spec.recipe_version}-{recipe_hash(spec)}"


@contextlib.contextmanager
def _exclusive(name: str) -> Iterator[None]:
    """Serialise work on ``name`` across threads and processes (flock on a per-name file)."""
    safe = "".join(c if c.isalnum() else "_" for c in name)
    path = Path(tempfile.gettempdir()) / f"dr-harness-image-{safe}.lock"
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _local(client: docker.DockerClient, ref: str) -> docker.models.images.Image | None:
    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def _short(exc: BaseException) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return " ".join(str(text).split())[:200]


def try_pull(client: docker.DockerClient, ref: str, *, progress: Progress = print,
             timeout_s: float = PULL_TIMEOUT_S) -> docker.models.images.Image | None:
    """Pull ``ref``; None when the registry refuses, is unreachable, or ``timeout_s`` passes."""
    repo, tag = docker.utils.parse_repository_tag(ref)
    _say(progress, f"pulling {ref} ...")
    deadline = time.monotonic() + timeout_s
    try:
        for event in client.api.pull(repo, tag=tag, stream=True, decode=True):
            if "error" in event:
                _say(progress, f"cannot pull {ref}: {_short(Exception(event['error']))}")
                return None
            if time.monotonic() > deadline:
                _say(progress, f"gave up pulling {ref} after {timeout_s:.0f} s")
                return None
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        _say(progress, f"cannot pull {ref}: {_short(exc)}")
        return None
    return _local(client, ref)


def _unavailable(spec: ImageSpec, ref: str) -> ImageUnavailable:
    if spec.recipe_dir is None:
        return ImageUnavailable(
            f"{spec.service} image {ref} is not present and cannot be pulled; no local recipe exists",
            fix=f"set {spec.env_var} to an image you have")
    return ImageUnavailable(
        f"{spec.service} image {ref} (from {spec.env_var}) is not present and cannot be pulled",
        fix=f"unset {spec.env_var} to use the local recipe, or set it to an image you have")


def resolve(client: docker.DockerClient, spec: ImageSpec, *, progress: Progress = print,
            environ: Mapping[str, str] | None = None) -> ResolvedImage:
    """Make ``spec``'s image available locally (present, pulled or built) and say which."""
    ref = spec.ref(environ)
    image = _local(client, ref)
    if image is not None:
        return ResolvedImage(spec.service, ref, image.id, "present")
    image = try_pull(client, ref, progress=progress)
    if image is not None:
        return ResolvedImage(spec.service, ref, image.id, "pulled")
    if spec.recipe_dir is None or ref != spec.default_ref:
        raise _unavailable(spec, ref)
    tag = recipe_tag(spec)
    with _exclusive(tag):
        image = _local(client, tag)
        if image is not None:
            _say(progress, f"{spec.service}: reused {tag} (recipe unchanged) in place of {ref}")
            return ResolvedImage(spec.service, tag, image.id, "built", spec.default_ref)
        base = resolve_base(client, progress=progress, environ=environ)
        image = _build_recipe(client, spec, tag=tag, base_ref=base, progress=progress)
    return ResolvedImage(spec.service, tag, image.id, "built", spec.default_ref)


def resolve_many(client: docker.DockerClient, services: list[str], *, progress: Progress = print,
                 environ: Mapping[str, str] | None = None) -> dict[str, ResolvedImage | ImageUnavailable]:
    """Resolve several services in parallel; each value is the image or why it is unavailable."""
    def one(service: str) -> ResolvedImage | ImageUnavailable:
        try:
            return resolve(client, SPECS[service], progress=progress, environ=environ)
        except ImageUnavailable as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, len(services))) as pool:
        return dict(zip(services, pool.map(one, services)))


def _build_log_tail(build_log: object, lines: int = 15) -> str:
    texts: list[str] = []
    for entry in build_log or []:  # type: ignore[union-attr]
        if isinstance(entry, dict):
            texts.extend(str(entry.get(k, "")) for k in ("stream", "error") if entry.get(k))
    return "\n".join("".join(texts).rstrip().splitlines()[-lines:])


def _build_recipe(client: docker.DockerClient, spec: ImageSpec, *, tag: str, base_ref: str,
                  progress: Progress) -> docker.models.images.Image:
    assert spec.recipe_dir is not None
    rel = spec.recipe_dir.relative_to(REPO_ROOT) if spec.recipe_dir.is_relative_to(REPO_ROOT) \
        else spec.recipe_dir
    _say(progress, f"{spec.service}: building {tag} from {rel}/ on {base_ref} "
                   f"(stands in for {spec.default_ref}; a minute or two) ...")
    started = time.monotonic()
    ignore = shutil.ignore_patterns(*_IGNORED_NAMES)
    with tempfile.TemporaryDirectory(prefix=f"dr-harness-{spec.service}-") as ctx:
        shutil.copytree(spec.recipe_dir, ctx, dirs_exist_ok=True, ignore=ignore)
        for extra in spec.extra_context:
            shutil.copytree(extra, Path(ctx) / extra.name, ignore=ignore)
        labels = {RECIPE_HASH_LABEL: tag.rsplit("-", 1)[-1], "dr-harness.recipe": spec.service,
                  "dr-harness.equivalent-of": spec.default_ref, "dr-harness.base": base_ref}
        try:
            image, _ = client.images.build(path=ctx, tag=tag, buildargs={"BASE_IMAGE": base_ref},
                                           labels=labels, rm=True, forcerm=True, pull=False)
        except docker.errors.BuildError as exc:
            raise ImageUnavailable(
                f"building {tag} failed: {_short(exc)}", where=f"{rel}/Dockerfile",
                fix="fix the recipe (last build lines are in the error's evidence)",
                evidence=_build_log_tail(exc.build_log)) from exc
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            raise ImageUnavailable(f"building {tag} failed: {_short(exc)}", where=f"{rel}/Dockerfile",
                                   fix="check the engine and the recipe") from exc
    _say(progress, f"{spec.service}: built {tag} in {time.monotonic() - started:.0f} s")
    return image


# --- the Debian 12 base -------------------------------------------------------------------------

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
        if _local(client, override) is None and try_pull(client, override, progress=progress) is None:
            raise ImageUnavailable(f"base image {override} (from {BASE_ENV_VAR}) is not present "
                                   "and cannot be pulled", fix=f"unset {BASE_ENV_VAR}")
        return override
    with _exclusive("debian-base"):
        if _local(client, BASE_OFFICIAL_REF) is not None:
            return BASE_OFFICIAL_REF
        sources = parse_apt_sources()
        tag = base_tag(sources)
        if _local(client, tag) is not None:
            _say(progress, f"base: reused {tag}")
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
                               "the debootstrap package", fix=f"run scripts/ensure-engine.sh as root, or {fix}")
    _say(progress, f"base: building {tag} with debootstrap from {mirrors[0]} (about a minute) ...")
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
            raise ImageUnavailable(f"docker import of {tag} failed: {_short(exc)}", fix=fix) from exc
    if _local(client, tag) is None:
        raise ImageUnavailable(f"docker import of {tag} produced no image", fix=fix)
    _say(progress, f"base: built {tag} in {time.monotonic() - started:.0f} s")
