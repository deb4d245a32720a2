# syntax=docker/dockerfile:1
#
# One image for every role of the grading service; docker-compose.yml picks the role
# by command: web (waitress via `python -m config.wsgi`, the default CMD), worker and
# beat (celery), migrate.
#
#   docker build -t grader .
#   docker run --rm --env-file .env -p 8000:8000 grader
#
# Stage 1 builds a virtualenv in /opt/venv; stage 2 copies only that venv and the
# source into a slim runtime with no compilers.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --------------------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Compilers and libpq headers, only for any dependency without a wheel (psycopg[c], ...).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential libpq-dev \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv "$VIRTUAL_ENV"

# Requirements first, so a source-only change reuses the dependency layer.
COPY requirements/ /tmp/requirements/
RUN pip install --no-cache-dir -r /tmp/requirements/base.txt

# The grading environments beyond numpy (workers/environments.py), each installed from
# its lock file into /opt/environments/<name>. The one image then serves every worker
# role; `--build-arg GRADER_ENVIRONMENTS=` builds a numpy-only image (about 1.3 GB
# smaller) for a deployment without scientific or torch exercises.
ARG GRADER_ENVIRONMENTS="scientific torch"
ENV GRADER_ENVIRONMENTS_DIR=/opt/environments
COPY config/__init__.py config/env.py /tmp/src/config/
COPY workers/__init__.py workers/environments.py workers/queues.py /tmp/src/workers/
RUN mkdir -p /opt/environments \
    && if [ -n "$GRADER_ENVIRONMENTS" ]; then \
         cd /tmp/src && mkdir -p requirements && cp -r /tmp/requirements/envs requirements/ \
         && python -c "import sys, workers.environments as e; e.LOCKS = e.REPOSITORY / 'requirements' / 'envs'; sys.exit(e.main(['install', *sys.argv[1:]]))" $GRADER_ENVIRONMENTS; \
       fi

# --------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="grader" \
      org.opencontainers.image.description="Django + DRF + Celery grading service (web, worker, beat)"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    GRADER_VAR_DIR=/app/var

# libpq5: runtime library for a non-binary psycopg build (harmless with psycopg[binary]).
# bubblewrap: the worker sandboxes student code with it (unprivileged user namespaces,
#   see the worker service in docker-compose.yml for what the container/host must allow).
# tini: PID 1 that forwards signals (graceful celery/web shutdown) and reaps zombies
#   left by sandboxed processes.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap libpq5 tini \
    && rm -rf /var/lib/apt/lists/*

# Unprivileged runtime user with a fixed uid/gid (stable ownership of volumes) and a
# writable home (caches).
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home \
       --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/environments /opt/environments
ENV GRADER_ENVIRONMENTS_DIR=/opt/environments

WORKDIR /app
# Source stays owned by root (read-only for the app user); see .dockerignore for what
# is left out of the build context.
COPY . /app/

# collectstatic needs settings to import; production settings refuse the development
# SECRET_KEY (and any key under 32 characters), so give it a throwaway one on this RUN
# line only: it is not persisted in any ENV and is never used at run time.
# var/ (GRADER_VAR_DIR: sqlite fallback, broker files when REDIS_URL is empty) is the
# only path the app user may write; chown -R because importing the settings above may
# already have created var/broker/ as root.
RUN chmod 0755 /app/docker/entrypoint.sh \
    && SECRET_KEY=build-only-not-a-secret-used-for-collectstatic-only \
       DJANGO_SETTINGS_MODULE=config.settings.production \
       python manage.py collectstatic --noinput \
    && mkdir -p /app/var \
    && chown -R app:app /app/var

# Numeric, so runtimes (e.g. Kubernetes runAsNonRoot) can verify it is not root.
USER 10001:10001

EXPOSE 8000

ENTRYPOINT ["/usr/bin/tini", "--", "/app/docker/entrypoint.sh"]
# waitress (config/wsgi.py): it reads each request whole before one of WEB_THREADS threads
# takes it, so slow or stalled clients hold sockets, not threads; chunked bodies are read.
# WEB_THREADS, WEB_CONNECTION_LIMIT and WEB_CHANNEL_TIMEOUT_SECONDS tune it; one access
# log line per request goes to stderr.
CMD ["python", "-m", "config.wsgi", "--listen", "0.0.0.0:8000"]
