"""``dr-harness engine``: the engine set-up of the repository's scripts/ensure-engine.sh, from the package.

One implementation: the shell script ships as package data (``harness/stack/ensure-engine.sh``)
and both this command and scripts/ensure-engine.sh run it, so they behave the same: an engine that
answers is left alone; as root on Debian, Debian's ``docker.io`` (and ``debootstrap``) is installed
and ``dockerd`` started; elsewhere one line says how to get an engine. Its exit status is returned.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from harness.errors import EngineUnavailable
from harness.stack.images import package_dir

SCRIPT_NAME = "ensure-engine.sh"


def script() -> Path:
    """The engine set-up script inside the installed package."""
    return package_dir("harness.stack") / SCRIPT_NAME


def ensure() -> int:
    """Run the engine set-up with this terminal's output; its exit status."""
    path = script()
    if not path.is_file():
        raise EngineUnavailable(f"the engine set-up script is missing from the installed harness "
                                f"(looked for {path})", fix="reinstall the harness "
                                "(pip install --force-reinstall dr-harness)")
    bash = shutil.which("bash")
    if bash is None:
        raise EngineUnavailable("the engine set-up needs bash, which is not on PATH",
                                fix="install bash, or start a Docker engine yourself and set DOCKER_HOST")
    return subprocess.run([bash, str(path)], check=False).returncode
