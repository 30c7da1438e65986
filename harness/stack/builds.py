"""The image of a declared service: an image policy, an image ref, or a directory with a Dockerfile.

    ImageSpec (the data services)  the image policy of ``images.py``: present, pulled, recipe
    "org/web:1.2"                  present locally, else pulled, else ImageUnavailable (a skip)
    build="services/web"           built as ``dr-harness/svc-<name>:<hash12>``, the hash covering
                                   the directory's files (names, modes, bytes), so the image is
                                   reused while the content is unchanged; built with the run's
                                   labels; a Dockerfile that says ``ARG BASE_IMAGE`` gets the
                                   harness's Debian 12 base (see ``debian_base.py``)

A build that fails is a declaration mistake: one ``ConfigError`` line naming the service and the
Dockerfile, with the last build lines as evidence.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import docker
import docker.errors
import requests.exceptions

from harness.errors import ConfigError, ImageUnavailable
from harness.stack.debian_base import resolve_base
from harness.stack.declare import ServiceSpec
from harness.stack.image_store import RECIPE_HASH_LABEL, Progress, exclusive, local_image, say, short, try_pull
from harness.stack.images import ImageSpec, ResolvedImage, build_log_tail, hashed_files, resolve
from harness.stack.labels import run_labels


def context_hash(directory: Path) -> str:
    """sha256 (first 12 hex digits) over a build directory's files: names, modes and bytes."""
    digest = hashlib.sha256()
    for rel, path in hashed_files(directory):
        digest.update(f"{rel}\0{int(os.access(path, os.X_OK))}\0".encode())
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def build_tag(spec: ServiceSpec) -> str:
    """``dr-harness/svc-<name>:<hash12>`` for a ``build=`` declaration."""
    assert spec.build is not None
    return f"dr-harness/svc-{spec.name}:{context_hash(Path(spec.build))}"


def resolve_service_image(client: docker.DockerClient, spec: ServiceSpec, run_id: str, *,
                          progress: Progress = print) -> ResolvedImage:
    """Make the image of a container service available locally and say where it came from."""
    if isinstance(spec.image, ImageSpec):
        return resolve(client, spec.image, progress=progress)
    if spec.build is not None:
        return _build(client, spec, run_id, progress)
    ref = str(spec.image)
    image = local_image(client, ref)
    if image is not None:
        return ResolvedImage(spec.name, ref, image.id, "present")
    image = try_pull(client, ref, progress=progress)
    if image is not None:
        return ResolvedImage(spec.name, ref, image.id, "pulled")
    raise ImageUnavailable(f"service {spec.name!r}: image {ref} is not present and cannot be pulled",
                           fix="build or load it first, or declare build= with its Dockerfile directory")


def _build(client: docker.DockerClient, spec: ServiceSpec, run_id: str, progress: Progress) -> ResolvedImage:
    directory = Path(spec.build).resolve()  # type: ignore[arg-type]
    tag = build_tag(spec)
    where = f"{spec.build}/Dockerfile"
    with exclusive(tag):
        image = local_image(client, tag)
        if image is not None:
            say(progress, f"{spec.name}: reused {tag} (content of {spec.build} unchanged)")
            return ResolvedImage(spec.name, tag, image.id, "built")
        args = {}
        if "BASE_IMAGE" in (directory / "Dockerfile").read_text(errors="replace"):
            args["BASE_IMAGE"] = resolve_base(client, progress=progress)
        say(progress, f"{spec.name}: building {tag} from {spec.build} ...")
        began = time.monotonic()
        labels = run_labels(run_id) | {RECIPE_HASH_LABEL: tag.rsplit(":", 1)[-1],
                                       "dr-harness.service": spec.name}
        try:
            image, _ = client.images.build(path=str(directory), tag=tag, buildargs=args, labels=labels,
                                           rm=True, forcerm=True, pull=False)
        except docker.errors.BuildError as exc:
            raise ConfigError(f"service {spec.name!r}: building its image failed: {short(exc)}",
                              where=where, fix="fix the Dockerfile (its last build lines are the "
                                               "error's evidence) and run again",
                              evidence=build_log_tail(exc.build_log)) from None
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            raise ConfigError(f"service {spec.name!r}: building its image failed: {short(exc)}",
                              where=where, fix="check the Dockerfile and the engine") from None
    say(progress, f"{spec.name}: built {tag} in {time.monotonic() - began:.0f} s")
    return ResolvedImage(spec.name, tag, image.id, "built")
