"""Conversations and messages on the real PostgreSQL: owner scoping, automatic titles, history views."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image as PILImage
from sqlmodel import select

from imagechat.core import conversations, library
from imagechat.core.errors import InvalidRequest, NotFound
from imagechat.db import session_scope
from imagechat.models import Conversation, GenerationJob, Image, Message


@pytest.fixture(scope="module")
def stored(database_url):
    im = PILImage.new("RGB", (96, 64), (30, 120, 200))
    out = io.BytesIO()
    im.save(out, format="PNG")
    return library.prepare(out.getvalue())


def _job(owner: int, conversation_id: int | None, status: str = "succeeded", kind: str = "generate",
         source_image_id: uuid.UUID | None = None, error: str | None = None) -> uuid.UUID:
    with session_scope() as s:
        job = GenerationJob(owner_id=owner, conversation_id=conversation_id, engine="offline", prompt="a test",
                            status=status, kind=kind, source_image_id=source_image_id, error=error)
        s.add(job)
        s.flush()
        return job.id


def _images(owner: int, conversation_id: int | None, job_id: uuid.UUID, stored, n: int = 1,
            prompt: str = "a blue square", parent: uuid.UUID | None = None) -> list[uuid.UUID]:
    with session_scope() as s:
        return library.add_images(
            s, owner_id=owner, job_id=job_id, prompt=prompt, style="watercolor" if parent else None,
            engine="offline", model="offline-test", conversation_id=conversation_id, parent_image_id=parent,
            new_images=[library.NewImage(stored=stored, seed=i, revised_prompt=None) for i in range(n)])


# ---------------------------------------------------------------- conversations


def test_create_cleans_the_title_and_refuses_an_empty_one(make_user):
    owner = make_user()
    assert conversations.create(owner).title == conversations.DEFAULT_TITLE
    conv = conversations.create(owner, "  Trip\x00 to\tthe\u200bsea \n")
    assert conv.title == "Trip to the sea" and conv.owner_id == owner
    assert conversations.get(owner, conv.id).title == "Trip to the sea"
    for blank in ("", " \t\n", "\x00\u200b"):
        with pytest.raises(InvalidRequest):
            conversations.create(owner, blank)


def test_list_is_scoped_to_the_owner_and_most_recently_used_first(make_user):
    owner, other = make_user(), make_user()
    first, second = conversations.create(owner, "first"), conversations.create(owner, "second")
    conversations.create(other, "not yours")
    assert [c.id for c in conversations.list_for(owner)] == [second.id, first.id]
    conversations.add_message(owner, first.id, "user", "hello again")
    assert [c.id for c in conversations.list_for(owner)] == [first.id, second.id]
    assert [c.id for c in conversations.list_for(owner, limit=1)] == [first.id]
    assert [c.title for c in conversations.list_for(other)] == ["not yours"]


def test_another_users_conversation_is_not_found(make_user):
    """get, rename, delete, add_message, messages and last_image all refuse a conversation that isn't yours."""
    owner, other = make_user(), make_user()
    conv = conversations.create(owner, "mine")
    calls = [lambda who, cid: conversations.get(who, cid),
             lambda who, cid: conversations.rename(who, cid, "stolen"),
             lambda who, cid: conversations.delete(who, cid),
             lambda who, cid: conversations.add_message(who, cid, "user", "hi"),
             lambda who, cid: conversations.messages(who, cid),
             lambda who, cid: conversations.last_image(who, cid)]
    for call in calls:
        for who, cid in ((other, conv.id), (owner, 2**31 - 1)):
            with pytest.raises(NotFound):
                call(who, cid)
    assert conversations.get(owner, conv.id).title == "mine"
    assert conversations.messages(owner, conv.id) == []


def test_rename_cleans_and_ellipsizes(make_user):
    owner = make_user()
    conv = conversations.create(owner)
    assert conversations.rename(owner, conv.id, "Cats\x07 and\ndogs").title == "Cats and dogs"
    long = conversations.rename(owner, conv.id, "word " * 40).title
    assert len(long) == conversations.TITLE_MAX and long.endswith("…") and not long[:-1].endswith(" ")
    assert conversations.get(owner, conv.id).title == long
    with pytest.raises(InvalidRequest):
        conversations.rename(owner, conv.id, "\u200b\u200b")
    assert conversations.get(owner, conv.id).title == long


