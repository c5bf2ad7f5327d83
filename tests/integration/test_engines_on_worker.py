"""Every engine through the real worker: diffusers with a tiny local model, OpenAI via the fake server."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlmodel import select

from imagechat.core import jobs, progress
from imagechat.db import session_scope
from imagechat.models import GenerationJob, Image


@pytest.fixture
def namespace(monkeypatch, redis_url):
    """Jobs of this test go to its own worker only."""
    from imagechat.core.queue import get_broker
    from imagechat.settings import get_settings

    def use(**env):
        ns = f"engine-{uuid.uuid4().hex[:6]}"
        for key, value in {"REDIS_NAMESPACE": ns, **env}.items():
            monkeypatch.setenv(key.upper(), str(value))
        get_settings.cache_clear()
        get_broker.cache_clear()
        return {"REDIS_NAMESPACE": ns, **env}

    yield use
    monkeypatch.undo()
    get_settings.cache_clear()
    get_broker.cache_clear()


async def _events(job_id):
    out = []
    async for event in progress.follow([str(job_id)]):
        out.append(event)
    return out


def _run(job_id, timeout=120):
    return asyncio.run(asyncio.wait_for(_events(job_id), timeout))


def test_diffusers_engine_on_the_worker(namespace, start_worker, make_user, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from tests.support.tiny_sd import save_tiny_pipeline

    model = save_tiny_pipeline(tmp_path / "tiny-sd")
    env = namespace(image_engine="diffusers", diffusers_model_path=model, diffusers_steps=4, hf_hub_offline=1)
    start_worker(**env)
    owner = make_user()
    job_id = jobs.submit(jobs.JobRequest(owner_id=owner, prompt="a watercolor fox", width=64, height=64, seed=5))
    events = _run(job_id)
    assert events[-1].status == "succeeded", events[-1]
    steps = [e for e in events if e.status == "running" and e.stage.startswith("Step")]
    assert len(steps) >= 2 and any(e.preview_url for e in events)
    with session_scope() as s:
        (image,) = s.exec(select(Image).where(Image.job_id == job_id)).all()
    assert (image.engine, image.model, image.width, image.height, image.seed) == ("diffusers", "tiny-sd", 64, 64, 5)
