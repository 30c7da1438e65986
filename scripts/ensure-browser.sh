#!/usr/bin/env bash
# Make sure a headless Chromium and its ChromeDriver are there for the page checks
# (tests/integration/test_pages_in_browser.py), installing Debian's packages where that is possible.
#
#   chromium and chromedriver on PATH     -> say so, exit 0
#   root on Debian                        -> apt-get install chromium chromium-driver
#   anywhere else                         -> one line saying what to install, exit 0 (the page checks
#                                            then skip with that line; nothing else needs a browser)
#
# Idempotent; never stops or kills anything.
# Env: HARNESS_NO_INSTALL=1 forbids installing; HARNESS_APT_LOCK_WAIT_S bounds the wait for another
#      apt/dpkg run's lock (default 300).
set -euo pipefail

lock_wait_s="${HARNESS_APT_LOCK_WAIT_S:-300}"
say() { printf '[ensure-browser] %s\n' "$*"; }

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
	say "$(chromium --version 2>/dev/null | head -1) and chromedriver are installed; nothing to do"
	exit 0
fi

if [ "${HARNESS_NO_INSTALL:-0}" = "1" ] || [ "$(id -u)" != "0" ] || [ ! -f /etc/debian_version ]; then
	say "no chromium/chromedriver: install Debian's chromium and chromium-driver (or your system's Chromium and ChromeDriver) to run the page checks; they skip until then"
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
say "installing Debian packages: chromium chromium-driver (apt-get update first)"
apt-get -o DPkg::Lock::Timeout="${lock_wait_s}" update -qq
apt-get -o DPkg::Lock::Timeout="${lock_wait_s}" install -y -q --no-install-recommends chromium chromium-driver
say "installed: $(chromium --version 2>/dev/null | head -1)"
