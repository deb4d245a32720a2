"""The benchmarks' PostgreSQL database: made when missing, and held by one run at a time."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit


def database_ensure(url: str) -> None:
    """Create the PostgreSQL database named in `url` when it does not exist."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


def database_lock(url: str, *, lock: int) -> Any:
    """A session-level advisory lock on the bench's database, held until this process
    exits: two runs on one database (and broker) would purge and count each other's
    submissions. Returns the connection that holds it."""
    import psycopg

    parts = urlsplit(url)
    connection = psycopg.connect(urlunsplit(parts._replace(scheme="postgresql")), autocommit=True)
    row = connection.execute("SELECT pg_try_advisory_lock(%s)", [lock]).fetchone()
    if not row or not row[0]:
        connection.close()
        raise SystemExit(f"another run of this bench is using {parts.path.lstrip('/')}: wait for it, or use another")
    return connection
