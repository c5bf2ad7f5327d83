"""Editing with a painted mask, end to end below the browser: the upload route (owner only, size cap, Pillow's
verdict on the PNG), its single-use tickets, the chat turn that submits the edit with the mask (stored in
job_masks with the job), the offline engine on the real worker changing only the painted area, and the OpenAI
engine through the official SDK against the fake server (the mask sent as multipart; a mask the API refuses
fails the job cleanly: no image, the reservation released)."""

from __future__ import annotations

import io
import uuid

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image, ImageDraw
from sqlmodel import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from imagechat.api import masks as masks_api
from imagechat.core import auth, chat, codec, conversations, jobs, library, masks
from imagechat.core.auth import SESSION_COOKIE
from imagechat.core.errors import InvalidRequest, NotFound
from imagechat.core.request import ImageRequest
from imagechat.core.urls import mask_url
from imagechat.db import session_scope
from imagechat.models import GenerationJob, JobKind, JobMask, Message, UsageEntry
from imagechat.models import Image as ImageRow
from tests.support.waiting import finish, run_job

SIZE = 256
LAKE = "a lake at sunset"
WATER = (40, 160, 220, 250)  # an ellipse on the lake (the horizon of this scene is near the middle)


def _account() -> tuple[int, dict[str, str]]:
    name = f"m{uuid.uuid4().hex[:10]}"
    user = auth.sign_up(name, "correct horse battery")
    _, token = auth.log_in(name, "correct horse battery")
    return user.id, {SESSION_COOKIE: token}


