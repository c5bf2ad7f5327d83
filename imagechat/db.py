"""Engine and sessions. One engine per process; sessions are short-lived."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import Session, create_engine

from imagechat.core.errors import ServiceUnavailable
from imagechat.settings import get_settings

DATABASE_DOWN = "The database is unavailable right now. Try again in a minute."


@lru_cache
def get_engine() -> Engine:
    # connect_timeout: during an outage a request fails in seconds with a clear message instead of hanging.
    return create_engine(get_settings().database_url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                         connect_args={"connect_timeout": 5})


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on any error: nothing half-written.

    A lost or refused connection becomes ServiceUnavailable: callers show a clear message (never the
    driver's text, which names hosts and users) and workers retry."""
    try:
        with Session(get_engine(), expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
    except (OperationalError, InterfaceError) as exc:
        if exc.connection_invalidated or _is_connection_error(exc):
            raise ServiceUnavailable(DATABASE_DOWN) from None
        raise


def _is_connection_error(exc: OperationalError | InterfaceError) -> bool:
    """Lost or refused connections (not e.g. a serialization failure, which is also an OperationalError)."""
    orig = exc.orig
    if isinstance(orig, psycopg.errors.SerializationFailure | psycopg.errors.DeadlockDetected):
        return False
    return isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError)
