#!/usr/bin/env bash
# Make sure a Docker engine answers, installing and starting Debian's one where that is possible.
# Run as `dr-harness engine` (installed harness) or scripts/ensure-engine.sh (this repository).
#
#   engine answers (DOCKER_HOST or the default socket)  -> say so, exit 0
#   root on Debian                                       -> apt-get install docker.io debootstrap,
#                                                           start dockerd in the background, wait for it
#   anywhere else                                        -> one line saying how to get an engine, exit 1
#
# Idempotent: a second run finds the engine answering. It never stops or kills anything.
# Env: HARNESS_NO_INSTALL=1 forbids installing/starting (as on a non-root or non-Debian machine);
#      HARNESS_DOCKERD_LOG / HARNESS_DOCKERD_PIDFILE move the log and PID files;
#      HARNESS_ENGINE_WAIT_S bounds the wait for a freshly started dockerd (default 30);
#      HARNESS_APT_LOCK_WAIT_S bounds the wait for another apt/dpkg run's lock (default 300).
set -euo pipefail

log_file="${HARNESS_DOCKERD_LOG:-/var/log/dr-harness-dockerd.log}"
pid_file="${HARNESS_DOCKERD_PIDFILE:-/run/dr-harness-dockerd.pid}"
wait_s="${HARNESS_ENGINE_WAIT_S:-30}"
lock_wait_s="${HARNESS_APT_LOCK_WAIT_S:-300}"
where="${DOCKER_HOST:-unix:///var/run/docker.sock}"

say() { printf '[ensure-engine] %s\n' "$*"; }

engine_answers() {
	command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1
}

if engine_answers; then
	version="$(docker info --format '{{.ServerVersion}}' 2>/dev/null || echo '?')"
	say "a Docker engine answers at ${where} (server ${version}); nothing to do"
	exit 0
fi

if [ "${HARNESS_NO_INSTALL:-0}" = "1" ] || [ "$(id -u)" != "0" ] || [ ! -f /etc/debian_version ]; then
	echo "[ensure-engine] no Docker engine answers at ${where}: install Docker Engine and start it, or set DOCKER_HOST to an engine that runs (as root on Debian this script installs docker.io itself)" >&2
	exit 1
fi

if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST}" != "unix:///var/run/docker.sock" ]; then
	echo "[ensure-engine] no Docker engine answers at DOCKER_HOST=${DOCKER_HOST}: start that engine, or unset DOCKER_HOST to let this script start a local one" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
	say "installing Debian packages: ${missing[*]} (apt-get update first)"
	if command -v fuser >/dev/null 2>&1 && fuser /var/lib/dpkg/lock-frontend >/dev/null 2>&1; then
		say "another apt/dpkg run holds the package manager lock; waiting for it (up to ${lock_wait_s} s)"
	fi
	apt-get -o DPkg::Lock::Timeout="${lock_wait_s}" update -qq
	apt-get -o DPkg::Lock::Timeout="${lock_wait_s}" install -y -q --no-install-recommends "${missing[@]}"
	say "installed: ${missing[*]}"
fi

if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
	say "dockerd started earlier is still running (PID $(cat "$pid_file")); waiting for it to answer"
else
	mkdir -p "$(dirname "$log_file")" "$(dirname "$pid_file")"
	say "starting dockerd in the background (log: ${log_file})"
	nohup dockerd >>"$log_file" 2>&1 </dev/null &
	echo $! >"$pid_file"
	say "dockerd PID $(cat "$pid_file") recorded in ${pid_file}"
fi

deadline=$((SECONDS + wait_s))
until engine_answers; do
	if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
		echo "[ensure-engine] dockerd did not answer within ${wait_s} s; last lines of ${log_file}:" >&2
		tail -n 20 "$log_file" >&2 || true
		exit 1
	fi
	sleep 1
done
say "a Docker engine answers at ${where} (server $(docker info --format '{{.ServerVersion}}'))"
