"""``python -m harness``: the same command as ``dr-harness`` (see ``harness/cli``)."""

import sys

from harness.cli import main

sys.exit(main())
