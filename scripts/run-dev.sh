#!/usr/bin/env bash
# Serve the API and run a Celery worker (with its beat scheduler) side by side, and stop
# both together on Ctrl-C. Used by `make run`; embedded defaults unless DATABASE_URL /
# REDIS_URL say otherwise.
set -euo pipefail
BIN=${BIN:-.venv/bin}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
# The tool URLs shown to LMS admins (and signed into deep-linking replies) name the
# address this server answers at, also on another PORT.
export LTI_TOOL_BASE_URL=${LTI_TOOL_BASE_URL:-http://$HOST:$PORT}
mkdir -p var

# One worker grades every environment this machine has (`make env ENV=torch` adds one;
# restart to pick it up): its queues are default plus grading.<environment> for each.
queues="default,$("$BIN/python" -m workers.environments queues)"
echo "Worker queues: $queues"
# Its own session: a terminal's Ctrl-C would otherwise also hit the worker's pool
# children, and a child killed while holding the pool's queue lock can leave the worker
# hanging in shutdown. The worker is stopped below with a single TERM instead.
setsid "$BIN/celery" -A workers worker --beat --loglevel=INFO --queues="$queues" \
    --concurrency=2 --schedule var/celerybeat-schedule &
worker=$!

stop_worker() {
    kill -TERM "$worker" 2>/dev/null || return 0
    for _ in $(seq 1 30); do
        kill -0 "$worker" 2>/dev/null || return 0
        sleep 0.5
    done
    echo "the worker did not stop within 15 s; killing it" >&2
    kill -KILL -- "-$worker" 2>/dev/null || true
}
trap stop_worker EXIT
trap 'exit 130' INT TERM

echo "Student pages on http://$HOST:$PORT/, API on http://$HOST:$PORT/api/v1/ (docs: /api/v1/docs/, admin: /admin/, LTI: /lti/); worker pid $worker"
# The same server as the image (waitress, see config/wsgi.py): it reads each request
# whole before a thread takes it, so slow clients cannot tie the site up, and it reads
# chunked bodies. Not exec'd: the traps above must still stop the worker.
"$BIN/python" -m config.wsgi --listen "$HOST:$PORT"
