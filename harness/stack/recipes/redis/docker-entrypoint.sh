#!/bin/sh
# Entrypoint with the behaviour of the official redis image (docker-library/redis 7.0/debian).
# Debian's redis-server keeps protected-mode on (the official build patches it off), so unless a
# config file is given we pass `--protected-mode no`: clients arriving through a port mapping
# would otherwise be DENIED. Any extra arguments are appended after it and win.
set -e

# first arg is `-f` or `--some-option`, or first arg is `something.conf`
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ]; then
	shift
	case "${1:-}" in
		*.conf|--protected-mode) set -- redis-server "$@" ;;
		*) set -- redis-server --protected-mode no "$@" ;;
	esac
	# allow the container to be started with `--user`
	if [ "$(id -u)" = '0' ]; then
		find . \! -user redis -exec chown redis '{}' +
		exec gosu redis "$0" "$@"
	fi
fi

# the official image tightens the umask so that dumps are not world readable
um="$(umask)"
if [ "$um" = '0022' ]; then
	umask 0077
fi

exec "$@"
