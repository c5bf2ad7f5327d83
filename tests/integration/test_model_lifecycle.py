"""The image model table against the fake API, driven by the official `openai` client: sizes and qualities
each model refuses get OpenAI's 400, shut-down models 404, /v1/models lists the table with shutdown dates,
and `lifecycle.upcoming_shutdowns` combines the table with what /v1/models says, without ever waiting on it."""

from __future__ import annotations

import uuid
from datetime import date

import openai
import pytest
from sqlmodel import select

from imagechat.core import jobs, lifecycle, providers
from imagechat.core.errors import EngineUnavailable
from imagechat.core.providers import image_models
from imagechat.core.request import ImageRequest
from imagechat.db import session_scope
from imagechat.models import GenerationJob
from imagechat.settings import Settings
from tests.support.waiting import wait_until

TODAY = date(2026, 12, 7)


@pytest.fixture
def client(clean_fake):
    with openai.OpenAI(api_key="sk-x", base_url=clean_fake.base_url, max_retries=0) as c:
        yield c


@pytest.fixture(autouse=True)
def _fresh_cache():
    lifecycle.clear_cache()
    yield
    lifecycle.clear_cache()


def settings_for(fake, **overrides) -> Settings:
    values = dict(openai_api_key=f"sk-{uuid.uuid4().hex}", openai_base_url=fake.base_url,
                  openai_image_model="gpt-image-2", openai_chat_model="gpt-5.4-mini")
    values.update(overrides)
    return Settings(_env_file=None, **values)


# ---- the official client against the fake, by the table ----
def test_a_size_the_model_refuses_is_a_400_like_the_real_api(client, clean_fake):
    clean_fake.today = date(2026, 9, 1)  # gpt-image-1 still served then
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="gpt-image-1", prompt="a wide harbour", size="1792x1024")
    assert info.value.status_code == 400
    assert info.value.body == {"message": "Invalid value: '1792x1024'. Supported values are: '1024x1024', "
                                          "'1024x1536', '1536x1024', and 'auto'.",
                               "type": "invalid_request_error", "param": "size", "code": "invalid_value"}
    snapped = image_models.model_for("gpt-image-1").snap_size(1792, 1024)
    ok = client.images.generate(model="gpt-image-1", prompt="a wide harbour", size=f"{snapped[0]}x{snapped[1]}")
    assert ok.size == "1536x1024"
    native = client.images.generate(model="gpt-image-2", prompt="a wide harbour", size="1792x1024")
    assert native.size == "1792x1024"
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="gpt-image-2", prompt="p", size="1000x1000")
    assert (info.value.body["param"], info.value.body["code"]) == ("size", "invalid_value")


def test_qualities_follow_the_table(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="gpt-image-2", prompt="p", quality="xhigh")
    assert info.value.body["param"] == "quality"
    assert client.images.generate(model="gpt-image-2.5-flare", prompt="p", quality="xhigh").data


def test_a_shut_down_model_is_a_404_from_its_shutdown_day(client, clean_fake):
    clean_fake.today = date(2026, 11, 30)
    assert client.images.generate(model="gpt-image-1.5", prompt="p", quality="low").data
    clean_fake.today = date(2026, 12, 1)
    with pytest.raises(openai.NotFoundError) as info:
        client.images.generate(model="gpt-image-1.5", prompt="p", quality="low")
    assert info.value.body["code"] == "model_not_found" and "gpt-image-1.5" in info.value.body["message"]


def test_usage_is_priced_like_the_table(client):
    r = client.images.generate(model="gpt-image-2", prompt="a fox", size="1024x1024", quality="high")
    cost = image_models.cost_from_usage("gpt-image-2", r.usage.model_dump())
    bound = image_models.estimate_upper_bound("gpt-image-2", quality="high", width=1024, height=1024, n=1,
                                              prompt="a fox")
    assert 0.2105 <= cost <= bound  # the published $0.211, never above the reservation
    wide = client.images.generate(model="gpt-image-2", prompt="a fox", size="1792x1024", quality="medium")
    assert image_models.cost_from_usage("gpt-image-2", wide.usage.model_dump()) <= image_models.estimate_upper_bound(
        "gpt-image-2", quality="medium", width=1792, height=1024, n=1, prompt="a fox")


