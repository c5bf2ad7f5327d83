"""The OpenAI-compatible API as the integration tests use it: imagechat's /v1 routes served over real HTTP from the
test process (tests/support/app_server.py), a real Dramatiq worker of their own (its own Redis namespace), and the
fake OpenAI server as the worker's OpenAI engine, so both `imagechat-offline` and `gpt-image-2` are served.

    stack = module_stack()   # in a test module: the fixture `stack`, an ApiStack
    client = openai.OpenAI(base_url=stack.v1, api_key=stack.key_for(user_id))
"""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

import pytest
import redis
from starlette.applications import Starlette

from tests.support.app_server import AppServer
from tests.support.services import WorkerGroup

WORKER_SECRET = f"sk-test-{uuid.uuid4().hex}"


class ApiStack:
    def __init__(self, database_url: str, redis_url: str, log_dir: Path, fake, **env):
        self.redis_url = redis_url
        self.namespace = f"api-{uuid.uuid4().hex[:8]}"
        self.env = {"REDIS_NAMESPACE": self.namespace, "OPENAI_API_KEY": WORKER_SECRET,
                    "OPENAI_BASE_URL": fake.base_url, "OPENAI_PARTIAL_IMAGES": "2", "OPENAI_MAX_RETRIES": "0",
                    "JOB_MAX_ATTEMPTS": "1", "IMAGE_ENGINE": "offline",
                    **{k.upper(): str(v) for k, v in env.items()}}
        self._patch = pytest.MonkeyPatch()
        self._workers = WorkerGroup(database_url, redis_url, log_dir)
        self._server: AppServer | None = None
        self.worker = None

    def start(self) -> ApiStack:
        from imagechat.api import openai_compat

        for key, value in self.env.items():
            self._patch.setenv(key, value)
        _reset_settings()
        self.worker = self._workers.start(**self.env)
        self._server = AppServer(Starlette(routes=openai_compat.routes)).start()
        return self

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def v1(self) -> str:
        return self._server.url + "/v1"

    @staticmethod
    def key_for(user_id: int, name: str = "test") -> str:
        from imagechat.core import api_keys

        return api_keys.create(user_id, name)[1]

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        self._workers.stop_all()
        self._patch.undo()
        _reset_settings()
        client = redis.Redis.from_url(self.redis_url)
        with contextlib.closing(client):
            for key in client.scan_iter(match=f"{self.namespace}:*", count=1000):
                client.delete(key)


def _reset_settings() -> None:
    from imagechat.core.queue import get_broker
    from imagechat.settings import get_settings

    get_settings.cache_clear()
    get_broker.cache_clear()



def module_stack():
    """A module-scoped `stack` fixture: `stack = module_stack()` in a test module. The worker's OpenAI engine uses
    the module's fake server (the `fake` fixture of tests/conftest.py)."""

    @pytest.fixture(scope="module")
    def stack(database_url, redis_url, tmp_path_factory, fake):
        api = ApiStack(database_url, redis_url, tmp_path_factory.mktemp("api"), fake).start()
        yield api
        api.stop()

    return stack
