"""Shared fixtures: a real PostgreSQL database migrated by Alembic, and a real Redis database.

Each pytest session gets its own database (dropped at the end) so parallel runs never collide.
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests.support.services import WorkerGroup, create_user, temporary_database

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Tests never talk to the real OpenAI: a key may exist in a developer's shell.
os.environ.pop("OPENAI_API_KEY", None)
os.environ.setdefault("IMAGE_ENGINE", "offline")


@pytest.fixture(scope="session")
def database_url() -> str:
    with temporary_database() as url:
        os.environ["DATABASE_URL"] = url
        _reset_cached_settings()
        yield url
        from imagechat.db import get_engine

        get_engine().dispose()
        _reset_cached_settings()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis, with a key namespace of this session's own (queue, progress, limits)."""
    import redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    os.environ["REDIS_URL"], os.environ["REDIS_NAMESPACE"] = url, namespace
    _reset_cached_settings()
    yield url
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=f"{namespace}*", count=1000):
        client.delete(key)
    client.close()


def _reset_cached_settings() -> None:
    from imagechat.core.queue import get_broker
    from imagechat.db import get_engine
    from imagechat.settings import get_settings

    get_settings.cache_clear()
    get_engine.cache_clear()
    get_broker.cache_clear()


@pytest.fixture
def private_namespace(monkeypatch, redis_url):
    """A Redis namespace of the test's own (queue, progress, limits): the session's shared worker never
    takes its jobs. Call it with extra settings; it returns the environment to give the test's workers."""
    import redis

    from imagechat.core.queue import get_broker
    from imagechat.settings import get_settings

    used = []

    def use(**env) -> dict:
        env = {"REDIS_NAMESPACE": f"private-{uuid.uuid4().hex[:8]}", **{k.upper(): str(v) for k, v in env.items()}}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        get_broker.cache_clear()
        used.append(env["REDIS_NAMESPACE"])
        return env

    yield use
    monkeypatch.undo()
    get_settings.cache_clear()
    get_broker.cache_clear()
    client = redis.Redis.from_url(redis_url)
    for namespace in used:
        for key in client.scan_iter(match=f"{namespace}:*", count=1000):
            client.delete(key)
    client.close()


@pytest.fixture
def make_user(database_url):
    return create_user


@pytest.fixture(scope="session")
def start_worker(database_url, redis_url, tmp_path_factory):
    """Start real workers with their own environment; all are stopped at the end of the session."""
    group = WorkerGroup(database_url, redis_url, tmp_path_factory.mktemp("workers"))
    yield group.start
    group.stop_all()


@pytest.fixture
def own_worker(database_url, redis_url, tmp_path):
    """Workers with a test's own settings, stopped when the test ends: their housekeeping (e.g. a
    3-second stale-job threshold) must not touch jobs of later tests."""
    group = WorkerGroup(database_url, redis_url, tmp_path)
    yield group.start
    group.stop_all()


@pytest.fixture(scope="session")
def worker(start_worker):
    """The shared worker for ordinary job tests (offline engine)."""
    return start_worker()


@pytest.fixture(scope="module")
def fake():
    """The fake OpenAI server (tests/fakes), one per test module, on 127.0.0.1."""
    from tests.fakes.openai_server import FakeOpenAI

    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def clean_fake(fake):
    """Each test starts with no scripted faults or replies and no key check."""
    fake.reset()
    fake.api_keys = None
    return fake


@pytest.fixture(scope="session")
def seaweed():
    """A real S3-compatible server of the session's own (SeaweedFS, tests/support/seaweed.py), started the first
    time a test asks for it and killed at the end. A test that stops it starts it again before it ends."""
    from tests.support.seaweed import SeaweedS3

    server = SeaweedS3()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


def _use_settings(monkeypatch, env: dict) -> None:
    from imagechat.settings import get_settings

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()


@pytest.fixture
def s3_store(seaweed, database_url, redis_url, monkeypatch):
    """IMAGE_STORE=s3 on the session's SeaweedFS for one test (settings reloaded before and after)."""
    from imagechat.settings import get_settings

    if not seaweed.running():
        seaweed.start()
    _use_settings(monkeypatch, seaweed.settings_env())
    yield seaweed
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def s3_store_for_module(seaweed, database_url, redis_url):
    """s3_store for a whole module (its module-scoped fixtures store their images in the bucket too)."""
    from imagechat.settings import get_settings

    if not seaweed.running():
        seaweed.start()
    with pytest.MonkeyPatch.context() as mp:
        _use_settings(mp, seaweed.settings_env())
        yield seaweed
    get_settings.cache_clear()
