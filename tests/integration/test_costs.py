"""What each stored image cost, read back from the ledger by image id, after a real job on the OpenAI engine
(the official SDK against the fake API, run in-process as a worker would); the reservation made at submit
is the estimate's upper bound."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import select

from imagechat.core import costs, jobs, limits, organise, providers, runner
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
    found = costs.actual_costs(ids + [uuid.uuid4()], openai_owner)
    assert set(found) == set(ids)
    for image_id in ids:
        cost = found[image_id]
        assert (cost.images_in_job, cost.status, cost.engine, cost.model) == (2, "charged", "openai", "gpt-image-2")
        assert cost.job_usd == pytest.approx(entry.amount_usd) and cost.usd == pytest.approx(entry.amount_usd / 2)
        assert cost.label == f"{costs.usd(entry.amount_usd / 2)} · gpt-image-2"
    assert costs.actual_cost(ids[0], openai_owner) == found[ids[0]]
    # another user's image is not theirs to price; a deleted image is gone
    assert costs.actual_cost(ids[0], make_user()) is None
    organise.delete_images(openai_owner, [ids[1]])
    assert costs.actual_cost(ids[1], openai_owner) is None
    assert costs.actual_cost(ids[0], openai_owner).images_in_job == 2  # the job's charge is still split two ways


def test_images_without_a_charge_cost_nothing(make_user):
    owner = make_user()
    with session_scope() as s:
        job = GenerationJob(owner_id=owner, engine="offline", model="painter", prompt="x", params={})
        s.add(job)
        s.flush()
        limits.reserve(s, owner_id=owner, job_id=job.id, amount_usd=0.0, engine="offline", model="painter")
        limits.settle(s, job.id, cost_usd=0.0)
        paid_nothing = Image(owner_id=owner, job_id=job.id, prompt="x", engine="offline", model="painter", width=64,
                             height=64, mime="image/webp", byte_size=1, sha256="0" * 64)
        no_job = Image(owner_id=owner, prompt="y", engine="offline", model="painter", width=64, height=64,
                       mime="image/webp", byte_size=1, sha256="0" * 64)
        s.add_all([paid_nothing, no_job])
    free = costs.actual_cost(paid_nothing.id, owner)
    assert (free.usd, free.status, free.images_in_job, free.label) == (0.0, "charged", 1, "$0 · painter")
    orphan = costs.actual_cost(no_job.id, owner)
    assert (orphan.usd, orphan.status) == (0.0, "none")
    assert costs.actual_costs([], owner) == {} and costs.actual_costs(["not-a-uuid"], owner) == {}
