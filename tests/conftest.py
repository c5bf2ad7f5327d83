"""Shared fixtures: a real PostgreSQL database migrated by Alembic, and a real Redis database.

Each pytest session gets its own database (dropped at the end) so parallel runs never collide.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Tests never talk to the real OpenAI: a key may exist in a developer's shell.
os.environ.pop("OPENAI_API_KEY", None)
os.environ.setdefault("IMAGE_ENGINE", "offline")


def _admin_url(url):
    return url.set(database="postgres")


@pytest.fixture(scope="session")
def database_url() -> str:
    base = make_url(os.environ.get("DATABASE_URL", "postgresql+psycopg://127.0.0.1:5432/imagechat"))
    name = f"imagechat_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(_admin_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    os.environ["DATABASE_URL"] = url
    _reset_cached_settings()
    yield url
    _reset_cached_settings()
    from imagechat.db import get_engine

    get_engine().dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url)
    client.flushdb()
    os.environ["REDIS_URL"] = url
    _reset_cached_settings()
    yield url
    client.flushdb()
    client.close()


def _reset_cached_settings() -> None:
    from imagechat.db import get_engine
    from imagechat.settings import get_settings

    get_settings.cache_clear()
    get_engine.cache_clear()


@pytest.fixture
def db(database_url):
    """A session on the test database; each test cleans the rows it cares about itself."""
    from imagechat.db import session_scope

    with session_scope() as session:
        yield session


@pytest.fixture
def make_user(database_url):
    from imagechat.db import session_scope
    from imagechat.models import User

    def _make(username: str | None = None) -> int:
        with session_scope() as s:
            user = User(username=username or f"u_{uuid.uuid4().hex[:10]}", password_hash="x")
            s.add(user)
            s.flush()
            return user.id

    return _make
