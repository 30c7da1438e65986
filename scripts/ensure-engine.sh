#!/usr/bin/env bash
# The repository's way to the engine set-up: the one implementation ships in the package
# (harness/stack/ensure-engine.sh), where `dr-harness engine` runs it too. See that file.
exec bash "$(dirname "$0")/../harness/stack/ensure-engine.sh" "$@"
