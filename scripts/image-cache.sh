#!/usr/bin/env bash
# Keep the images the harness built between CI runs, as one tar file in a cache folder.
#
#   scripts/image-cache.sh save DIR   docker save every dr-harness/* image into DIR/images.tar
#   scripts/image-cache.sh load DIR   docker load DIR/images.tar if it is there (else say so)
#
# The harness finds a loaded image "present" and does not build it again; a recipe that changed
# gets a new tag (its content hash), so a stale image in the cache is never used by mistake.
# Only images named dr-harness/* are saved: nothing of other projects on the same engine.
set -euo pipefail

say() { printf '[image-cache] %s\n' "$*"; }
usage() { echo "usage: scripts/image-cache.sh save|load DIR" >&2; exit 2; }

[ "$#" -eq 2 ] || usage
action="$1"; dir="$2"; tar="${dir}/images.tar"

case "$action" in
save)
	mkdir -p "$dir"
	mapfile -t refs < <(docker image ls --filter 'reference=dr-harness/*' --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>' || true)
	if [ "${#refs[@]}" -eq 0 ]; then
		say "no dr-harness/* image to save"
		exit 0
	fi
	docker save -o "${tar}.tmp" "${refs[@]}"
	mv "${tar}.tmp" "$tar"
	say "saved ${#refs[@]} images to ${tar} ($(du -h "$tar" | cut -f1))"
	;;
load)
	if [ ! -f "$tar" ]; then
		say "no ${tar} yet: the first run builds the images"
		exit 0
	fi
	docker load -q -i "$tar"
	say "loaded the images in ${tar}"
	;;
*) usage ;;
esac