def test_delete_removes_messages_but_keeps_images(make_user, stored):
    owner = make_user()
    conv = conversations.create(owner)
    message = conversations.add_message(owner, conv.id, "user", "draw a blue square")
    job_id = _job(owner, conv.id)
    conversations.attach_job(owner, message.id, job_id)
    (image_id,) = _images(owner, conv.id, job_id, stored)
    conversations.delete(owner, conv.id)
    with pytest.raises(NotFound):
        conversations.get(owner, conv.id)
    with session_scope() as s:
        assert s.exec(select(Message).where(Message.conversation_id == conv.id)).all() == []
        assert s.get(Conversation, conv.id) is None
        image = s.get(Image, image_id)
    assert image is not None and image.conversation_id is None
    assert (image.owner_id, image.deleted_at) == (owner, None), "still the owner's, in the gallery"
    assert library.get_image(owner, image_id).id == image_id


# ---------------------------------------------------------------- automatic titles


def test_first_user_message_names_an_untitled_conversation(make_user):
    owner = make_user()
    conv = conversations.create(owner)
    conversations.add_message(owner, conv.id, "assistant", "Hi! What shall we draw?")
    assert conversations.get(owner, conv.id).title == conversations.DEFAULT_TITLE, "assistant text never names it"
    conversations.add_message(owner, conv.id, "user", "\x1b\u200b\t")
    assert conversations.get(owner, conv.id).title == conversations.DEFAULT_TITLE, "blank text never names it"
    conversations.add_message(owner, conv.id, "user", "A\x07 sunset\u200bover\tthe sea\n")
    assert conversations.get(owner, conv.id).title == "A sunset over the sea"
    conversations.add_message(owner, conv.id, "user", "now make it purple")
    assert conversations.get(owner, conv.id).title == "A sunset over the sea"


def test_a_long_first_message_is_ellipsized(make_user):
    owner = make_user()
    conv = conversations.create(owner)
    text = "Create an image of " + "a very tall mountain, " * 10
    conversations.add_message(owner, conv.id, "user", text)
    title = conversations.get(owner, conv.id).title
    assert len(title) == conversations.TITLE_MAX and title.endswith("…")
    assert text.startswith(title[:-1])


def test_a_named_conversation_keeps_its_name(make_user):
    owner = make_user()
    conv = conversations.create(owner, "Holiday cards")
    conversations.add_message(owner, conv.id, "user", "a snowman with a scarf")
    assert conversations.get(owner, conv.id).title == "Holiday cards"


# ---------------------------------------------------------------- messages


def test_messages_are_oldest_first_with_limit_and_ids(make_user):
    owner = make_user()
    conv = conversations.create(owner)
    sent = [conversations.add_message(owner, conv.id, "user" if i % 2 == 0 else "assistant", f"message {i}")
            for i in range(5)]
    views = conversations.messages(owner, conv.id)
    assert [(v.id, v.role, v.content) for v in views] == [(m.id, m.role, m.content) for m in sent]
    assert [v.content for v in conversations.messages(owner, conv.id, limit=2)] == ["message 3", "message 4"]
    picked = conversations.messages(owner, conv.id, message_ids=[sent[3].id, sent[0].id])
    assert [v.id for v in picked] == [sent[0].id, sent[3].id]
    assert conversations.messages(owner, conv.id, message_ids=[]) == []
    other_conv = conversations.create(owner)
    assert conversations.messages(owner, other_conv.id, message_ids=[sent[0].id]) == []


def test_error_code_is_kept_on_the_message(make_user):
    owner = make_user()
    conv = conversations.create(owner)
    conversations.add_message(owner, conv.id, "assistant", "Slow down a little.", error_code="rate_limited")
    (view,) = conversations.messages(owner, conv.id)
    assert (view.error_code, view.job_id, view.images) == ("rate_limited", None, [])


