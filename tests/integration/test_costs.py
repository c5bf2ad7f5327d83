"""What a job's images cost, after a real job on the OpenAI engine (the official SDK against the fake API, run
in-process as a worker would): the reservation made at submit is the estimate's upper bound, and the job's
settled cost is the ledger's charge."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import select

from imagechat.core import costs, jobs, providers, runner
from imagechat.core.providers import image_models
from imagechat.core.request import ImageRequest
from imagechat.db import session_scope
from imagechat.models import GenerationJob, Image, LedgerStatus, UsageEntry


@pytest.fixture
async def openai_owner(make_user, private_namespace, clean_fake):
    private_namespace(image_engine="openai", openai_api_key=f"sk-{uuid.uuid4().hex}",
                      openai_base_url=clean_fake.base_url, openai_image_model="gpt-image-2",
                      openai_partial_images=0, openai_max_retries=0)
    yield make_user()
    await providers.close_all()


def _ledger(job_id) -> UsageEntry:
    with session_scope() as s:
        return s.exec(select(UsageEntry).where(UsageEntry.job_id == job_id)).one()


def _image_ids(job_id) -> list[uuid.UUID]:
    with session_scope() as s:
        return list(s.exec(select(Image.id).where(Image.job_id == job_id).order_by(Image.index_in_job)).all())


async def test_each_image_shows_its_share_of_the_settled_charge(openai_owner, make_user):
    request = ImageRequest("two foxes in the snow", n=2, width=1792, height=1024, quality="medium")
    job_id = jobs.submit(openai_owner, request)
    with session_scope() as s:
        reserved = s.get(GenerationJob, job_id).reserved_usd
    est = costs.estimate("openai", "gpt-image-2", 1792, 1024, "medium", 2, request.prompt)
    assert reserved == pytest.approx(est.usd_upper_bound)  # the estimate's bound is what was reserved

    await runner.run_job(str(job_id))

    entry = _ledger(job_id)
    assert entry.status == LedgerStatus.CHARGED
    assert entry.amount_usd == pytest.approx(image_models.cost_from_usage("gpt-image-2", entry.usage))
    assert 0 < entry.amount_usd <= reserved
    ids = _image_ids(job_id)
    assert len(ids) == 2
    with session_scope() as s:  # what the chat and the detail view divide over the job's images
        assert s.get(GenerationJob, job_id).cost_usd == pytest.approx(entry.amount_usd)
