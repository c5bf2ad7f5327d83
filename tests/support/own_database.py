"""A database of a module's own: this process's settings and engine point at a fresh migrated database while it
lasts, and back at the previous one afterwards (server-wide figures then move only by what the module does)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.support.services import temporary_database


def reset_caches() -> None:
    """Settings and the engine are cached per process: read them again (the old engine's connections closed)."""
    from imagechat.db import get_engine
    from imagechat.settings import get_settings

    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


@contextmanager
def own_database(prefix: str) -> Iterator[str]:
    with temporary_database(prefix) as url, pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", url)
        reset_caches()
        try:
            yield url
        finally:
            reset_caches()
    reset_caches()