def test_attach_job_shows_the_jobs_state_and_images(make_user, stored):
    owner = make_user()
    conv = conversations.create(owner)
    message = conversations.add_message(owner, conv.id, "assistant", "On it!")
    job_id = _job(owner, conv.id)
    conversations.attach_job(owner, message.id, job_id)
    image_ids = _images(owner, conv.id, job_id, stored, n=3)
    (view,) = conversations.messages(owner, conv.id)
    assert (view.job_id, view.job_status, view.job_kind, view.before) == (str(job_id), "succeeded", "generate", None)
    assert [i.id for i in view.images] == [str(i) for i in image_ids]
    assert (view.images[0].width, view.images[0].height, view.images[0].prompt) == (96, 64, "a blue square")


def test_a_change_shows_its_source_image_as_before(make_user, stored):
    owner = make_user()
    conv = conversations.create(owner)
    first = _job(owner, conv.id)
    (source,) = _images(owner, conv.id, first, stored)
    edit = _job(owner, conv.id, kind="edit", source_image_id=source)
    (after,) = _images(owner, conv.id, edit, stored, prompt="a blue square, watercolor", parent=source)
    message = conversations.add_message(owner, conv.id, "assistant", "Here it is as a watercolor.")
    conversations.attach_job(owner, message.id, edit)
    (view,) = conversations.messages(owner, conv.id)
    assert view.job_kind == "edit" and view.before is not None and view.before.id == str(source)
    (image,) = view.images
    assert (image.id, image.parent_id, image.style) == (str(after), str(source), "watercolor")


def test_a_failed_job_shows_its_error(make_user):
    owner = make_user()
    conv = conversations.create(owner)
    message = conversations.add_message(owner, conv.id, "assistant", "On it!")
    job_id = _job(owner, conv.id, status="failed", error="The engine refused this prompt.")
    conversations.attach_job(owner, message.id, job_id)
    (view,) = conversations.messages(owner, conv.id)
    assert (view.job_status, view.job_error, view.images) == ("failed", "The engine refused this prompt.", [])


def test_attach_job_refuses_another_users_message(make_user):
    owner, other = make_user(), make_user()
    conv = conversations.create(owner)
    message = conversations.add_message(owner, conv.id, "user", "draw a cat")
    job_id = _job(other, None)
    with pytest.raises(NotFound):
        conversations.attach_job(other, message.id, job_id)
    with pytest.raises(NotFound):
        conversations.attach_job(owner, 2**31 - 1, job_id)
    with session_scope() as s:
        assert s.get(Message, message.id).job_id is None


def test_another_users_job_is_not_shown(make_user, stored):
    """A message pointing at someone else's job shows neither that job's state nor its images."""
    owner, other = make_user(), make_user()
    conv = conversations.create(owner)
    message = conversations.add_message(owner, conv.id, "assistant", "On it!")
    foreign = _job(other, None)
    _images(other, None, foreign, stored)
    conversations.attach_job(owner, message.id, foreign)
    (view,) = conversations.messages(owner, conv.id)
    assert (view.job_id, view.job_status, view.images) == (None, None, [])


# ---------------------------------------------------------------- last image


def test_last_image_is_the_newest_of_this_conversation(make_user, stored):
    owner = make_user()
    conv, elsewhere = conversations.create(owner), conversations.create(owner)
    assert conversations.last_image(owner, conv.id) is None
    older_job = _job(owner, conv.id)
    older = _images(owner, conv.id, older_job, stored, n=2)
    assert conversations.last_image(owner, conv.id).id in older
    newer_job = _job(owner, conv.id)
    newer = _images(owner, conv.id, newer_job, stored, n=2)
    _images(owner, elsewhere.id, _job(owner, elsewhere.id), stored)
    last = conversations.last_image(owner, conv.id)
    assert (last.job_id, last.conversation_id) == (newer_job, conv.id) and last.id in newer
    assert conversations.last_image(owner, elsewhere.id).conversation_id == elsewhere.id


def test_a_message_with_a_nul_byte_is_stored(make_user):
    owner = make_user()
    conv = conversations.create(owner)
    conversations.add_message(owner, conv.id, "user", "a red\x00 fox")
    (view,) = conversations.messages(owner, conv.id)
    assert "\x00" not in view.content and "fox" in view.content


