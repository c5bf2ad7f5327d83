"""The job history on the real PostgreSQL and Redis: listing, search, status filter, keyset paging, owner
scoping (guessed ids of another user), Retry and the page's URL filters."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from PIL import Image as PILImage
from sqlalchemy import func, text
from sqlmodel import select

from imagechat.core import conversations, history, jobs, library
from imagechat.core.errors import InvalidRequest, NotFound, RateLimited
from imagechat.core.history import HistoryQuery
from imagechat.db import session_scope
from imagechat.models import GenerationJob, Image, Message, Role, utcnow
from imagechat.state.history import ALL, history_row, history_url

PARAMS = {"style": "watercolor", "width": 1024, "height": 1024, "n": 1, "seed": 5, "quality": "auto"}


def _job(owner: int, prompt: str, *, status: str = "succeeded", age_s: float = 0.0, error: str | None = None,
         conversation_id: int | None = None, created_at=None) -> uuid.UUID:
    created = created_at or utcnow() - timedelta(seconds=age_s)
    with session_scope() as s:
        job = GenerationJob(owner_id=owner, engine="offline", model="offline-painter", prompt=prompt, status=status,
                            error=error, error_code="content_refused" if error else None, params=dict(PARAMS),
                            conversation_id=conversation_id, created_at=created, attempts=1,
                            started_at=created + timedelta(seconds=1),
                            finished_at=created + timedelta(seconds=3.5) if status not in ("queued", "running")
                            else None)
        s.add(job)
        s.flush()
        return job.id


def _jobs_of(owner: int) -> int:
    with session_scope() as s:
        return s.exec(select(func.count()).select_from(GenerationJob).where(GenerationJob.owner_id == owner)).one()


def _png() -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (64, 48), (200, 120, 40)).save(out, format="PNG")
    return out.getvalue()


def _images(owner: int, job_id: uuid.UUID, n: int) -> list[uuid.UUID]:
    stored = library.prepare(_png())
    with session_scope() as s:
        return library.add_images(s, owner_id=owner, job_id=job_id, prompt="p", style=None, engine="offline",
                                  model="m", conversation_id=None, parent_image_id=None,
                                  new_images=[library.NewImage(stored=stored, seed=i, revised_prompt=None)
                                              for i in range(n)])


def _all_ids(owner: int, query: HistoryQuery | None = None, limit: int = 7) -> list[str]:
    ids, cursor, query = [], None, query or HistoryQuery()
    while True:
        page = history.page(owner, query, cursor=cursor, limit=limit)
        ids += [e.id for e in page.entries]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


def test_lists_every_job_newest_first_with_its_message_images_and_facts(database_url, make_user):
    owner = make_user()
    conv = conversations.create(owner)
    old = _job(owner, "a lighthouse in a storm", status="failed", age_s=30,
               error="The engine refused this prompt. Change it and try again.", conversation_id=conv.id)
    new = _job(owner, "a sunset over mountains", age_s=10, conversation_id=conv.id)
    message = conversations.add_message(owner, conv.id, Role.ASSISTANT, "Generating...", job_id=new)
    kept, deleted = _images(owner, new, 2)
    with session_scope() as s:
        s.get(Image, deleted).deleted_at = utcnow()

    entries = history.page(owner).entries
    assert [e.id for e in entries] == [str(new), str(old)]
    done, failed = entries
    assert (done.status, done.message_id, done.conversation_id) == ("succeeded", message.id, conv.id)
    assert done.image_ids == [str(kept)], "a deleted image is not shown"
    assert (done.engine, done.model, done.style, done.width, done.height, done.n) == (
        "offline", "offline-painter", "watercolor", 1024, 1024, 1)
    assert done.duration_s == pytest.approx(2.5)
    assert (failed.status, failed.error, failed.retryable) == (
        "failed", "The engine refused this prompt. Change it and try again.", True)
    assert failed.message_id is None and failed.conversation_id == conv.id  # its conversation, no message
    assert history.count(owner) == 2

    row = history_row(done)
    assert row.chat_href == f"/?c={conv.id}&m={message.id}"
    assert (row.size, row.duration, row.cost, row.reason, row.retryable) == ("1024x1024", "2.5 s", "no cost", "",
                                                                             False)
    assert history_row(failed).reason == "The engine refused this prompt. Change it and try again."


def test_search_matches_words_and_a_prefix_of_the_last_one(database_url, make_user):
    owner = make_user()
    lake = _job(owner, "A sunset over mountains with a lake reflection", age_s=3)
    city = _job(owner, "A city skyline at night with neon lights", age_s=2)
    storm = _job(owner, "Lighthouse on a cliff in a storm", age_s=1)

    def found(words: str) -> list[str]:
        return [e.id for e in history.page(owner, HistoryQuery(text=words)).entries]

    assert found("lake") == [str(lake)]
    assert found("mountains refl") == [str(lake)]  # stemmed words, the last one typed halfway
    assert found("sun") == [str(lake)]
    assert found("neon ci") == [str(city)]
    assert found("lighthouse lake") == []  # every word must match
    assert found("LIGHT") == [str(storm), str(city)]  # case-insensitive prefix: lighthouse, lights
    assert found("the") == [str(storm), str(city), str(lake)]  # only stop words: as if nothing was typed
    assert history.count(owner, HistoryQuery(text="light")) == 2
    # Operators, quotes and colons never reach to_tsquery as syntax: no error, they are not words.
    for hostile in ("lake & !", "'lake':* | city", "lake)(", "!!!", "a:*B", "\\", "<->", "lake\x00"):
        assert set(found(hostile)) <= {str(lake), str(city), str(storm)}
    assert found("lake & !") == [str(lake)]
    assert history.tsquery_text("'lake':* | city") == "lake & city:*"


def test_search_uses_the_prompt_index(database_url, make_user):
    owner = make_user()
    _job(owner, "a forest in the snow at dawn")
    with session_scope() as s:
        _, words_term = history.conditions(s, owner, HistoryQuery(text="forest sno"))
        stmt = select(GenerationJob.id).where(words_term)  # the words alone: the expression must match the index
        sql = str(stmt.compile(dialect=s.get_bind().dialect, compile_kwargs={"literal_binds": True}))
        s.exec(text("SET LOCAL enable_seqscan = off"))  # a tiny table: make the planner show what it can use
        plan = "\n".join(r[0] for r in s.exec(text("EXPLAIN " + sql)).all())
    assert "ix_jobs_prompt_fts" in plan, plan


def test_status_filter(database_url, make_user):
    owner = make_user()
    ok = _job(owner, "one", age_s=4)
    bad = _job(owner, "two", status="failed", error="It failed. Try again.", age_s=3)
    stopped = _job(owner, "three", status="cancelled", age_s=2)
    waiting = _job(owner, "four", status="queued", age_s=1)
    by_status = {status: [e.id for e in history.page(owner, HistoryQuery(status=status)).entries]
                 for status in ("succeeded", "failed", "cancelled", "queued", "running")}
    assert by_status == {"succeeded": [str(ok)], "failed": [str(bad)], "cancelled": [str(stopped)],
                         "queued": [str(waiting)], "running": []}
    assert history.count(owner, HistoryQuery(status="failed")) == 1
    assert history.page(owner, HistoryQuery(text="two", status="failed")).entries[0].id == str(bad)
    assert history.page(owner, HistoryQuery(text="two", status="succeeded")).entries == []
    assert history_row(history.entries(owner, [stopped])[0]).reason == "Cancelled before it finished."
    assert history_row(history.entries(owner, [waiting])[0]).active


def test_paging_has_no_gaps_or_repeats_even_with_equal_times_and_new_jobs(database_url, make_user):
    owner = make_user()
    same = utcnow() - timedelta(minutes=5)
    made = [_job(owner, f"tied {i}", created_at=same) for i in range(5)]  # equal created_at: id breaks the tie
    made += [_job(owner, f"job {i}", age_s=100 - i) for i in range(18)]
    expected = [str(j) for j in sorted(made, key=lambda j: (_created(j), j), reverse=True)]
    assert _all_ids(owner, limit=7) == expected
    assert _all_ids(owner, limit=1) == expected

    first = history.page(owner, limit=10)
    _job(owner, "arrives while the user scrolls")  # newer than everything: must not shift the next page
    rest = _all_from(owner, first.next_cursor)
    assert [e.id for e in first.entries] + rest == expected
    assert _all_ids(owner, HistoryQuery(text="tied"), limit=2) == [i for i in expected if i in map(str, made[:5])]


def _created(job_id):
    with session_scope() as s:
        return s.get(GenerationJob, job_id).created_at


def _all_from(owner, cursor) -> list[str]:
    ids = []
    while cursor is not None:
        page = history.page(owner, cursor=cursor, limit=4)
        ids += [e.id for e in page.entries]
        cursor = page.next_cursor
    return ids


@pytest.mark.parametrize("cursor", ["", "garbage", "x" * 500, "bm90IGEgY3Vyc29y", 5, None.__class__.__name__,
                                    "MjAyNi0wMS0wMVQwMDowMDowMHxub3QtYS11dWlk",  # "2026-01-01T00:00:00|not-a-uuid"
                                    "MjAyNi0wMS0wMVQwMDowMDowMHwxMjM0NTY3OC0xMjM0LTEyMzQtMTIzNC0xMjM0NTY3ODEyMzQ="])
def test_a_forged_cursor_is_refused_with_a_message(database_url, make_user, cursor):
    owner = make_user()
    with pytest.raises(InvalidRequest, match="Reload the page"):
        history.page(owner, cursor=cursor)


def test_other_users_jobs_are_invisible(database_url, make_user):
    alice, bob = make_user(), make_user()
    conv = conversations.create(alice)
    secret = _job(alice, "alice's secret harbour", status="failed", error="Refused.", conversation_id=conv.id)
    conversations.add_message(alice, conv.id, Role.ASSISTANT, "…", job_id=secret)
    _images(alice, secret, 1)
    mine = _job(bob, "bob's own harbour")
    # Bob guesses Alice's job id everywhere he can pass one.
    assert [e.id for e in history.page(bob).entries] == [str(mine)]
    assert [e.id for e in history.page(bob, HistoryQuery(text="harbour")).entries] == [str(mine)]
    assert history.page(bob, HistoryQuery(text="secret")).entries == []
    assert history.count(bob) == 1
    assert history.entries(bob, [secret, mine])[0].id == str(mine) and len(history.entries(bob, [secret])) == 0
    # A cursor made from Alice's newest job only pages through Bob's own.
    alice_cursor = history._encode_cursor(_created(secret) + timedelta(seconds=1), secret)
    assert [e.id for e in history.page(bob, cursor=alice_cursor).entries] == [str(mine)]
    # Bob's own job never carries Alice's message or images.
    (entry,) = history.entries(bob, [mine])
    assert (entry.message_id, entry.conversation_id, entry.image_ids) == (None, None, [])


def test_retry_of_another_users_job_is_refused_and_changes_nothing(database_url, make_user, private_namespace):
    private_namespace()
    alice, bob = make_user(), make_user()
    conv = conversations.create(alice)
    secret = _job(alice, "alice's failed lighthouse", status="failed", error="Refused.", conversation_id=conv.id)
    message = conversations.add_message(alice, conv.id, Role.ASSISTANT, "…", job_id=secret)
    for guessed in (secret, uuid.uuid4()):
        with pytest.raises(NotFound):
            history.retry(bob, guessed)
        with pytest.raises(NotFound):
            jobs.cancel(bob, guessed)
    assert (_jobs_of(alice), _jobs_of(bob)) == (1, 0)
    with session_scope() as s:
        assert s.get(Message, message.id).job_id == secret
        assert s.get(GenerationJob, secret).status == "failed"


def test_retry_resubmits_the_same_request_and_the_chat_message_follows(database_url, make_user,
                                                                       private_namespace):
    private_namespace()  # no worker takes it: the new job stays queued
    owner = make_user()
    conv = conversations.create(owner)
    failed = _job(owner, "a watercolor lighthouse", status="failed", error="Refused.", conversation_id=conv.id,
                  age_s=60)
    message = conversations.add_message(owner, conv.id, Role.ASSISTANT, "…", job_id=failed)
    cancelled = _job(owner, "a cancelled city", status="cancelled", age_s=30)

    new = history.retry(owner, failed)
    top, *_ = history.page(owner).entries
    assert top.id == str(new) and top.status == "queued" and top.prompt == "a watercolor lighthouse"
    assert (top.style, top.width, top.height, top.n, top.seed) == ("watercolor", 1024, 1024, 1, 5)
    assert (top.message_id, top.conversation_id) == (message.id, conv.id)  # the chat shows the new job
    (old,) = history.entries(owner, [failed])
    assert (old.status, old.message_id, old.conversation_id) == ("failed", None, conv.id)

    again = history.retry(owner, cancelled)
    assert history.entries(owner, [again])[0].prompt == "a cancelled city"

    with pytest.raises(InvalidRequest, match="Only failed or cancelled"):
        history.retry(owner, new)  # queued, not failed
    done = _job(owner, "finished fine")
    with pytest.raises(InvalidRequest, match="Only failed or cancelled"):
        history.retry(owner, done)


def test_retry_goes_through_the_rate_limit(database_url, make_user, private_namespace):
    private_namespace(rate_limit="1/minute")
    owner = make_user()
    failed = _job(owner, "a storm at sea", status="failed", error="Refused.")
    history.retry(owner, failed)
    before = _jobs_of(owner)
    with pytest.raises(RateLimited, match="Try again in"):
        history.retry(owner, failed)
    assert _jobs_of(owner) == before  # refused: nothing written


def test_url_filters_are_validated_both_ways():
    assert history.parse_query({"q": "  lake   sunset ", "status": "failed"}) == HistoryQuery("lake sunset", "failed")
    for bad in ({"q": ["lake"]}, {"q": 5}, {"q": "x" * 201}, {"status": "FAILED"}, {"status": "'; drop"},
                {"status": ["failed"]}, {"q": None, "status": None}):
        parsed = history.parse_query(bad)
        assert parsed.text in ("",) and parsed.status == "", (bad, parsed)
    assert history.query_params(HistoryQuery()) == {}
    assert history.parse_query(history.query_params(HistoryQuery("a b", "queued"))) == HistoryQuery("a b", "queued")
    assert history_url(HistoryQuery()) == "/history"
    url = history_url(HistoryQuery("<reflex.Var>x</reflex.Var> & {y}", "failed"))
    assert url.startswith("/history?q=") and not any(c in url for c in "<>{} ") and url.endswith("&status=failed")
    assert ALL not in history.STATUSES
