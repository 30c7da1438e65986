"""Image policy: which image each service runs, and how it is obtained on machines without a registry.

For every service the official image, pinned to an exact tag, is the default; an env var overrides
it. ``resolve()`` tries, in order:

    1. the ref is present locally                      -> source "present"
    2. the ref can be pulled (an unreachable registry fails in well under a second)
                                                       -> source "pulled"
    3. only for the default ref of a service with a recipe in harness/stack/recipes/<service>/:
       build ``dr-harness/<service>:<version>-<recipehash12>`` on a Debian 12 base, or reuse
       that tag when it already exists                -> source "built", equivalent_of=<official ref>
    4. otherwise ImageUnavailable, one line naming what is missing (callers turn it into a skip).

Built images never carry the official name. The recipe hash covers the recipe directory's files
and any extra build-context sources (toxiproxy: the toxiproxy_compat package; app: the app/
package), so a recipe is rebuilt only when it changed. A service with no official image at all
(``official=False``: the reference service in app/) skips steps 1-2 for its default ref and is
always the recipe build. A recipe may need a step on the host before ``docker build`` (``prepare``,
run in the build context; app: wheels built with the host's pip, since HTTPS fails in builds).
The base is ``debian:bookworm-slim`` when present or pullable, else
``dr-harness/debian:bookworm-<hash12>`` made with debootstrap from the host's own Debian mirror.
Builds are serialised per tag by a file lock, so threads and parallel processes build once.

The recipes are package data (``harness/stack/recipes/``) and the compat server is the installed
``toxiproxy_compat`` package, both found through the import system, so an installed harness builds
the same images as a checkout (same files, same hash, same tag). The app recipe's input, the
``app/`` package, exists only in the harness's own repository: elsewhere asking for it is one line.
A recipe or input that is not there is an ``ImageUnavailable`` line naming the path looked at.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.resources
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import docker
import docker.errors
import requests.exceptions

from harness.errors import ImageUnavailable
from harness.stack.debian_base import AptSource, base_tag, parse_apt_sources, resolve_base
from harness.stack.image_store import (RECIPE_HASH_LABEL, Progress, exclusive, local_image, say, short,
                                       try_pull)

__all__ = ["SPECS", "AptSource", "ImageSpec", "ResolvedImage", "base_tag", "check_recipe", "package_dir",
           "parse_apt_sources", "recipe_hash", "recipe_tag", "resolve", "resolve_base", "resolve_many", "try_pull"]



def package_dir(package: str) -> Path:
    """The folder of an installed (or editable) package, found through the import system."""
    return Path(str(importlib.resources.files(package))).resolve()


RECIPES_DIR = package_dir(__package__ or "harness.stack") / "recipes"
# The folder holding the harness package: the harness's own repository when run from a checkout
# (which also holds app/, the reference service), site-packages when installed.
REPO_ROOT = package_dir("harness").parent
_IGNORED_NAMES = ("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info")
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
    official: bool = True
    prepare: Callable[[Path], None] | None = None

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
                           extra_context=(package_dir("toxiproxy_compat"),)),
    "app": ImageSpec("app", "dr-harness/app:0.1.0", "HARNESS_APP_IMAGE", RECIPES_DIR / "app",
                     recipe_version="0.1.0", extra_context=(REPO_ROOT / "app",), official=False,
                     prepare=lambda ctx: host_wheels(ctx / "app" / "requirements.txt", ctx / "wheels")),
    "elasticsearch": ImageSpec("elasticsearch", "docker.elastic.co/elasticsearch/elasticsearch:8.15.3",
                               "HARNESS_ELASTICSEARCH_IMAGE", None),
}


def hashed_files(root: Path) -> Iterator[tuple[str, Path]]:
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
        for rel, path in hashed_files(root):
            executable = os.access(path, os.X_OK)
            digest.update(f"{label}/{rel}\0{int(executable)}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()[:12]


def host_wheels(requirements: Path, dest: Path, *, timeout_s: float = 600.0) -> None:
    """Build wheels for ``requirements`` with the host's pip into ``dest`` (a pre-build step).

    The image installs them with ``pip install --no-index``; binary wheels must match the image's
    python (Debian 12: 3.11), so the host's python must be 3.11 too.
    """
    if sys.version_info[:2] != (3, 11):
        raise ImageUnavailable(f"wheels for {requirements.name} need python 3.11 like Debian 12's, "
                               f"this is {sys.version.split()[0]}",
                               fix="run the harness with a python 3.11 venv")
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
           "--wheel-dir", str(dest), "--requirement", str(requirements)]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.CalledProcessError as exc:
        raise ImageUnavailable(f"building wheels for {requirements.name} failed (pip exit {exc.returncode})",
                               fix="check that the package index answers and the pins exist",
                               evidence=(exc.stderr or "")[-2000:]) from exc
    except subprocess.TimeoutExpired as exc:
        raise ImageUnavailable(f"building wheels for {requirements.name} took over {timeout_s:g} s",
                               fix="check that the package index answers") from exc


def recipe_tag(spec: ImageSpec) -> str:
    """The local tag a recipe build gets: ``dr-harness/<service>:<version>-<recipehash12>``."""
    return f"dr-harness/{spec.service}:{spec.recipe_version}-{recipe_hash(spec)}"


def _unavailable(spec: ImageSpec, ref: str) -> ImageUnavailable:
    if spec.recipe_dir is None:
        return ImageUnavailable(
            f"{spec.service} image {ref} is not present and cannot be pulled; no local recipe exists",
            fix=f"set {spec.env_var} to an image you have")
    return ImageUnavailable(
        f"{spec.service} image {ref} (from {spec.env_var}) is not present and cannot be pulled",
        fix=f"unset {spec.env_var} to use the local recipe, or set it to an image you have")


def check_recipe(spec: ImageSpec) -> None:
    """ImageUnavailable (one line, naming the path looked at) when the recipe or an input is missing."""
    assert spec.recipe_dir is not None
    if not (spec.recipe_dir / "Dockerfile").is_file():
        raise ImageUnavailable(
            f"the {spec.service} image recipe is missing: no Dockerfile in {spec.recipe_dir}",
            fix=f"reinstall the harness (pip install --force-reinstall dr-harness), "
                f"or set {spec.env_var} to an image you have")
    for extra in spec.extra_context:
        if not extra.is_dir():
            only_here = " (it ships only in the harness's own repository)" if spec.service == "app" else ""
            raise ImageUnavailable(
                f"the {spec.service} image recipe needs {extra.name}/, not found at {extra}{only_here}",
                fix=f"run from a clone of the harness, or set {spec.env_var} to an image you have")


def resolve(client: docker.DockerClient, spec: ImageSpec, *, progress: Progress = print,
            environ: Mapping[str, str] | None = None) -> ResolvedImage:
    """Make ``spec``'s image available locally (present, pulled or built) and say which."""
    ref = spec.ref(environ)
    if spec.official or ref != spec.default_ref:
        image = local_image(client, ref)
        if image is not None:
            return ResolvedImage(spec.service, ref, image.id, "present")
        image = try_pull(client, ref, progress=progress)
        if image is not None:
            return ResolvedImage(spec.service, ref, image.id, "pulled")
    if spec.recipe_dir is None or ref != spec.default_ref:
        raise _unavailable(spec, ref)
    check_recipe(spec)
    tag = recipe_tag(spec)
    with exclusive(tag):
        image = local_image(client, tag)
        if image is not None:
            say(progress, f"{spec.service}: reused {tag} (recipe unchanged) in place of {ref}")
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


