#!/bin/sh
# Container entrypoint for every role (web, worker, beat, migrate).
#
# 1. When DATABASE_URL (or the file named by DATABASE_URL_FILE) is a PostgreSQL URL,
#    wait until the database accepts connections, at most DB_WAIT_TIMEOUT seconds
#    (default 60); exit non-zero if it never does. WAIT_FOR_DB=0 skips the wait.
# 2. exec the command given as arguments (Dockerfile CMD or compose `command:`), so it
#    replaces this shell and receives signals directly.
#
# The URL is passed to python through the environment, never on a command line, and
# is never printed (it holds the database password).
set -eu

PYTHON="${PYTHON:-python}"

log() {
    printf 'entrypoint: %s\n' "$*" >&2
}

database_url() {
    if [ -n "${DATABASE_URL_FILE:-}" ]; then
        if [ -r "$DATABASE_URL_FILE" ]; then
            # Same rule as config/env.py: the file wins over the variable; trim whitespace.
            tr -d '[:space:]' <"$DATABASE_URL_FILE"
            return 0
        fi
        log "DATABASE_URL_FILE=$DATABASE_URL_FILE is not readable"
        return 1
    fi
    printf '%s' "${DATABASE_URL:-}"
}

# One connection attempt. Exit status: 0 connected, 1 not (yet) reachable,
# 3 no PostgreSQL driver importable (nothing to wait with).
PY_CONNECT='
import os, sys
try:
    import psycopg as driver
except ImportError:
    try:
        import psycopg2 as driver
    except ImportError:
        sys.exit(3)
try:
    driver.connect(os.environ["ENTRYPOINT_DB_URL"], connect_timeout=3).close()
except Exception as exc:
    # The class and message of the last failure, without the URL.
    print("%s: %s" % (exc.__class__.__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else ""))
    sys.exit(1)
'

wait_for_database() {
    url="$1"
    timeout="${DB_WAIT_TIMEOUT:-60}"
    case "$timeout" in
        '' | *[!0-9]*)
            log "DB_WAIT_TIMEOUT=$timeout is not a whole number of seconds"
            return 1
            ;;
    esac
    start="$(date +%s)"
    attempt=0
    while :; do
        attempt=$((attempt + 1))
        status=0
        error="$(ENTRYPOINT_DB_URL="$url" "$PYTHON" -c "$PY_CONNECT" 2>&1)" || status=$?
        case "$status" in
            0)
                log "database is reachable (attempt $attempt)"
                return 0
                ;;
            3)
                log "no PostgreSQL driver (psycopg) importable by $PYTHON; not waiting for the database"
                return 0
                ;;
        esac
        elapsed=$(($(date +%s) - start))
        if [ "$elapsed" -ge "$timeout" ]; then
            log "database still unreachable after ${elapsed}s ($attempt attempts): $error"
            return 1
        fi
        if [ "$attempt" -eq 1 ]; then
            log "waiting up to ${timeout}s for the database: $error"
        fi
        sleep 2
    done
}

if [ "${WAIT_FOR_DB:-1}" != "0" ]; then
    url="$(database_url)"
    case "$url" in
        postgres://* | postgresql://* | postgis://* | pgsql://*)
            # dj-database-url's aliases; libpq itself only knows postgres(ql)://.
            wait_for_database "postgresql://${url#*://}"
            ;;
    esac
fi

if [ "$#" -eq 0 ]; then
    log "no command given"
    exit 64
fi

exec "$@"
