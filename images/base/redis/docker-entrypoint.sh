#!/bin/sh
# Entrypoint compatible with the upstream redis image:
#  - `docker run redis:7-bookworm --appendonly yes` runs redis-server with those options;
#  - a plain `redis-server [options]` (no config file) listens on all interfaces with
#    protected mode off, as the upstream image does (it compiles those defaults in);
#    options given later on the command line still win;
#  - started as root, it fixes /data ownership and drops to the redis user.
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi

if [ "$1" = redis-server ]; then
    shift
    case "${1:-}" in
        ""|-*)
            case " $* " in
                *" --protected-mode "*) set -- redis-server "$@" ;;  # explicit: keep as is
                *) set -- redis-server --protected-mode no --bind 0.0.0.0 "$@" ;;
            esac ;;
        *) set -- redis-server "$@" ;;  # config file first: it decides
    esac
    if [ "$(id -u)" = 0 ]; then
        find . \! -user redis -exec chown redis '{}' + 2>/dev/null || true
        exec setpriv --reuid=redis --regid=redis --init-groups "$@"
    fi
fi

exec "$@"
