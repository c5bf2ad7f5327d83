"""Every engine through the real worker: diffusers with a tiny local model, OpenAI via the fake server."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import select

from imagechat.core import jobs
from imagechat.core.request import ImageRequest
from imagechat.db import session_scope
from imagechat.models import GenerationJob, Image
from tests.support.waiting import run_job


def test_diffusers_engine_on_the_worker(private_namespace, own_worker, make_user, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from tests.support.tiny_sd import save_tiny_pipeline

    model = save_tiny_pipeline(tmp_path / "tiny-sd")
    env = private_namespace(image_engine="diffusers", diffusers_model_path=model, diffusers_steps=4, hf_hub_offline=1)
    own_worker(**env)
    owner = make_user()
    job_id = jobs.submit(owner, ImageRequest(prompt="a watercolor fox", width=64, height=64, seed=5))
    events = run_job(job_id, 120)
    assert events[-1].status == "succeeded", events[-1]
    steps = [e for e in events if e.status == "running" and e.stage.startswith("Step")]
    assert len(steps) >= 2 and any(e.preview_url for e in events)
    with session_scope() as s:
        (image,) = s.exec(select(Image).where(Image.job_id == job_id)).all()
    assert (image.engine, image.model, image.width, image.height, image.seed) == ("diffusers", "tiny-sd", 64, 64, 5)


@pytest.fixture(scope="module")
def fake_openai():
    from tests.fakes.openai_server import FakeOpenAI

    with FakeOpenAI(event_delay_s=0.05) as fake:
        yield fake


SECRET = f"sk-test-{uuid.uuid4().hex}"


@pytest.fixture
def openai_worker(private_namespace, own_worker, fake_openai):
    env = private_namespace(image_engine="openai", openai_api_key=SECRET, openai_base_url=fake_openai.base_url,
                    openai_max_retries=1, openai_partial_images=2, job_max_attempts=2, job_time_limit_s=3)
    return own_worker(**env)


def _job(job_id) -> GenerationJob:
    with session_scope() as s:
        return s.get(GenerationJob, job_id)


def _ledger(job_id):
    from imagechat.models import UsageEntry

    with session_scope() as s:
        return s.exec(select(UsageEntry).where(UsageEntry.job_id == job_id)).one()


def _requests_for(fake, marker):
    return [r for r in fake.image_requests() if marker in str(r.params.get("prompt", ""))]


def test_openai_engine_streams_previews_and_records_cost(openai_worker, fake_openai, make_user):
    owner = make_user()
    marker = uuid.uuid4().hex[:8]
    job_id = jobs.submit(owner, ImageRequest(prompt=f"a sunset {marker}", width=1024, height=1024))
    events = run_job(job_id, 120)
    assert events[-1].status == "succeeded"
    previews = [e for e in events if e.preview_url]
    assert len(previews) == 2 and previews[0].percent < previews[1].percent < 100
    job, ledger = _job(job_id), _ledger(job_id)
    assert job.cost_usd > 0 and (ledger.status, ledger.amount_usd) == ("charged", job.cost_usd)
    assert ledger.usage.get("output_tokens", 0) > 0
    assert job.reserved_usd >= job.cost_usd  # the reservation is an upper bound
    (req,) = _requests_for(fake_openai, marker)
    assert req.params["stream"] is True and req.params["model"] == "gpt-image-2"


def test_refusal_fails_at_once_with_a_clear_message_and_no_charge(openai_worker, fake_openai, make_user):
    owner = make_user()
    marker = uuid.uuid4().hex[:8]
    job_id = jobs.submit(owner, ImageRequest(prompt=f"something bad [refuse] {marker}"))
    final = run_job(job_id, 120)[-1]
    assert final.status == "failed" and final.error_code == "content_refused"
    assert "declined by the image service's safety system" in final.error
    assert len(_requests_for(fake_openai, marker)) == 1, "a refusal must not be retried"
    assert _job(job_id).attempts == 1 and _ledger(job_id).status == "released"


def test_transient_errors_are_retried_by_the_job_after_the_sdk_gives_up(openai_worker, fake_openai, make_user):
    owner = make_user()
    marker = uuid.uuid4().hex[:8]
    # The SDK retries once (OPENAI_MAX_RETRIES=1): 2 failures end attempt 1, attempt 2 succeeds.
    job_id = jobs.submit(owner, ImageRequest(prompt=f"a boat [fail:500*2] {marker}"))
    events = run_job(job_id, 120)
    assert events[-1].status == "succeeded"
    assert any(e.status == "queued" and "retrying" in e.stage for e in events)
    assert [r.status for r in _requests_for(fake_openai, marker)] == [500, 500, 200]
    assert _job(job_id).attempts == 2 and _ledger(job_id).status == "charged"


def test_time_limit_ends_a_hung_engine_and_gives_up_after_max_attempts(openai_worker, fake_openai, make_user):
    owner = make_user()
    job_id = jobs.submit(owner, ImageRequest(prompt=f"a slow lake [slow:30] {uuid.uuid4().hex[:8]}"))
    final = run_job(job_id, timeout=60)[-1]
    assert final.status == "failed" and final.error_code == "time_limit"
    assert "took longer than 3 s" in final.error and "Gave up after 2 attempts" in final.error
    assert _job(job_id).attempts == 2 and _ledger(job_id).status == "released"


def test_api_key_never_reaches_logs_errors_or_events(openai_worker, fake_openai, make_user):
    owner = make_user()
    fake_openai.api_keys = {"sk-some-other-key"}  # the worker's key is now rejected
    try:
        job_id = jobs.submit(owner, ImageRequest(prompt="a key test"))
        events = run_job(job_id, 120)
    finally:
        fake_openai.api_keys = None
    assert events[-1].status == "failed" and "OPENAI_API_KEY" in events[-1].error
    assert SECRET not in openai_worker.log()
    assert all(SECRET not in e.to_json() for e in events)
    with session_scope() as s:
        rows = s.exec(select(GenerationJob.error, GenerationJob.params)).all()
    assert all(SECRET not in str(row) for row in rows)