def test_terminal_escapes_and_controls_never_reach_titles_or_messages(make_user):
    owner = make_user()
    conv = conversations.create(owner)
    conversations.add_message(owner, conv.id, "user", "\x1b[31mred \x1b[0m fox\u202e on\r\nthe sea\x07")
    (view,) = conversations.messages(owner, conv.id)
    assert view.content == "red  fox  on\nthe sea"
    assert conversations.get(owner, conv.id).title == "red fox on the sea"


# ---------------------------------------------------------------- paging a long conversation


def _bulk_messages(owner: int, conversation_id: int, n: int, *, same_time_every: int = 3) -> list[int]:
    """n messages, oldest first; every `same_time_every` share one created_at, so the keyset's id tie-break counts."""
    from datetime import timedelta

    from sqlalchemy import insert

    from imagechat.models import utcnow

    start = utcnow() - timedelta(hours=1)
    rows = [dict(conversation_id=conversation_id, owner_id=owner, role="user" if i % 2 == 0 else "assistant",
                 content=f"message {i}", created_at=start + timedelta(seconds=i // same_time_every))
            for i in range(n)]
    with session_scope() as s:
        s.execute(insert(Message), rows)
        return list(s.exec(select(Message.id).where(Message.conversation_id == conversation_id)
                           .order_by(Message.created_at, Message.id)).all())


def test_paging_walks_back_in_order_without_gaps_or_duplicates(make_user):
    owner = make_user()
    conv = conversations.create(owner)
    ids = _bulk_messages(owner, conv.id, 97)
    page = conversations.latest(owner, conv.id)
    assert [v.id for v in page.messages] == ids[-conversations.PAGE_SIZE:] and page.has_older
    seen = [v.id for v in page.messages]
    while page.has_older:
        page = conversations.older(owner, conv.id, seen[0], limit=25)
        assert 0 < len(page.messages) <= 25
        seen = [v.id for v in page.messages] + seen
    assert seen == ids, "every message once, oldest first"
    assert [v.content for v in conversations.older(owner, conv.id, ids[3]).messages] == [
        "message 0", "message 1", "message 2"]
    assert conversations.older(owner, conv.id, ids[0]) == conversations.History(messages=[], has_older=False)


def test_a_short_conversation_fits_one_page_and_hostile_page_sizes_are_clamped(make_user):
    owner = make_user()
    conv = conversations.create(owner)
    ids = _bulk_messages(owner, conv.id, 5)
    page = conversations.latest(owner, conv.id)
    assert ([v.id for v in page.messages], page.has_older) == (ids, False)
    assert conversations.latest(owner, conversations.create(owner).id) == conversations.History([], False)
    for hostile in (0, -5, True, 1.5, "3", None):
        assert [v.id for v in conversations.latest(owner, conv.id, limit=hostile).messages] == (
            ids if type(hostile) is not int else ids[-1:])
    assert len(conversations.latest(owner, conv.id, limit=10**9).messages) == 5


def test_paging_refuses_other_users_and_foreign_cursors(make_user):
    owner, other = make_user(), make_user()
    conv, elsewhere = conversations.create(owner), conversations.create(owner)
    ids = _bulk_messages(owner, conv.id, 10)
    foreign = _bulk_messages(other, conversations.create(other).id, 3)
    mine_elsewhere = _bulk_messages(owner, elsewhere.id, 3)
    for call in (lambda: conversations.latest(other, conv.id),
                 lambda: conversations.older(other, conv.id, ids[5]),
                 lambda: conversations.through(other, conv.id, ids[5]),
                 lambda: conversations.latest(owner, 2**31 - 1)):
        with pytest.raises(NotFound):
            call()
    # A cursor or a deep-link target must be a message of this very conversation.
    for message_id in (foreign[1], mine_elsewhere[1], 2**31 - 1, -1, 0):
        with pytest.raises(NotFound):
            conversations.older(owner, conv.id, message_id)
        with pytest.raises(NotFound):
            conversations.through(owner, conv.id, message_id)


def test_through_loads_back_to_the_linked_message(make_user):
    owner = make_user()
    conv = conversations.create(owner)
    ids = _bulk_messages(owner, conv.id, 120)
    page = conversations.through(owner, conv.id, ids[30])
    assert [v.id for v in page.messages] == ids[30 - conversations.CONTEXT_BEFORE:] and page.has_older
    assert [v.id for v in conversations.through(owner, conv.id, ids[2]).messages] == ids
    assert not conversations.through(owner, conv.id, ids[2]).has_older
    newest = conversations.through(owner, conv.id, ids[-1], context=0)
    assert [v.id for v in newest.messages] == ids[-1:]
    with pytest.raises(InvalidRequest):
        conversations.through(owner, conv.id, ids[10], limit=50)
    # the next older page continues exactly before what the link showed
    before = conversations.older(owner, conv.id, page.messages[0].id, limit=100)
    assert [v.id for v in before.messages] == ids[:30 - conversations.CONTEXT_BEFORE]


def test_paging_uses_the_keyset_index(make_user):
    """The older-page query is an index range scan of ix_messages_conversation_created_id, never OFFSET."""
    from sqlalchemy import text

    from imagechat.db import get_engine

    owner = make_user()
    conv = conversations.create(owner)
    ids = _bulk_messages(owner, conv.id, 400)
    for _ in range(5):  # the same user's other conversations: the owner's index is no shortcut
        _bulk_messages(owner, conversations.create(owner).id, 200)
    with get_engine().connect() as conn:
        conn.execute(text("analyze messages"))
        at = conn.execute(text("select created_at from messages where id = :i"), {"i": ids[20]}).scalar_one()
        plan = "\n".join(r[0] for r in conn.execute(text(
            "explain select * from messages where conversation_id = :c and owner_id = :o "
            "and (created_at, id) < (:t, :i) order by created_at desc, id desc limit 41"),
            {"c": conv.id, "o": owner, "t": at, "i": ids[20]}))
    assert "ix_messages_conversation_created_id" in plan and "Offset" not in plan, plan


def test_images_show_whether_they_are_favourites_or_deleted(make_user, stored):
    from imagechat.models import utcnow

    owner = make_user()
    conv = conversations.create(owner)
    message = conversations.add_message(owner, conv.id, "assistant", "On it!")
    job_id = _job(owner, conv.id)
    conversations.attach_job(owner, message.id, job_id)
    kept, starred, gone = _images(owner, conv.id, job_id, stored, n=3)
    with session_scope() as s:
        s.get(Image, starred).favorite = True
        s.get(Image, gone).deleted_at = utcnow()
    (view,) = conversations.latest(owner, conv.id).messages
    flags = {i.id: (i.favorite, i.deleted) for i in view.images}
    assert flags == {str(kept): (False, False), str(starred): (True, False), str(gone): (False, True)}


def test_the_chat_state_helpers_follow_only_running_jobs():
    """Progress events change only the running job's numbers; a terminal one asks for the final state."""
    from imagechat.core.progress import ProgressEvent
    from imagechat.state.chat import JobLive, _live_for, apply_progress, shown_message

    view = conversations.MessageView(id=7, role="assistant", content="On it", created_at=None, job_id="j1",
                                     job_status="running", images=[conversations.ImageRef(
                                         id="i1", width=1792, height=1024, prompt="p", style=None,
                                         parent_id=None, favorite=True)])
    shown = shown_message(view)
    assert (shown.images[0].aspect, shown.images[0].favorite, shown.prompt) == ("1792 / 1024", True, "p")
    live = _live_for([shown, shown_message(conversations.MessageView(id=8, role="user", content="hi",
                                                                     created_at=None))])
    assert list(live) == ["j1"]
    assert apply_progress(live, ProgressEvent(job_id="j1", status="running", percent=41.7, stage="Sky")) is False
    assert live["j1"] == JobLive(status="running", percent=41, stage="Sky")
    assert apply_progress(live, ProgressEvent(job_id="other", status="succeeded")) is False
    assert apply_progress(live, ProgressEvent(job_id="j1", status="succeeded", percent=100)) is True
