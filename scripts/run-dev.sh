#!/usr/bin/env bash
# Serve the API and run a Celery worker (with its beat scheduler) side by side, and stop
# both together on Ctrl-C. Used by `make run`; embedded defaults unless DATABASE_URL /
# REDIS_URL say otherwise.
set -euo pipefail
BIN=${BIN:-.venv/bin}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
mkdir -p var

"$BIN/celery" -A workers worker --beat --loglevel=INFO --queues=default \
    --concurrency=2 --schedule var/celerybeat-schedule &
worker=$!
trap 'kill -TERM "$worker" 2>/dev/null; wait "$worker" 2>/dev/null || true' EXIT INT TERM

echo "API on http://$HOST:$PORT/api/v1/ (docs: /api/v1/docs/, admin: /admin/); worker pid $worker"
"$BIN/python" manage.py runserver --noreload "$HOST:$PORT"
