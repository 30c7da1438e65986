"""The stack: declared services on one Docker network made for the run, each behind Toxiproxy.

How images are had (present, pulled, built from the recipes in recipes/), the engine connection, the labels
every object carries, cleanup by label and the compose export all live here; nothing here judges.

    declare.py      ServiceSpec, Ready: a declared service, checked before anything starts
    catalog.py      the data services declared: postgres(), redis(), elasticsearch(); reference_app()
    core.py         Stack, StackOptions: start (in dependency order), reset, close
    readiness.py    starting a container, waiting for a service's readiness probe (one retry helper)
    services.py     the running services, their probes and fault helpers
    builds.py       a declared service's image: a ref, the image policy, or a Dockerfile directory
    local.py        a declared service run as a local command (stopped by its pid)
    images.py       image policy: present, pull, build the equivalent recipe
    image_store.py  image store primitives (lookup, pull, a cross-process lock)
    debian_base.py  the Debian base built with debootstrap where nothing can be pulled
    engine.py       connecting to the Docker engine, with one clear line when there is none
    labels.py       the run labels; cleanup.py removes by them and sweeps dead runs
    compose.py      ``python -m harness.stack.compose`` exports the default stack
"""

from harness.stack.core import Stack, StackOptions
from harness.stack.declare import Ready, ServiceSpec

__all__ = ["Ready", "ServiceSpec", "Stack", "StackOptions"]