def test_models_endpoint_lists_the_table_with_shutdown_dates(client, clean_fake):
    clean_fake.today = date(2026, 11, 1)
    listed = {m.id: m.shutdown_date for m in client.models.list()}
    served = image_models.current_models(date(2026, 11, 1))
    assert set(served) <= set(listed)
    assert listed["gpt-image-1.5"] == "2026-12-01" and listed["gpt-image-1-mini"] == "2026-12-01"
    assert listed["gpt-image-2"] is None
    assert "gpt-image-1" not in listed and "dall-e-3" not in listed  # shut down: no longer listed
    assert listed["gpt-5-mini"] == "2026-12-11" and listed["gpt-5.4-mini"] is None  # chat models too
    clean_fake.today = TODAY
    listed = {m.id for m in client.models.list()}
    assert {m for m in listed if m in image_models.IMAGE_MODELS} == set(image_models.current_models(TODAY))
    assert client.models.retrieve("gpt-image-2").shutdown_date is None
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-image-1")


def test_a_date_announced_only_by_the_api_is_listed(client, clean_fake):
    clean_fake.model_shutdowns = {"gpt-image-2": date(2027, 1, 31)}
    assert client.models.retrieve("gpt-image-2").shutdown_date == "2027-01-31"
    clean_fake.today = date(2027, 1, 31)
    with pytest.raises(openai.NotFoundError):
        client.images.generate(model="gpt-image-2", prompt="p")


async def test_a_retired_configured_model_is_refused_at_first_use_with_nothing_queued(
        clean_fake, make_user, private_namespace):
    private_namespace(image_engine="openai", openai_api_key="sk-x", openai_base_url=clean_fake.base_url,
                      openai_image_model="dall-e-3")
    owner = make_user()
    try:
        with pytest.raises(EngineUnavailable) as info:
            jobs.submit(owner, ImageRequest("a lighthouse"))
    finally:
        await providers.close_all()
    assert info.value.user_message == ("The image model dall-e-3 was shut down on 2026-05-12; "
                                       "set OPENAI_IMAGE_MODEL=gpt-image-2 (or another current model).")
    with session_scope() as s:
        assert s.exec(select(GenerationJob).where(GenerationJob.owner_id == owner)).all() == []
    assert clean_fake.requests == []


# ---- upcoming_shutdowns ----
def test_warns_of_a_shutdown_only_the_api_announces(clean_fake):
    clean_fake.model_shutdowns = {"gpt-image-2": date(2027, 1, 31)}
    settings = settings_for(clean_fake)
    lifecycle.refresh(settings)
    (warning,) = lifecycle.upcoming_shutdowns(TODAY, 90, settings=settings)
    assert (warning.model, warning.kind, warning.shutdown, warning.days_left, warning.source) == (
        "gpt-image-2", "image", date(2027, 1, 31), 55, "api")
    assert warning.replacement == "gpt-image-2.5-flare" and not warning.past
    assert warning.message == ("OPENAI_IMAGE_MODEL=gpt-image-2 shuts down on 2027-01-31 (in 55 days); "
                               "set OPENAI_IMAGE_MODEL=gpt-image-2.5-flare.")
    assert lifecycle.upcoming_shutdowns(TODAY, 30, settings=settings) == []  # beyond the window


