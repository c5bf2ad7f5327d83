"""core/cache.py: the request key, answers from the library (owner-scoped, inside the window, only while every
image is still there), their ledger line, and the bounded cache of converted downloads."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlmodel import select

from imagechat.core import cache, organise
from imagechat.core.cache import ByteLRU, lookup, request_key
from imagechat.core.request import ImageRequest
from imagechat.db import session_scope
from imagechat.models import GenerationJob, Image, ImageData, UsageEntry, utcnow
from imagechat.settings import get_settings

REQUEST = ImageRequest(prompt="A sunset over mountains with a lake reflection", style="watercolor", width=1024,
                       height=1024, n=2, quality="medium")


def _key(request: ImageRequest = REQUEST, engine: str = "openai", model: str = "gpt-image-2") -> str | None:
    return request_key(request, engine, model)


def test_the_key_ignores_case_spacing_and_end_punctuation_only():
    same = ["a sunset over mountains with a lake reflection", "  A SUNSET over   mountains with a lake reflection!",
            "\u201cA sunset over mountains\twith a lake reflection.\u201d"]
    assert {_key(ImageRequest(**{**REQUEST.__dict__, "prompt": p})) for p in same} == {_key()}
    different = [
        {"prompt": "A sunset over hills with a lake reflection"}, {"style": "oil-painting"}, {"style": None},
        {"width": 1792}, {"quality": "high"}, {"n": 1},
    ]
    keys = {_key(ImageRequest(**{**REQUEST.__dict__, **change})) for change in different}
    assert len(keys) == len(different) and _key() not in keys
    assert _key(engine="offline", model="painter-1") != _key() != _key(model="gpt-image-2.5-flare")
    assert _key(ImageRequest(**{**REQUEST.__dict__, "seed": 7})) is None  # a seed asks for a particular new one
    assert _key(ImageRequest(**{**REQUEST.__dict__, "source_image": b"x"})) is None  # an edit


def _done_job(owner: int, key: str | None, *, n: int = 2, status: str = "succeeded", kind: str = "generate",
              age: timedelta = timedelta(minutes=5), cost: float = 0.08) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A finished job with `n` stored images, as the runner leaves it."""
    created = utcnow() - age
    with session_scope() as s:
        job = GenerationJob(owner_id=owner, engine="openai", model="gpt-image-2", prompt=REQUEST.prompt,
                            status=status, kind=kind, params={**REQUEST.params(), "n": n}, cost_usd=cost,
                            request_key=key, created_at=created)
        s.add(job)
        s.flush()
        ids = []
        for i in range(n):
            image = Image(owner_id=owner, job_id=job.id, index_in_job=i, prompt=REQUEST.prompt, engine="openai",
                          model="gpt-image-2", width=1024, height=1024, mime="image/webp", byte_size=4,
                          sha256="0" * 64, created_at=created)
            s.add(image)
            s.flush()
            s.add(ImageData(image_id=image.id, data_b64="AAAA", thumb_b64="AAAA"))
            ids.append(image.id)
        return job.id, ids


def test_an_identical_request_finds_your_newest_complete_answer(make_user):
    owner, other = make_user(), make_user()
    _done_job(owner, _key(), age=timedelta(hours=3))
    job, ids = _done_job(owner, _key(), age=timedelta(hours=1), cost=0.1)
    hit = lookup(owner, _key())
    assert hit is not None and hit.job_id == job and hit.image_ids == [str(i) for i in ids]
    assert hit.cost_usd == pytest.approx(0.1)
    assert lookup(other, _key()) is None  # never across users
    assert lookup(owner, _key(model="gpt-image-2.5-flare")) is None
    assert lookup(owner, None) is None


def test_no_answer_outside_the_window_for_failures_edits_or_deleted_images(make_user, monkeypatch):
    owner = make_user()
    key = _key(ImageRequest(prompt=f"lighthouse {uuid.uuid4().hex}"))
    old_key = _key(ImageRequest(prompt=f"harbour {uuid.uuid4().hex}"))
    _done_job(owner, old_key, age=timedelta(hours=25))  # outside the default 24 hours
    assert lookup(owner, old_key) is None
    _done_job(owner, key, status="failed")
    _done_job(owner, key, kind="edit")
    assert lookup(owner, key) is None
    _, ids = _done_job(owner, key)
    assert lookup(owner, key) is not None
    organise.delete_images(owner, [ids[1]])  # one of its images is gone: no longer the same answer
    assert lookup(owner, key) is None
    organise.restore_images(owner, [ids[1]])
    assert lookup(owner, key) is not None
    monkeypatch.setenv("REQUEST_CACHE_HOURS", "0")
    get_settings.cache_clear()
    try:
        assert lookup(owner, key) is None  # switched off
        monkeypatch.setenv("REQUEST_CACHE_HOURS", "30")
        get_settings.cache_clear()
        assert lookup(owner, old_key) is not None  # the wider window reaches further
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_the_answer_is_a_free_ledger_line_that_says_what_it_saved(make_user):
    owner = make_user()
    job, _ = _done_job(owner, _key(), cost=0.125)
    hit = lookup(owner, _key())
    with session_scope() as s:
        cache.record_answer(s, owner, hit, engine="openai", model="gpt-image-2")
    with session_scope() as s:
        entry = s.exec(select(UsageEntry).where(UsageEntry.owner_id == owner)).one()
        assert (entry.status, entry.amount_usd, entry.job_id) == ("charged", 0.0, None)
        assert entry.usage == {"cached": True, "saved_usd": 0.125, "from_job": str(job)}