def build_log_tail(build_log: object, lines: int = 15) -> str:
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
    stands = f"stands in for {spec.default_ref}" if spec.official else "no official image exists"
    say(progress, f"{spec.service}: building {tag} from {rel}/ on {base_ref} ({stands}; a minute or two) ...")
    started = time.monotonic()
    ignore = shutil.ignore_patterns(*_IGNORED_NAMES)
    with tempfile.TemporaryDirectory(prefix=f"dr-harness-{spec.service}-") as ctx:
        shutil.copytree(spec.recipe_dir, ctx, dirs_exist_ok=True, ignore=ignore)
        for extra in spec.extra_context:
            shutil.copytree(extra, Path(ctx) / extra.name, ignore=ignore)
        if spec.prepare is not None:
            say(progress, f"{spec.service}: preparing the build context on the host ...")
            spec.prepare(Path(ctx))
        labels = {RECIPE_HASH_LABEL: tag.rsplit("-", 1)[-1], "dr-harness.recipe": spec.service,
                  "dr-harness.equivalent-of": spec.default_ref, "dr-harness.base": base_ref}
        try:
            image, _ = client.images.build(path=ctx, tag=tag, buildargs={"BASE_IMAGE": base_ref},
                                           labels=labels, rm=True, forcerm=True, pull=False)
        except docker.errors.BuildError as exc:
            raise ImageUnavailable(
                f"building {tag} failed: {short(exc)}", where=f"{rel}/Dockerfile",
                fix="fix the recipe (last build lines are in the error's evidence)",
                evidence=build_log_tail(exc.build_log)) from exc
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            raise ImageUnavailable(f"building {tag} failed: {short(exc)}", where=f"{rel}/Dockerfile",
                                   fix="check the engine and the recipe") from exc
    say(progress, f"{spec.service}: built {tag} in {time.monotonic() - started:.0f} s")
    return image