def test_table_and_api_dates_together(clean_fake):
    settings = settings_for(clean_fake, openai_image_model="gpt-image-1.5", openai_chat_model="gpt-5-mini")
    lifecycle.refresh(settings)
    warnings = lifecycle.upcoming_shutdowns(TODAY, 90, settings=settings)
    assert [(w.model, w.shutdown, w.days_left, w.source, w.past) for w in warnings] == [
        ("gpt-image-1.5", date(2026, 12, 1), -6, "table", True),  # the API no longer lists it
        ("gpt-5-mini", date(2026, 12, 11), 4, "table+api", False)]
    assert warnings[0].message == ("OPENAI_IMAGE_MODEL=gpt-image-1.5 was shut down on 2026-12-01; "
                                   "set OPENAI_IMAGE_MODEL=gpt-image-2.")
    assert warnings[1].message == ("OPENAI_CHAT_MODEL=gpt-5-mini shuts down on 2026-12-11 (in 4 days); "
                                   "set OPENAI_CHAT_MODEL to a current chat model.")
    # the earlier date wins when the API and the table disagree
    clean_fake.model_shutdowns = {"gpt-5-mini": date(2026, 12, 9)}
    lifecycle.refresh(settings)
    chat = [w for w in lifecycle.upcoming_shutdowns(TODAY, settings=settings) if w.kind == "chat"]
    assert [(w.shutdown, w.source) for w in chat] == [(date(2026, 12, 9), "api")]


def test_every_offered_image_model_is_watched(clean_fake):
    settings = settings_for(clean_fake, openai_extra_image_models="gpt-image-1-mini, gpt-image-2.5-flare")
    lifecycle.refresh(settings)
    (warning,) = lifecycle.upcoming_shutdowns(TODAY, settings=settings)
    assert (warning.model, warning.setting, warning.past) == ("gpt-image-1-mini", "OPENAI_EXTRA_IMAGE_MODELS", True)
    assert warning.message == ("gpt-image-1-mini (in OPENAI_EXTRA_IMAGE_MODELS) was shut down on 2026-12-01; "
                               "replace it with gpt-image-2.")


def test_never_waits_for_the_api_and_reports_from_the_table_meanwhile(clean_fake):
    clean_fake.models_fault = "hang:2"  # /v1/models answers only after 2 s
    settings = settings_for(clean_fake, openai_image_model="gpt-image-2", openai_chat_model="gpt-5")
    clean_fake.model_shutdowns = {"gpt-image-2": date(2027, 1, 31)}
    first = lifecycle.upcoming_shutdowns(TODAY, settings=settings)
    assert [(w.model, w.source) for w in first] == [("gpt-5", "table")]  # the API has not answered yet
    assert lifecycle._cache(settings).refreshing  # it is being asked in the background
    wait_until(lambda: lifecycle._cache(settings).dates is not None, 20, "/v1/models to answer")
    later = lifecycle.upcoming_shutdowns(TODAY, settings=settings)
    assert [(w.model, w.source) for w in later] == [("gpt-5", "table+api"), ("gpt-image-2", "api")]
    assert len([r for r in clean_fake.requests if r.path == "/v1/models"]) == 1  # cached, not asked again


def test_an_unreachable_api_leaves_the_table(clean_fake, caplog):
    clean_fake.models_fault = "500"
    settings = settings_for(clean_fake, openai_chat_model="gpt-5-nano")
    with pytest.raises(openai.InternalServerError):
        lifecycle.refresh(settings)
    assert [w.model for w in lifecycle.upcoming_shutdowns(TODAY, settings=settings)] == ["gpt-5-nano"]
    lifecycle.clear_cache()
    lifecycle.upcoming_shutdowns(TODAY, settings=settings)  # a background attempt that fails
    wait_until(lambda: not lifecycle._cache(settings).refreshing, 20, "the background attempt to end")
    assert lifecycle._cache(settings).error == "InternalServerError"
    assert "could not read model shutdown dates from /v1/models (InternalServerError)" in caplog.text
    assert settings.openai_api_key.get_secret_value() not in caplog.text
    asked = len([r for r in clean_fake.requests if r.path == "/v1/models"])
    lifecycle.upcoming_shutdowns(TODAY, settings=settings)  # failed a moment ago: not asked again yet
    assert len([r for r in clean_fake.requests if r.path == "/v1/models"]) == asked
    assert [w.model for w in lifecycle.upcoming_shutdowns(TODAY, settings=settings)] == ["gpt-5-nano"]


def test_nothing_to_warn_about_without_a_key(clean_fake):
    settings = Settings(_env_file=None, openai_api_key=None, openai_image_model="dall-e-3")
    assert lifecycle.upcoming_shutdowns(TODAY, settings=settings) == []
    assert clean_fake.requests == []
