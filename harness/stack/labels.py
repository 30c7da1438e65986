"""Labels that mark every container, network and volume a run creates.

Every Docker object the harness makes carries ``PROJECT_LABEL=1`` and ``RUN_LABEL=<run id>``;
the sweep at start removes objects whose run is no longer alive, and teardown removes the
run's own. Nothing is ever selected by name; names are for people (``docker ps`` during a run
says whose stack each container is: ``dr-<run id>-<worker>-<stack>-<service>``).
"""

from __future__ import annotations

import os
import secrets
import time

PROJECT_LABEL = "dr-harness"
RUN_LABEL = "dr-harness.run"
PID_LABEL = "dr-harness.pid"
WORKER_LABEL = "dr-harness.worker"


def new_run_id() -> str:
    """A sortable, unique run id such as ``20261129T014501-3f9a``."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


def run_labels(run_id: str) -> dict[str, str]:
    """The labels for an object created by run ``run_id`` in this process."""
    return {PROJECT_LABEL: "1", RUN_LABEL: run_id, PID_LABEL: str(os.getpid()), WORKER_LABEL: worker_id()}


def worker_id() -> str:
    """This process's pytest-xdist worker (``gw0``, ``gw1`` ...), or ``main`` without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER") or "main"


def object_name(run_id: str, stack_uid: str, what: str) -> str:
    """A readable, unique Docker name: ``dr-<run id>-<worker>-<stack>-<what>``."""
    return f"dr-{run_id}-{worker_id()}-{stack_uid}-{what}"