def test_submit_stores_the_key_of_what_the_engine_makes(make_user, private_namespace):
    from imagechat.core import jobs

    private_namespace()
    owner = make_user()
    job_id = jobs.submit(owner, ImageRequest(prompt="  Red boat at dawn. ", width=256, height=256))
    seeded = jobs.submit(owner, ImageRequest(prompt="Red boat at dawn", width=256, height=256, seed=3))
    with session_scope() as s:
        job = s.get(GenerationJob, job_id)
        expected = request_key(ImageRequest(prompt="red boat at dawn", width=256, height=256), job.engine, job.model)
        assert job.request_key == expected
        assert s.get(GenerationJob, seeded).request_key is None


def test_byte_lru_stays_within_its_size_and_drops_the_least_recent():
    lru = ByteLRU(max_bytes=10)
    made = []

    def make(value: bytes):
        return lambda: made.append(value) or value

    assert lru.get_or_make("a", make(b"aaaa")) == b"aaaa"
    assert lru.get_or_make("b", make(b"bbbb")) == b"bbbb"
    assert lru.get_or_make("a", make(b"xxxx")) == b"aaaa"  # a hit: not made again, and now the most recent
    lru.get_or_make("c", make(b"cccc"))  # 12 bytes: "b" (least recent) goes
    assert lru.size <= 10 and len(lru) == 2
    assert lru.get_or_make("b", make(b"bbbb")) == b"bbbb" and made.count(b"bbbb") == 2
    assert lru.get_or_make("big", make(b"z" * 11)) == b"z" * 11  # larger than the cache: served, not kept
    assert "big" not in lru._items and lru.size <= 10
    assert (lru.hits, lru.misses) == (1, 5)


# ---- the chat: an identical request answered from the library, and "generate a new one anyway"


def _say(owner: int, conversation_id: int, text: str):
    import asyncio

    from imagechat.core import chat

    return asyncio.run(chat.respond(owner, conversation_id, text))


def _jobs_of(owner: int) -> int:
    with session_scope() as s:
        return len(s.exec(select(GenerationJob.id).where(GenerationJob.owner_id == owner)).all())


def test_the_chat_answers_an_identical_request_from_your_library(make_user, worker):
    from imagechat.core import chat, conversations
    from tests.support.waiting import finish

    owner, other = make_user(), make_user()
    conv = conversations.create(owner)
    first = _say(owner, conv.id, "Create an image of a red boat on a calm lake")
    assert finish(first.job_id).status == "succeeded"

    again = _say(owner, conversations.create(owner).id, "create an image of a red boat on a calm lake!")
    assert again.from_library and again.job_id is None and _jobs_of(owner) == 1
    assert again.reply.startswith("From your library: you made this image")
    view = conversations.messages(owner, view_conversation(owner, again), message_ids=[again.assistant_message_id])[0]
    assert view.from_library and view.job_id == str(first.job_id) and len(view.images) == 1
    with session_scope() as s:
        saved = s.exec(select(UsageEntry).where(UsageEntry.owner_id == owner, UsageEntry.job_id.is_(None))).one()
        assert saved.amount_usd == 0.0 and saved.usage["cached"] is True

    # "another one" asks for a new take of the same request: never the library's answer.
    another = _say(owner, conv.id, "another one")
    assert another.job_id is not None and not another.from_library
    finish(another.job_id)

    # Never across users, and a different setting is a different request.
    assert _say(other, conversations.create(other).id, "Create an image of a red boat on a calm lake").job_id
    wide = _say(owner, conv.id, "Create an image of a red boat on a calm lake, wide")
    assert wide.job_id is not None and not wide.from_library
    finish(wide.job_id)

    # "Generate a new one anyway": the same request as a new job, past the cache.
    anyway = chat.generate_anyway(owner, view_conversation(owner, again), again.assistant_message_id)
    assert anyway.job_id is not None and anyway.job_id != first.job_id
    assert finish(anyway.job_id).status == "succeeded"
    with session_scope() as s:
        new, old = s.get(GenerationJob, anyway.job_id), s.get(GenerationJob, first.job_id)
        assert (new.prompt, new.params, new.request_key) == (old.prompt, old.params, old.request_key)


def view_conversation(owner: int, turn) -> int:
    from imagechat.models import Message

    with session_scope() as s:
        return s.get(Message, turn.assistant_message_id).conversation_id


def test_generate_anyway_refuses_other_messages_and_other_users(make_user, worker):
    from imagechat.core import chat, conversations
    from imagechat.core.errors import ImagechatError

    owner, other = make_user(), make_user()
    conv = conversations.create(owner)
    turn = _say(owner, conv.id, "hello")
    for who, message_id in ((owner, turn.assistant_message_id), (owner, turn.user_message_id),
                            (other, turn.assistant_message_id), (owner, 2**31 - 1)):
        with pytest.raises(ImagechatError):
            chat.generate_anyway(who, conv.id, message_id)
    assert _jobs_of(owner) == 0
