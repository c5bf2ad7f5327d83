"""Chat turns on the real stack: messages persisted, intents understood, jobs started and finished."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from imagechat.core import chat, conversations
from imagechat.core.errors import InvalidRequest, NotFound
from tests.support.waiting import finish


def _say(owner: int, conversation_id: int, text: str) -> chat.Turn:
    return asyncio.run(chat.respond(owner, conversation_id, text))


@pytest.fixture
def owner(make_user, worker):
    return make_user()


def test_sunset_then_watercolor_gives_before_and_after(owner):
    conv = conversations.create(owner)
    first = _say(owner, conv.id, "Create an image of a sunset over mountains with a lake reflection")
    assert first.reply == chat.ACK and first.job_id is not None
    assert finish(first.job_id).status == "succeeded"

    second = _say(owner, conv.id, "Make it more artistic, like a watercolor painting")
    assert second.job_id is not None and "watercolor" in second.reply
    assert finish(second.job_id).status == "succeeded"

    views = conversations.messages(owner, conv.id)
    assert [v.role for v in views] == ["user", "assistant", "user", "assistant"]
    before, after = views[1].images[0], views[3].images[0]
    assert views[3].before.id == before.id and after.parent_id == before.id
    assert (before.style, after.style) == (None, "watercolor")
    assert before.prompt == "a sunset over mountains with a lake reflection"
    assert after.prompt == before.prompt + ", more artistic"
    assert conversations.get(owner, conv.id).title.startswith("Create an image of a sunset")


def test_variations_and_size_changes_follow_the_last_image(owner):
    conv = conversations.create(owner)
    finish(_say(owner, conv.id, "/imagine a lighthouse on a cliff").job_id)
    turn = _say(owner, conv.id, "give me 3 variations")
    assert turn.reply.startswith("Generating 3 variations")
    assert finish(turn.job_id).status == "succeeded"
    wide = _say(owner, conv.id, "make it wider")
    assert finish(wide.job_id).status == "succeeded"
    views = conversations.messages(owner, conv.id)
    assert len(views[3].images) == 3
    assert {i.prompt for i in views[3].images} == {"a lighthouse on a cliff"}
    assert (views[5].images[0].width, views[5].images[0].height) == (1792, 1024)


def test_small_talk_and_edits_without_an_image_get_helpful_replies(owner):
    conv = conversations.create(owner)
    hello = _say(owner, conv.id, "hello")
    assert hello.job_id is None and "/imagine" in hello.reply
    edit = _say(owner, conv.id, "make it more like a watercolor painting")
    assert edit.job_id is None
    assert len(conversations.messages(owner, conv.id)) == 4


@pytest.mark.parametrize("text,message", [("", "Type a message first"), ("   \n ", "Type a message first"),
                                          ("x" * 4001, "the limit is 4000")])
def test_empty_or_overlong_messages_are_refused_and_not_saved(owner, text, message):
    conv = conversations.create(owner)
    with pytest.raises(InvalidRequest) as err:
        _say(owner, conv.id, text)
    assert message in err.value.user_message
    assert conversations.messages(owner, conv.id) == []


def test_conversations_are_private(owner, make_user):
    other = make_user()
    conv = conversations.create(owner, "Holiday ideas")
    for call in (lambda: conversations.messages(other, conv.id),
                 lambda: conversations.rename(other, conv.id, "mine now"),
                 lambda: conversations.delete(other, conv.id),
                 lambda: conversations.add_message(other, conv.id, "user", "hi"),
                 lambda: _say(other, conv.id, "draw a cat")):
        with pytest.raises(NotFound):
            call()
    assert [c.title for c in conversations.list_for(other)] == []
    assert conversations.get(owner, conv.id).title == "Holiday ideas"


def test_rename_and_delete_keep_images(owner):
    conv = conversations.create(owner)
    turn = _say(owner, conv.id, "draw a red boat on a lake")
    image_id = finish(turn.job_id).image_ids[0]
    assert conversations.rename(owner, conv.id, "  Boats\x00 ").title == "Boats"
    with pytest.raises(InvalidRequest):
        conversations.rename(owner, conv.id, "   ")
    conversations.delete(owner, conv.id)
    assert conv.id not in [c.id for c in conversations.list_for(owner)]
    from imagechat.core import library

    assert str(library.get_image(owner, uuid.UUID(image_id)).id) == image_id


def test_failures_become_chat_messages_and_retry_works(owner, monkeypatch):
    from imagechat.settings import get_settings

    conv = conversations.create(owner)
    monkeypatch.setenv("RATE_LIMIT", "1/minute")
    get_settings.cache_clear()
    try:
        _say(owner, conv.id, "draw a cat")
        refused = _say(owner, conv.id, "draw a dog")
        assert refused.job_id is None and refused.error_code == "rate_limited"
        saved = conversations.messages(owner, conv.id)[-1]
        assert (saved.id, saved.error_code) == (refused.assistant_message_id, "rate_limited")  # Retry survives reloads
        assert "Try again in" in refused.reply
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    retried = asyncio.run(chat.retry(owner, refused.assistant_message_id, conv.id))
    assert retried.job_id is not None and finish(retried.job_id).status == "succeeded"
    assert conversations.messages(owner, conv.id)[-1].images[0].prompt == "a dog"


def test_retry_finds_the_request_however_far_back_it_is(owner):
    from imagechat.models import Role

    conv = conversations.create(owner)
    conversations.add_message(owner, conv.id, Role.USER, "draw a red kite")
    refused = conversations.add_message(owner, conv.id, Role.ASSISTANT, "Busy; try again.", error_code="busy")
    for k in range(260):  # more than any page of the conversation
        conversations.add_message(owner, conv.id, Role.USER if k % 2 else Role.ASSISTANT, f"chat {k}")
    retried = asyncio.run(chat.retry(owner, refused.id, conv.id))
    assert retried.job_id is not None and finish(retried.job_id).status == "succeeded"
    assert conversations.messages(owner, conv.id)[-1].images[0].prompt == "a red kite"
    other = conversations.create(owner)
    with pytest.raises(InvalidRequest):  # a message of another conversation is not found here
        asyncio.run(chat.retry(owner, refused.id, other.id))


def test_no_worker_running_is_said_in_the_reply(make_user, private_namespace):
    owner = make_user()
    private_namespace()  # a queue nobody consumes
    conv = conversations.create(owner)
    turn = _say(owner, conv.id, "draw a cat")
    assert turn.job_id is not None and chat.NO_WORKER in turn.reply


def test_continue_from_one_image_of_a_batch(owner, make_user):
    conv = conversations.create(owner)
    batch = _say(owner, conv.id, "draw 3 images of a lighthouse on a cliff")
    assert finish(batch.job_id).status == "succeeded"
    images = conversations.messages(owner, conv.id)[-1].images
    assert len(images) == 3 and len({i.seed for i in images}) == 3 and all(i.seed is not None for i in images)
    chosen = images[1]
    turn = chat.continue_from(owner, conv.id, uuid.UUID(chosen.id))
    assert f"image 2 of that batch (seed {chosen.seed})" in turn.reply
    change = _say(owner, conv.id, "make it watercolor")
    assert finish(change.job_id).status == "succeeded"
    assert conversations.messages(owner, conv.id)[-1].before.id == chosen.id  # the chosen one, not the newest
    again = _say(owner, conv.id, "make it wider")  # after a new image, changes follow the newest again
    finish(again.job_id)
    assert conversations.messages(owner, conv.id)[-1].before.parent_id == chosen.id
    stranger = make_user()
    with pytest.raises(NotFound):
        chat.continue_from(stranger, conv.id, uuid.UUID(chosen.id))
    with pytest.raises(NotFound):
        chat.continue_from(owner, conversations.create(owner).id, uuid.UUID(chosen.id))  # not in that one
