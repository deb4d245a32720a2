"""The WSGI application, and the server that serves it: `python -m config.wsgi --listen HOST:PORT`.

The server is waitress, for `make run` and the image alike. Its one asynchronous loop
reads every request whole, headers and body (a large body spills to a temporary file),
before any of its WEB_THREADS threads sees it. A client that sends slowly, or declares a
longer body than it sends, so holds a socket and never a thread, and every other request
is answered as fast as usual; gunicorn's sync workers, by contrast, are each held for
their whole timeout by one such client. waitress also de-chunks request bodies sent with
`Transfer-Encoding: chunked` and gives Django their Content-Length; Django alone reads
them as empty.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import signal
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
application = get_wsgi_application()

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
access_log = logging.getLogger("grader.access")


def with_access_log(app: WsgiApp) -> WsgiApp:
    """One line per request: method, path, status and the application's time."""

    def logged(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.monotonic()
        status = ["-"]

        def start(status_line: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            status[0] = status_line.split(" ", 1)[0]
            return start_response(status_line, headers, *args)

        body = app(environ, start)
        access_log.info('%s "%s %s" %s %.1fms', environ.get("REMOTE_ADDR", "-"), environ["REQUEST_METHOD"],
                        environ.get("PATH_INFO", ""), status[0], (time.monotonic() - started) * 1000)  # fmt: skip
        return body

    return logged


def _raise_open_file_limit(wanted: int) -> None:
    # Every open connection is a descriptor; a soft limit of 1024 would refuse connections
    # well before WEB_CONNECTION_LIMIT. The hard limit is as far as a process may go.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _stop(signum: int, frame: FrameType | None) -> None:
    # waitress's loop ends on SystemExit and gives running requests up to 5 s to finish;
    # without this, SIGTERM (docker stop, tini) would kill them mid-response.
    raise SystemExit(0)


def serve(argv: list[str] | None = None) -> None:
    from django.conf import settings
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from waitress import serve as waitress_serve  # type: ignore[import-untyped]

    from config.env import env_int

    parser = argparse.ArgumentParser(prog="python -m config.wsgi", description="Serve the site with waitress.")
    parser.add_argument("--listen", default="127.0.0.1:8000", help="HOST:PORT to listen on (default %(default)s)")
    args = parser.parse_args(argv)

    app: WsgiApp = application
    if settings.DEBUG:
        app = StaticFilesHandler(application)  # as runserver did for `make run`; whitenoise in production
    connection_limit = env_int("WEB_CONNECTION_LIMIT", default=1000, minimum=1)
    _raise_open_file_limit(connection_limit + 256)
    signal.signal(signal.SIGTERM, _stop)
    waitress_serve(
        with_access_log(app),
        listen=args.listen,
        threads=env_int("WEB_THREADS", default=8, minimum=1),
        # Connections held open, idle or slow; beyond this new ones wait in the backlog.
        connection_limit=connection_limit,
        # A connection that sends nothing for this long is closed.
        channel_timeout=env_int("WEB_CHANNEL_TIMEOUT_SECONDS", default=60, minimum=1),
        # Above this waitress itself answers 413 and reads no further. Between it and
        # API_MAX_BODY_BYTES (larger for notebooks) the API's own JSON 413 answers
        # (config.middleware).
        max_request_body_size=4 * max(settings.API_MAX_BODY_BYTES, settings.SUBMISSION_MAX_NOTEBOOK_BYTES),
        # select() cannot watch descriptors past 1024.
        asyncore_use_poll=True,
        # Keep X-Forwarded-* for Django: SECURE_PROXY_SSL_HEADER and NUM_PROXIES decide
        # whom to believe, as they did behind gunicorn.
        clear_untrusted_proxy_headers=False,
        ident="grader",
    )


if __name__ == "__main__":
    serve()
