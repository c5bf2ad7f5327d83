"""The OpenAI-compatible API (/v1) over real HTTP with the official `openai` SDK: a real worker makes every image
(the offline painter, or gpt-image-2 through the fake OpenAI server), PostgreSQL and Redis are real.

Covers: keys (missing, wrong, revoked, a disabled owner, a session cookie that must not count), the models list,
generation into the owner's gallery with its cost, bad bodies (400 naming the field, nothing written), the rate
limit (429 with retry-after), a spent budget (429 insufficient_quota), a refused prompt (400 moderation_blocked),
guessed job ids, asynchronous jobs, Idempotency-Key (same job, one charge; a different body refused; two at once),
a client that hangs up and retries, streaming, and edits with a mask."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import uuid

import httpx
import openai
import pytest
from PIL import Image as PILImage
from sqlalchemy import func
from sqlmodel import select

from imagechat.core import api_keys, auth, gallery, jobs
from imagechat.core.auth import SESSION_COOKIE
from imagechat.core.errors import NotFound
from imagechat.core.request import ImageRequest
from imagechat.db import session_scope
from imagechat.models import GenerationJob, Image, UsageEntry, User
from tests.support.api_stack import module_stack
from tests.support.waiting import run_job, wait_until

OFFLINE = "imagechat-offline"
stack = module_stack()


@pytest.fixture
def user(stack, make_user) -> int:
    return make_user("api")


@pytest.fixture
def key(stack, user) -> str:
    return stack.key_for(user)


def client(stack, key: str, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.v1, api_key=key, max_retries=0, timeout=kw.pop("timeout", 120), **kw)


def _png(data_b64: str) -> PILImage.Image:
    raw = base64.b64decode(data_b64)
    img = PILImage.open(io.BytesIO(raw))
    img.load()
    return img


def _jobs_of(owner: int) -> list[GenerationJob]:
    with session_scope() as s:
        return list(s.exec(select(GenerationJob).where(GenerationJob.owner_id == owner)).all())


def _ledger(job_id) -> UsageEntry:
    with session_scope() as s:
        return s.exec(select(UsageEntry).where(UsageEntry.job_id == job_id)).one()


def _set_user(owner: int, **values) -> None:
    with session_scope() as s:
        row = s.get(User, owner)
        for name, value in values.items():
            setattr(row, name, value)
        s.add(row)


# ---------------------------------------------------------------- generation


def test_generation_lands_in_the_owners_gallery_with_its_cost(stack, user, key):
    raw = client(stack, key).images.with_raw_response.generate(model=OFFLINE, prompt="a lighthouse on a cliff at dusk",
                                                                size="512x512", output_format="png")
    result = raw.parse()
    assert isinstance(result, openai.types.ImagesResponse)
    (item,) = result.data
    img = _png(item.b64_json)
    assert (img.format, img.size) == ("PNG", (512, 512))
    assert (result.size, result.output_format, result.background) == ("512x512", "png", "opaque")
    assert result.usage is not None and result.usage.total_tokens == 0  # the painter counts no tokens
    extra = result.model_extra["imagechat"]
    job_id = uuid.UUID(extra["job_id"])
    assert raw.headers["x-imagechat-job-id"] == str(job_id) and float(raw.headers["x-imagechat-cost-usd"]) == 0.0
    (image_id,) = extra["image_ids"]
    cards = gallery.page(user, gallery.parse_query({})).cards
    assert [str(c.id) for c in cards] == [image_id]
    with session_scope() as s:
        job = s.get(GenerationJob, job_id)
        image = s.get(Image, uuid.UUID(image_id))
    assert (job.owner_id, job.engine, job.status) == (user, "offline", "succeeded")
    assert (image.owner_id, image.job_id, image.width) == (user, job_id, 512)


def test_openai_model_reports_the_charged_cost_and_usage(stack, user, key, fake):
    marker = uuid.uuid4().hex[:8]
    raw = client(stack, key).images.with_raw_response.generate(model="gpt-image-2", prompt=f"a red kite {marker}",
                                                                size="1024x1024", quality="low",
                                                                output_format="webp")
    result = raw.parse()
    assert _png(result.data[0].b64_json).format == "WEBP"
    assert result.usage.output_tokens > 0 and result.quality == "low"
    extra = result.model_extra["imagechat"]
    ledger = _ledger(uuid.UUID(extra["job_id"]))
    assert ledger.status == "charged" and ledger.amount_usd > 0
    assert extra["cost_usd"] == pytest.approx(ledger.amount_usd, abs=1e-6)
    assert float(raw.headers["x-imagechat-cost-usd"]) == pytest.approx(ledger.amount_usd, abs=1e-6)
    (sent,) = [r for r in fake.image_requests() if marker in str(r.params.get("prompt"))]
    assert sent.params["model"] == "gpt-image-2" and sent.params["quality"] == "low"
    assert sent.headers["authorization"] != f"Bearer {key}"  # the user's key never leaves imagechat


def test_models_are_listed_in_openais_shape(stack, key):
    sdk = client(stack, key)
    listed = {m.id: m for m in sdk.models.list()}
    assert {OFFLINE, "gpt-image-2"} <= set(listed)
    assert all(m.object == "model" and m.created > 0 for m in listed.values())
    assert sdk.models.retrieve(OFFLINE).owned_by == "imagechat"
    with pytest.raises(openai.NotFoundError) as err:
        sdk.models.retrieve("dall-e-3")
    assert err.value.code == "model_not_found"


# ---------------------------------------------------------------- keys


def test_requests_without_a_live_key_get_401_and_a_session_cookie_does_not_count(stack, user, key):
    for bad in ("", "sk-something", "ick_" + "A" * 43, key + "x"):
        with pytest.raises(openai.AuthenticationError):
            client(stack, bad or "x").models.list()
    name = f"c{uuid.uuid4().hex[:10]}"
    auth.sign_up(name, "correct horse battery")
    _, token = auth.log_in(name, "correct horse battery")
    r = httpx.post(f"{stack.v1}/images/generations", json={"prompt": "a cat", "model": OFFLINE},
                   cookies={SESSION_COOKIE: token})
    assert r.status_code == 401 and set(r.json()["error"]) == {"message", "type", "param", "code"}
    (view,) = api_keys.list_keys(user)
    api_keys.revoke(user, view.id)
    with pytest.raises(openai.AuthenticationError) as err:
        client(stack, key).models.list()
    assert err.value.code == "invalid_api_key" and key not in str(err.value)


def test_a_disabled_owners_key_is_refused(stack, user, key):
    with session_scope() as s:
        name = s.get(User, user).username
    auth.set_disabled(name, True)
    with pytest.raises(openai.PermissionDeniedError) as err:
        client(stack, key).images.generate(model=OFFLINE, prompt="a boat")
    assert err.value.code == "account_disabled"
    assert _jobs_of(user) == []


def test_keys_are_stored_hashed_and_scoped_to_their_owner(stack, user, make_user):
    view, key = api_keys.create(user, "  laptop \x1b[31m ")
    assert key.startswith("ick_") and len(key) == 47 and view.prefix == key[:12] and view.name == "laptop"
    from imagechat.models import ApiKey

    with session_scope() as s:
        row = s.get(ApiKey, view.id)
    assert row.key_hash == api_keys.key_hash(key) and key not in (row.key_hash, row.prefix + "x")
    other = make_user("other")
    with pytest.raises(NotFound):
        api_keys.revoke(other, view.id)
    for guess in (view.id + 10_000, "1", True, -1, None):
        with pytest.raises(NotFound):
            api_keys.revoke(user, guess)
    assert api_keys.authenticate(key).user_id == user
    assert [v.id for v in api_keys.list_keys(other)] == []


# ---------------------------------------------------------------- bad bodies, limits, budgets, refusals


@pytest.mark.parametrize("fields,param", [
    ({"n": 0}, "n"), ({"n": 11}, "n"), ({"n": 5}, "n"), ({"n": "2"}, "n"), ({"size": "13x7"}, "size"),
    ({"size": "big"}, "size"), ({"quality": "ultra"}, "quality"), ({"output_format": "gif"}, "output_format"),
    ({"response_format": "url"}, "response_format"), ({"colour": "red"}, "colour"), ({"prompt": ""}, "prompt"),
    ({"prompt": "x" * 4001}, "prompt"), ({"style": "bauhaus"}, "style"), ({"background": "transparent"}, "background"),
    ({"partial_images": 4}, "partial_images"), ({"output_compression": 101}, "output_compression"),
    ({"stream": "yes"}, "stream"), ({"seed": -1}, "seed"),
])
def test_bad_fields_get_400_naming_the_field_and_write_nothing(stack, user, key, fields, param):
    body = {"model": OFFLINE, "prompt": "a cat", **fields}
    with pytest.raises(openai.BadRequestError) as err:
        client(stack, key).post("/images/generations", body=body, cast_to=openai.types.ImagesResponse)
    assert err.value.status_code == 400 and err.value.param == param
    assert "Traceback" not in err.value.message
    assert _jobs_of(user) == []


def test_unknown_model_bad_json_and_bad_idempotency_key(stack, user, key):
    with pytest.raises(openai.NotFoundError) as err:
        client(stack, key).images.generate(model="dall-e-3", prompt="a cat")
    assert (err.value.code, err.value.param) == ("model_not_found", "model")
    headers = {"Authorization": f"Bearer {key}"}
    r = httpx.post(f"{stack.v1}/images/generations", content=b"{not json", headers=headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = httpx.post(f"{stack.v1}/images/generations", json={"prompt": "a cat"},
                   headers={**headers, "Idempotency-Key": "has space"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_idempotency_key"
    r = httpx.post(f"{stack.v1}/images/generations", content=b"{" * (1024 * 1024 + 10), headers=headers)
    assert r.status_code == 400
    assert _jobs_of(user) == []


def test_rate_limit_answers_429_with_retry_after(stack, user, key):
    _set_user(user, rate_limit="2/minute")
    sdk = client(stack, key)
    for _ in range(2):
        sdk.images.generate(model=OFFLINE, prompt="a small hill", size="256x256")
    with pytest.raises(openai.RateLimitError) as err:
        sdk.images.generate(model=OFFLINE, prompt="a small hill", size="256x256")
    retry_after = int(err.value.response.headers["retry-after"])
    assert 1 <= retry_after <= 60 and err.value.code == "rate_limit_exceeded"
    assert len(_jobs_of(user)) == 2


def test_spent_budget_answers_429_insufficient_quota_without_retries(stack, user, key, fake):
    _set_user(user, daily_budget_usd=0.0)
    before = len(fake.image_requests())
    sdk = openai.OpenAI(base_url=stack.v1, api_key=key, max_retries=2, timeout=60)
    with pytest.raises(openai.RateLimitError) as err:
        sdk.images.generate(model="gpt-image-2", prompt="an expensive castle")
    assert err.value.code == "insufficient_quota" and err.value.response.headers["x-should-retry"] == "false"
    assert "daily image budget" in err.value.message
    assert _jobs_of(user) == [] and len(fake.image_requests()) == before


def test_refused_prompt_answers_400_moderation_blocked_and_is_not_charged(stack, user, key):
    with pytest.raises(openai.BadRequestError) as err:
        client(stack, key).images.generate(model="gpt-image-2", prompt="something bad [refuse]")
    assert err.value.code == "moderation_blocked" and "safety system" in err.value.message
    (job,) = _jobs_of(user)
    assert job.status == "failed" and _ledger(job.id).status == "released"


# ---------------------------------------------------------------- jobs: async, guessed ids


def _async_post(stack, key, body, **headers) -> httpx.Response:
    return httpx.post(f"{stack.v1}/images/generations", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {key}", "Prefer": "respond-async", **headers})


def test_async_job_answers_at_once_then_the_same_images_response(stack, user, key):
    r = _async_post(stack, key, {"model": OFFLINE, "prompt": "a harbour at night", "size": "256x256",
                                 "output_format": "jpeg"})
    assert r.status_code == 202 and r.headers["preference-applied"] == "respond-async"
    job = r.json()
    assert job["object"] == "image.job" and job["status"] in ("queued", "running")
    assert r.headers["location"] == f"/v1/images/jobs/{job['id']}"
    sdk = client(stack, key)

    def done():
        got = sdk.get(f"/images/jobs/{job['id']}", cast_to=httpx.Response)
        return got if got.status_code == 200 else None

    final = wait_until(done, timeout=60, what="the async job to finish")
    result = openai.types.ImagesResponse.model_validate(final.json())
    assert _png(result.data[0].b64_json).format == "JPEG" and final.json()["status"] == "succeeded"
    assert [str(c.id) for c in gallery.page(user, gallery.parse_query({})).cards] == \
        result.model_extra["imagechat"]["image_ids"]


def test_other_users_and_guessed_job_ids_get_404(stack, user, key, make_user):
    mine = _async_post(stack, key, {"model": OFFLINE, "prompt": "a quiet pond", "size": "256x256"}).json()["id"]
    other = make_user("other")
    other_key = stack.key_for(other)
    chat_job = jobs.submit(user, ImageRequest(prompt="a chat job", width=256, height=256))
    for who, job_id in ((other_key, mine), (key, str(uuid.uuid4())), (key, "1"), (key, str(chat_job)),
                        (other_key, str(chat_job))):
        for method in ("GET", "DELETE"):
            r = httpx.request(method, f"{stack.v1}/images/jobs/{job_id}", headers={"Authorization": f"Bearer {who}"})
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", (method, job_id)
    run_job(chat_job, 60)
    assert wait_until(lambda: _jobs_of(user) and all(j.status == "succeeded" for j in _jobs_of(user)),
                      timeout=60, what="both jobs to finish")


def test_delete_cancels_a_queued_or_running_job(stack, user, key):
    job = _async_post(stack, key, {"model": "gpt-image-2", "prompt": "a slow river [slow:5]"}).json()
    r = httpx.delete(f"{stack.v1}/images/jobs/{job['id']}", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = httpx.get(f"{stack.v1}/images/jobs/{job['id']}", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "job_cancelled"


# ---------------------------------------------------------------- Idempotency-Key


def test_the_same_idempotency_key_returns_the_same_job_once_charged(stack, user, key, fake):
    marker = uuid.uuid4().hex[:8]
    sdk = client(stack, key)
    body = dict(model="gpt-image-2", prompt=f"a windmill {marker}", size="1024x1024", quality="low")
    first = sdk.images.generate(**body, extra_headers={"Idempotency-Key": f"k-{marker}"})
    again = sdk.images.generate(**body, extra_headers={"Idempotency-Key": f"k-{marker}"})
    assert again.model_extra["imagechat"] == first.model_extra["imagechat"]
    assert again.data[0].b64_json == first.data[0].b64_json
    async_again = _async_post(stack, key, body, **{"Idempotency-Key": f"k-{marker}"})
    assert async_again.status_code == 202 and async_again.json()["id"] == first.model_extra["imagechat"]["job_id"]
    with pytest.raises(openai.BadRequestError) as err:
        sdk.images.generate(**{**body, "prompt": "something else"}, extra_headers={"Idempotency-Key": f"k-{marker}"})
    assert err.value.code == "idempotency_key_reused"
    (job,) = _jobs_of(user)
    with session_scope() as s:
        charges = s.exec(select(func.count()).select_from(UsageEntry).where(UsageEntry.owner_id == user)).one()
    assert charges == 1 and len([r for r in fake.image_requests() if marker in str(r.params)]) == 1
    # Another user may use the same key string: keys are per owner.
    other_key = stack.key_for(uuid_user := _new_user())
    other = client(stack, other_key).images.generate(**body, extra_headers={"Idempotency-Key": f"k-{marker}"})
    assert other.model_extra["imagechat"]["job_id"] != str(job.id) and len(_jobs_of(uuid_user)) == 1


def _new_user() -> int:
    from tests.support.services import create_user

    return create_user("idem")


def test_two_requests_with_the_same_key_at_once_make_one_job(stack, user, key):
    results, errors = [], []
    gate = threading.Barrier(3)

    def post():
        gate.wait()
        try:
            results.append(client(stack, key).images.generate(model=OFFLINE, prompt="twin towers of clouds",
                                                              size="256x256",
                                                              extra_headers={"Idempotency-Key": "same-moment"}))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=post) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 3
    assert len({r.model_extra["imagechat"]["job_id"] for r in results}) == 1
    assert len(_jobs_of(user)) == 1


def test_a_client_that_hangs_up_gets_its_job_by_retrying_with_the_key(stack, user, key, fake):
    marker = uuid.uuid4().hex[:8]
    body = dict(model="gpt-image-2", prompt=f"a tall ship [slow:3] {marker}", quality="low")
    with pytest.raises(openai.APITimeoutError):
        client(stack, key, timeout=1).images.generate(**body, extra_headers={"Idempotency-Key": marker})
    (job,) = _jobs_of(user)
    assert job.status in ("queued", "running")  # the job goes on without its client
    result = client(stack, key).images.generate(**body, extra_headers={"Idempotency-Key": marker})
    assert result.model_extra["imagechat"]["job_id"] == str(job.id)
    assert len(_jobs_of(user)) == 1
    assert len([r for r in fake.image_requests() if marker in str(r.params)]) == 1
    assert _ledger(job.id).status == "charged"


# ---------------------------------------------------------------- streaming


def test_streaming_sends_real_previews_then_the_image(stack, user, key):
    events = list(client(stack, key).images.generate(model="gpt-image-2", prompt="a stormy sea", stream=True,
                                                      partial_images=2, quality="low"))
    kinds = [e.type for e in events]
    assert kinds == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    final = events[-1]
    assert isinstance(final, openai.types.ImageGenCompletedEvent) and final.usage.output_tokens > 0
    assert _png(final.b64_json).size == (1024, 1024) and final.size == "1024x1024"
    assert final.model_extra["imagechat"]["cost_usd"] > 0
    (job,) = _jobs_of(user)
    assert job.status == "succeeded"


def test_streaming_a_refused_prompt_is_an_http_400(stack, user, key):
    with pytest.raises(openai.BadRequestError) as err:
        client(stack, key).images.generate(model="gpt-image-2", prompt="bad [refuse]", stream=True, partial_images=1)
    assert err.value.code == "moderation_blocked"


def test_async_client_streams_the_offline_painter(stack, user, key):
    async def go():
        sdk = openai.AsyncOpenAI(base_url=stack.v1, api_key=key, max_retries=0, timeout=120)
        try:
            stream = await sdk.images.generate(model=OFFLINE, prompt="a meadow with flowers at sunset",
                                               size="256x256", stream=True, partial_images=3)
            return [event async for event in stream]
        finally:
            await sdk.close()

    events = asyncio.run(go())
    partials = [e for e in events if e.type == "image_generation.partial_image"]
    assert 1 <= len(partials) <= 3 and events[-1].type == "image_generation.completed"
    assert [e.partial_image_index for e in partials] == list(range(len(partials)))


# ---------------------------------------------------------------- edits


def _source_png(size=(256, 256)) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", size, (30, 90, 160)).save(buf, "PNG")
    return buf.getvalue()


def _mask_png(size=(256, 256), box=(64, 64, 192, 192)) -> bytes:
    mask = PILImage.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), box)
    buf = io.BytesIO()
    mask.save(buf, "PNG")
    return buf.getvalue()


def test_edit_with_a_mask_changes_only_the_painted_area_and_keeps_both_in_the_gallery(stack, user, key):
    result = client(stack, key).images.edit(model=OFFLINE, image=("photo.png", _source_png(), "image/png"),
                                            mask=("mask.png", _mask_png(), "image/png"), prompt="add a small boat")
    edited = _png(result.data[0].b64_json).convert("RGB")
    assert edited.size == (256, 256)

    def near(pixel, colour=(30, 90, 160), tolerance=8):  # stored as WebP q90: within a few levels
        return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))

    assert near(edited.getpixel((5, 5))) and near(edited.getpixel((250, 250)))
    assert not near(edited.getpixel((128, 128)), tolerance=20)
    (job,) = _jobs_of(user)
    assert job.kind == "edit" and job.source_image_id is not None
    with session_scope() as s:
        images = {i.id: i for i in s.exec(select(Image).where(Image.owner_id == user)).all()}
    source, made = images[job.source_image_id], images[uuid.UUID(result.model_extra["imagechat"]["image_ids"][0])]
    assert source.engine == "upload" and made.parent_image_id == source.id
    assert {c.id for c in gallery.page(user, gallery.parse_query({})).cards} == {str(source.id), str(made.id)}


@pytest.mark.parametrize("image,mask,param", [
    (b"not an image", None, "image"),
    (None, "ok-mask", "image"),
    ("png", b"not a png", "mask"),
    ("png", "small-mask", "mask"),
    ("png", "opaque-mask", "mask"),
])
def test_bad_edit_uploads_get_400_and_leave_nothing(stack, user, key, image, mask, param):
    files = {}
    if image is not None:
        files["image"] = ("photo.png", _source_png() if image == "png" else image, "image/png")
    if mask == "ok-mask":
        mask = _mask_png()
    elif mask == "small-mask":
        mask = _mask_png((128, 128), (0, 0, 64, 64))
    elif mask == "opaque-mask":
        mask = _mask_png(box=(0, 0, 0, 0))
    if mask is not None:
        files["mask"] = ("mask.png", mask, "image/png")
    r = httpx.post(f"{stack.v1}/images/edits", headers={"Authorization": f"Bearer {key}"},
                   data={"prompt": "add a boat", "model": OFFLINE}, files=files)
    assert r.status_code == 400 and r.json()["error"]["param"] == param, r.json()
    assert _jobs_of(user) == []
    with session_scope() as s:
        assert s.exec(select(func.count()).select_from(Image).where(Image.owner_id == user)).one() == 0


def test_a_refused_edit_leaves_no_upload_in_the_gallery(stack, user, key):
    _set_user(user, rate_limit="1/minute")
    sdk = client(stack, key)
    sdk.images.generate(model=OFFLINE, prompt="a hill", size="256x256")
    with pytest.raises(openai.RateLimitError):
        sdk.images.edit(model=OFFLINE, image=("photo.png", _source_png(), "image/png"), prompt="make it snowy")
    assert len(gallery.page(user, gallery.parse_query({})).cards) == 1


def test_the_hostile_corpus_in_every_field_gets_a_clear_answer(stack, user, key):
    """tests/hostile.py's values in each request field: a 400/404 in OpenAI's shape naming what is wrong, or (for
    the few valid ones) an accepted job; never a 500 or a traceback."""
    from tests import hostile

    _set_user(user, rate_limit="10000/minute")
    short_text = [t for t in hostile.TEXT if len(t) <= 200]
    cases = [("size", v) for v in [*hostile.SIZES, *hostile.IDS]] + \
            [("output_format", v) for v in [*hostile.FORMATS, *hostile.IDS]] + \
            [(name, v) for name in ("n", "seed", "quality", "partial_images") for v in hostile.IDS] + \
            [(name, v) for name in ("model", "style") for v in [*short_text, *hostile.IDS]]
    accepted = 0
    with httpx.Client(base_url=stack.v1, timeout=60,
                      headers={"Authorization": f"Bearer {key}", "Prefer": "respond-async"}) as http:
        for name, value in cases:
            body = json.dumps({"model": OFFLINE, "prompt": "a small red boat", "size": "256x256", name: value})
            r = http.post("/images/generations", content=body, headers={"Content-Type": "application/json"})
            assert r.status_code in (202, 400, 404), (name, value, r.status_code, r.text[:300])
            if r.status_code == 202:
                accepted += 1
                continue
            error = r.json()["error"]
            assert set(error) == {"message", "type", "param", "code"} and error["message"], (name, value)
            assert "Traceback" not in r.text and "File \"" not in r.text
    assert len(_jobs_of(user)) == accepted


@pytest.mark.parametrize("prompt", [b"a boat \x00 at sea", b"a boat \xed\xa0\x80 lone surrogate",
                                    b"\x1b[31mred\x1b[0m boat", b"a boat <reflex.Var>x</reflex.Var>",
                                    b"\xff\xfe not utf-8", b"\x00\x01\x02"])
def test_hostile_edit_prompts_are_cleaned_or_refused(stack, user, key, prompt):
    """Raw bytes in the multipart prompt (NUL, an encoded lone surrogate, invalid UTF-8): the edit and its uploaded
    source are stored with the cleaned prompt, or refused with a 400; never a 500."""
    boundary = "imagechat-test-boundary"
    parts = [(b'name="model"', OFFLINE.encode()), (b'name="prompt"', prompt),
             (b'name="image"; filename="photo.png"\r\nContent-Type: image/png', _source_png())]
    body = b"".join(b"--" + boundary.encode() + b"\r\nContent-Disposition: form-data; " + head + b"\r\n\r\n" + value
                    + b"\r\n" for head, value in parts) + b"--" + boundary.encode() + b"--\r\n"
    r = httpx.post(f"{stack.v1}/images/edits", content=body, timeout=120, headers={
        "Authorization": f"Bearer {key}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code in (200, 400), r.text[:300]
    with session_scope() as s:
        prompts = s.exec(select(Image.prompt).where(Image.owner_id == user)).all()
    if r.status_code == 400:
        assert set(r.json()["error"]) == {"message", "type", "param", "code"} and prompts == []
        return
    assert len(prompts) == 2 and all(p.strip() and "\x00" not in p and "\x1b" not in p for p in prompts)
    assert all(p.encode("utf-8") for p in prompts)
