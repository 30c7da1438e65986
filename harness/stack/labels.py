"""Labels that mark every container, network and volume a run creates.

Every Docker object the harness makes carries ``PROJECT_LABEL=1`` and ``RUN_LABEL=<run id>``;
the sweep at start removes objects whose run is no longer alive, and teardown removes the
run's own. Nothing is ever selected by name.
"""

from __future__ import annotations

import os
import secrets
import time

PROJECT_LABEL = "dr-harness"
RUN_LABEL = "dr-harness.run"
PID_LABEL = "dr-harness.pid"


def new_run_id() -> str:
    """A sortable, unique run id such as ``20261129T014501-3f9a``."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


def run_labels(run_id: str) -> dict[str, str]:
    """The labels for an object created by run ``run_id`` in this process."""
    return {PROJECT_LABEL: "1", RUN_LABEL: run_id, PID_LABEL: str(os.getpid())}