def _png(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def _mask(size=(SIZE, SIZE), box=WATER, *, fill=(0, 0, 0, 0), base=(0, 0, 0, 255), mode="RGBA") -> bytes:
    m = Image.new(mode, size, base if mode == "RGBA" else base[:len(mode)])
    if box:
        ImageDraw.Draw(m).ellipse(box, fill=fill if mode == "RGBA" else fill[:len(mode)])
    return _png(m)


def _counts(owner: int) -> tuple[int, ...]:
    with session_scope() as s:
        return tuple(s.execute(sa.select(sa.func.count()).select_from(t).where(t.owner_id == owner)).scalar_one()
                     for t in (Message, GenerationJob))


@pytest.fixture(scope="module")
def client():
    with TestClient(Starlette(routes=masks_api.routes), base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture(scope="module")
def lake(worker):
    """Two users; the first owns an offline image of a lake in a conversation."""
    owner, cookies = _account()
    other, other_cookies = _account()
    conversation_id = conversations.create(owner).id
    job_id = jobs.submit(owner, ImageRequest(prompt=LAKE, width=SIZE, height=SIZE, seed=12),
                         conversation_id=conversation_id)
    event = finish(job_id)
    assert event.status == "succeeded"
    return {"owner": owner, "cookies": cookies, "other": other, "other_cookies": other_cookies,
            "image": event.image_ids[0], "conversation": conversation_id}


def _upload(client, image_id: str, body: bytes, cookies, content_type="image/png", **headers):
    return client.post(mask_url(image_id), content=body, cookies=cookies,
                       headers={"Content-Type": content_type, **headers})


# ---------------------------------------------------------------- the upload route


def test_the_owner_uploads_a_mask_and_gets_a_ticket(client, lake):
    r = _upload(client, lake["image"], _mask(), lake["cookies"])
    assert r.status_code == 201, r.text
    body = r.json()
    assert masks.TICKET_PATTERN.fullmatch(body["ticket"]) and 0.1 < body["painted"] < 0.5
    assert r.headers["cache-control"] == "no-store"
    stored = masks.take(lake["owner"], uuid.UUID(lake["image"]), body["ticket"])
    back = Image.open(io.BytesIO(stored))
    assert (back.format, back.mode, back.size) == ("PNG", "RGBA", (SIZE, SIZE))  # canonical, same alpha
    assert np.array_equal(np.asarray(back.getchannel("A")),
                          np.asarray(Image.open(io.BytesIO(_mask())).getchannel("A")))


def test_only_the_owner_of_the_image_may_upload(client, lake):
    body = _mask()
    assert _upload(client, lake["image"], body, {}).status_code == 401
    assert _upload(client, lake["image"], body, {SESSION_COOKIE: "forged"}).status_code == 401
    other = _upload(client, lake["image"], body, lake["other_cookies"])  # someone else's image
    assert other.status_code == 404 and other.json()["message"] == "That image doesn't exist, or it isn't yours."
    assert _upload(client, str(uuid.uuid4()), body, lake["cookies"]).status_code == 404
    assert _upload(client, "not-a-uuid", body, lake["cookies"]).status_code == 404
    cross = _upload(client, lake["image"], body, lake["cookies"], **{"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403 and cross.json()["error"] == "bad_origin"
    assert client.get(mask_url(lake["image"]), cookies=lake["cookies"]).status_code == 405


def test_the_size_cap_is_enforced_whatever_the_headers_say(client, lake):
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * masks.MAX_MASK_BYTES
    r = _upload(client, lake["image"], big, lake["cookies"])
    assert r.status_code == 413 and "larger than 4 MB" in r.json()["message"]

    def chunks():  # no Content-Length: the route counts what arrives
        yield b"\x89PNG\r\n\x1a\n"
        for _ in range(5):
            yield b"\0" * (1024 * 1024)

    r = client.post(mask_url(lake["image"]), content=chunks(), cookies=lake["cookies"],
                    headers={"Content-Type": "image/png"})
    assert r.status_code == 413


@pytest.mark.parametrize("body, content_type, status, message", [
    (lambda: _mask(), "image/jpeg", 415, "sent as a PNG"),
    (lambda: _png(Image.new("RGB", (SIZE, SIZE)), "JPEG"), "image/png", 400, "must be a PNG"),
    (lambda: _png(Image.new("RGBA", (SIZE, SIZE)), "WEBP"), "image/png", 400, "must be a PNG"),
    (lambda: _mask()[:200], "image/png", 400, "damaged or incomplete"),
    (lambda: b"", "image/png", 400, "arrived empty"),
    (lambda: _mask(size=(128, 128), box=(10, 10, 60, 60)), "image/png", 400,
     "is 128x128 pixels but the image is 256x256"),
    (lambda: _mask(size=(3000, 3000), box=None), "image/png", 400, "is 3000x3000 pixels but the image is 256x256"),
    (lambda: _mask(mode="RGB"), "image/png", 400, "has no transparency"),
    (lambda: _mask(box=None), "image/png", 400, "Nothing is painted yet"),
    (lambda: _mask(box=None, base=(0, 0, 0, 0)), "image/png", 400, "The whole image is painted"),
    (lambda: _mask(fill=(0, 0, 0, 40)), "image/png", 400, "Nothing is painted yet"),  # only half-transparent
])
def test_bad_masks_are_refused_with_a_message(client, lake, body, content_type, status, message):
    r = _upload(client, lake["image"], body(), lake["cookies"], content_type=content_type)
    assert r.status_code == status, r.text
    assert message in r.json()["message"]


# ---------------------------------------------------------------- tickets


def test_a_ticket_redeems_its_mask_once_for_its_owner_and_image(lake):
    owner, image = lake["owner"], uuid.UUID(lake["image"])
    png = masks.check(_mask(), (SIZE, SIZE), max_pixels=10**7)
    for who, which in ((lake["other"], image), (owner, uuid.uuid4())):
        ticket = masks.park(owner, image, png)
        with pytest.raises(NotFound, match="expired or isn't yours"):
            masks.take(who, which, ticket)
        with pytest.raises(NotFound):  # a failed attempt used it up as well
            masks.take(owner, image, ticket)
    ticket = masks.park(owner, image, png)
    assert masks.take(owner, image, ticket) == png
    with pytest.raises(NotFound):
        masks.take(owner, image, ticket)
    first = masks.park(owner, image, png)
    second = masks.park(owner, image, png)  # one parked mask per user: the newer replaces the older
    with pytest.raises(NotFound):
        masks.take(owner, image, first)
    assert masks.take(owner, image, second) == png
    for bad in (None, 42, "", "short", "x" * 65, "<reflex.Var>", {"ticket": second}):
        with pytest.raises(NotFound):
            masks.take(owner, image, bad)


# ---------------------------------------------------------------- the chat turn and the worker (offline engine)


def _pixels(owner: int, image_id) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(library.image_bytes(owner, uuid.UUID(str(image_id)))[1])).convert("RGB"),
                      dtype=np.int16)


def test_a_masked_edit_goes_through_the_chat_and_changes_only_the_painted_area(client, lake):
    owner, source = lake["owner"], lake["image"]
    ticket = _upload(client, source, _mask(), lake["cookies"]).json()["ticket"]
    conversation_id, turn = chat.edit_in_chat(owner, uuid.UUID(source), ticket, "  add a boat here ")
    assert conversation_id == lake["conversation"] and turn.job_id is not None
    assert turn.reply.startswith("Changing the area you painted")
    with session_scope() as s:
        job = s.get(GenerationJob, turn.job_id)
        assert (job.kind, str(job.source_image_id), job.prompt) == (JobKind.EDIT, source, f"{LAKE}, with a boat here")
        assert job.params["width"] == SIZE and job.request_key is None
        stored = s.get(JobMask, turn.job_id)
    assert stored is not None and masks.job_mask(turn.job_id) == codec.from_b64(stored.mask_b64)
    assert "mask_b64" not in GenerationJob.model_fields  # the job row itself stays light
    assert finish(turn.job_id).status == "succeeded"

    views = conversations.messages(owner, conversation_id)
    asked, answer = views[-2], views[-1]
    assert asked.role == "user" and asked.content == f"Change the painted area of \u201c{LAKE}\u201d: add a boat here"
    assert answer.before is not None and answer.before.id == source  # before/after, like a restyle
    edited = answer.images[0].id
    assert library.get_image(owner, uuid.UUID(edited)).parent_image_id == uuid.UUID(source)

    before, after = _pixels(owner, source), _pixels(owner, edited)
    alpha = np.asarray(Image.open(io.BytesIO(_mask())).getchannel("A"))
    keep, painted = alpha == 255, alpha == 0
    # Stored as lossy WebP both times: outside the mask only re-encoding noise, inside a boat.
    assert np.abs(after[keep] - before[keep]).mean() < 2.5
    assert (np.abs(after - before).max(axis=2)[keep] > 48).mean() < 0.005
    assert (np.abs(after - before).max(axis=2)[painted] > 48).mean() > 0.03

    # Retry makes the same masked edit: the new job carries the mask too. Deleting a job takes its mask along.
    again = jobs.resubmit(owner, turn.job_id)
    assert masks.job_mask(again) == masks.job_mask(turn.job_id)
    assert finish(again).status == "succeeded"
    with session_scope() as s:
        s.execute(sa.delete(ImageRow).where(ImageRow.job_id == again))
        s.execute(sa.delete(UsageEntry).where(UsageEntry.job_id == again))
        s.execute(sa.delete(GenerationJob).where(GenerationJob.id == again))
    assert masks.job_mask(again) is None


def test_refused_edits_write_nothing_and_keep_the_ticket_when_the_words_are_missing(client, lake):
    owner, image = lake["owner"], uuid.UUID(lake["image"])
    ticket = _upload(client, lake["image"], _mask(), lake["cookies"]).json()["ticket"]
    counts = _counts(owner), _counts(lake["other"])
    for words in ("", "   ", None, 7, ["add a boat"]):
        with pytest.raises(InvalidRequest, match="Say what to change"):
            chat.edit_in_chat(owner, image, ticket, words)
    with pytest.raises(InvalidRequest, match="the limit is 1000"):
        chat.edit_in_chat(owner, image, ticket, "a" * 1001)
    with pytest.raises(NotFound):  # someone else's image, even with a valid ticket of its owner
        chat.edit_in_chat(lake["other"], image, ticket, "add a boat")
    with pytest.raises(NotFound):
        chat.edit_in_chat(owner, uuid.uuid4(), ticket, "add a boat")
    with pytest.raises(NotFound, match="expired"):
        chat.edit_in_chat(owner, image, "x" * 43, "add a boat")
    assert (_counts(owner), _counts(lake["other"])) == counts
    assert masks.take(owner, image, ticket)  # none of those used it up


def test_submit_refuses_a_mask_without_an_image_to_change(lake):
    before = _counts(lake["owner"])
    with pytest.raises(InvalidRequest, match="needs an image to change"):
        jobs.submit(lake["owner"], ImageRequest(prompt=LAKE, width=SIZE, height=SIZE),
                    mask=masks.check(_mask(), (SIZE, SIZE), max_pixels=10**7))
    assert _counts(lake["owner"]) == before


# ---------------------------------------------------------------- OpenAI through the SDK against the fake server


@pytest.fixture
def openai_worker(private_namespace, own_worker, fake):
    env = private_namespace(image_engine="openai", openai_api_key=f"sk-test-{uuid.uuid4().hex}",
                            openai_base_url=fake.base_url, openai_max_retries=1, openai_partial_images=1,
                            job_max_attempts=2)
    return own_worker(**env)


def test_openai_edits_with_the_mask_and_a_refused_mask_leaves_no_half_written_job(openai_worker, fake, make_user):
    owner = make_user()
    marker = uuid.uuid4().hex[:8]
    made = jobs.submit(owner, ImageRequest(prompt=f"a red square {marker}"))
    made_event = run_job(made, 120)[-1]
    assert made_event.status == "succeeded", made_event
    source = made_event.image_ids[0]
    size = (1024, 1024)
    mask = masks.check(_mask(size, (0, 0, 512, 1024)), size, max_pixels=10**7)

    job_id = jobs.submit(owner, ImageRequest(prompt=f"a red square, with a boat {marker}", width=1024, height=1024),
                         source_image_id=uuid.UUID(source), mask=mask)
    assert run_job(job_id, 120)[-1].status == "succeeded"
    (req,) = [r for r in fake.image_requests() if r.path.endswith("/edits") and marker in r.params.get("prompt", "")]
    assert [(f["field"], f["content_type"]) for f in req.files] == [("image", "image/webp"), ("mask", "image/png")]
    assert req.files[1]["size"] == len(mask)
    with session_scope() as s:
        (edited,) = s.exec(select(ImageRow).where(ImageRow.job_id == job_id)).all()
    before, after = _pixels(owner, source), _pixels(owner, edited.id)
    assert np.abs(after[:, 600:] - before[:, 600:]).mean() < 2.5  # the unpainted right part is kept
    assert np.abs(after[:, :400] - before[:, :400]).mean() > 10  # the painted left part is redrawn

    # A mask the API refuses (over its 4 MB limit): failed once, plainly, nothing stored, nothing charged.
    noise = Image.frombytes("RGBA", size, np.random.default_rng(5).integers(0, 256, size[0] * size[1] * 4,
                                                                             dtype=np.uint8).tobytes())
    refused = jobs.submit(owner, ImageRequest(prompt=f"a boat {marker}-2", width=1024, height=1024),
                          source_image_id=uuid.UUID(source), mask=_png(noise))
    final = run_job(refused, 120)[-1]
    assert final.status == "failed" and final.error_code == "invalid_request"
    assert "refused the painted area" in final.error and "Paint it again" in final.error
    with session_scope() as s:
        job = s.get(GenerationJob, refused)
        ledger = s.exec(select(UsageEntry).where(UsageEntry.job_id == refused)).one()
        images = s.exec(select(ImageRow).where(ImageRow.job_id == refused)).all()
    assert (job.attempts, ledger.status, images) == (1, "released", [])
    assert len([r for r in fake.image_requests() if f"{marker}-2" in r.params.get("prompt", "")]) == 1

