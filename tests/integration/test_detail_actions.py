"""The detail view's domain steps (imagechat/state/detail.py, no Reflex involved): restyle and variations go
through the chat's own path into the image's conversation, lineage and facts come out as drawn, the reused
prompt reads back through the parser, and nobody can act on another user's (or a deleted) image."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from imagechat.core import chat, conversations, gallery, organise
from imagechat.core.errors import InvalidRequest, NotFound
from imagechat.core.intents import ChatContext, parse_message
from imagechat.db import session_scope
from imagechat.models import Conversation, GenerationJob, Message
from imagechat.state import detail
from tests.support.waiting import finish


@pytest.fixture
def owner(make_user, worker):
    return make_user("detail")


def _made(owner: int, text: str, conversation_id: int | None = None) -> tuple[int, str]:
    """A real image from a chat turn on the worker: (its conversation, its id)."""
    conversation_id = conversation_id or conversations.create(owner).id
    turn = asyncio.run(chat.respond(owner, conversation_id, text))
    assert finish(turn.job_id).status == "succeeded"
    views = conversations.messages(owner, conversation_id, message_ids=[turn.assistant_message_id])
    return conversation_id, views[0].images[0].id


def _counts(owner: int) -> tuple[int, int, int]:
    with session_scope() as s:
        return tuple(s.execute(sa.select(sa.func.count()).select_from(table).where(table.owner_id == owner))
                     .scalar_one() for table in (Conversation, Message, GenerationJob))


def test_restyle_goes_through_the_chat_and_builds_the_lineage(owner):
    conv, source = _made(owner, "Create an image of a sunset over mountains with a lake reflection")
    conversation_id, turn = chat.restyle_in_chat(owner, uuid.UUID(source), "watercolor")
    assert conversation_id == conv and turn.job_id is not None
    assert finish(turn.job_id).status == "succeeded"

    views = conversations.messages(owner, conv)
    asked, answer = views[-2], views[-1]
    assert asked.role == "user" and "as watercolor" in asked.content
    assert answer.before is not None and answer.before.id == source  # the chat shows it as before/after
    restyled = answer.images[0].id
    assert answer.images[0].style == "watercolor"

    mine = gallery.detail(owner, uuid.UUID(restyled))
    cards = detail.lineage_of(mine)
    assert [(c.id, c.relation, c.number) for c in cards] == [(source, "ancestor", 1), (restyled, "self", 2)]
    assert cards[1].caption == "This image" and cards[0].label.startswith("1 · ")
    assert detail.default_pair(cards) == (source, restyled)
    facts = detail.facts_of(mine)
    assert (facts.style, facts.kind, facts.size) == ("watercolor", "Restyle", "1024x1024")
    assert facts.chat_href == f"/?c={conv}&m={answer.id}"

    # Seen from the source: the restyle is its descendant; the pair compares this image with it.
    root = detail.lineage_of(gallery.detail(owner, uuid.UUID(source)))
    assert [(c.relation, c.depth) for c in root] == [("self", 0), ("descendant", 1)]
    assert root[1].caption == "Restyle (watercolor)"
    assert detail.default_pair(root) == (source, restyled)


def test_variations_go_into_the_images_conversation_or_a_new_one(owner):
    conv, image = _made(owner, "/imagine a lighthouse on a cliff")
    conversation_id, turn = chat.variations_in_chat(owner, uuid.UUID(image))
    assert conversation_id == conv
    assert conversations.messages(owner, conv)[-1].job_id == str(turn.job_id)

    conversations.delete(owner, conv)  # the image stays; its conversation is gone
    assert gallery.detail(owner, uuid.UUID(image)).conversation_id is None
    conversation_id, turn = chat.variations_in_chat(owner, uuid.UUID(image))
    assert conversation_id != conv
    assert [v.job_id for v in conversations.messages(owner, conversation_id)][-1] == str(turn.job_id)
    assert detail.facts_of(gallery.detail(owner, uuid.UUID(image))).chat_href == ""


def test_other_users_deleted_and_unknown_images_are_refused_and_nothing_is_written(owner, make_user):
    _, image = _made(owner, "/imagine a secret red boat")
    intruder = make_user("intruder")
    before = _counts(intruder), _counts(owner)
    for image_id in (uuid.UUID(image), uuid.uuid4()):
        with pytest.raises(NotFound, match="doesn't exist, or it isn't yours"):
            chat.restyle_in_chat(intruder, image_id, "watercolor")
        with pytest.raises(NotFound, match="doesn't exist, or it isn't yours"):
            chat.variations_in_chat(intruder, image_id)
        with pytest.raises(NotFound):
            detail._load(intruder, image_id, {})
    assert (_counts(intruder), _counts(owner)) == before

    with pytest.raises(InvalidRequest, match="Unknown style"):
        chat.restyle_in_chat(owner, uuid.UUID(image), "<script>")
    assert organise.delete_images(owner, [uuid.UUID(image)]) == 1
    with pytest.raises(NotFound):
        chat.restyle_in_chat(owner, uuid.UUID(image), "cartoon")
    with pytest.raises(NotFound):
        chat.variations_in_chat(owner, uuid.UUID(image))
    assert _counts(owner) == before[1]


def test_load_gives_the_neighbours_in_the_gallerys_order(owner):
    conv, first = _made(owner, "/imagine a forest in the snow")
    _, second = _made(owner, "/imagine a city skyline at night", conv)
    _, third = _made(owner, "/imagine a forest at dawn", conv)
    assert detail._load(owner, uuid.UUID(second), {})[1] == (third, first)  # newest first: prev is newer
    assert detail._load(owner, uuid.UUID(second), {"sort": "oldest"})[1] == (first, third)
    assert detail._load(owner, uuid.UUID(third), {"q": "forest"})[1] == (None, first)


@pytest.mark.parametrize(("prompt", "style", "size"), [
    ("a sunset over mountains with a lake reflection", "watercolor", (1024, 1024)),
    ("a lighthouse on a cliff in a storm", "oil painting", (1792, 1024)),
    ("a quiet harbour", "", (1024, 1792)),
])
def test_reused_settings_read_back_through_the_parser(prompt, style, size):
    text = detail.reuse_text(prompt, style, *size)
    request = parse_message(text, ChatContext()).request
    assert (request.prompt, request.style or "", (request.width, request.height)) == (prompt, style, size)


def test_shown_values_and_the_url_script_only_take_a_uuid():
    assert detail.human_bytes(0) == "0 bytes"
    assert detail.human_bytes(158_720) == "155.0 KiB"
    assert detail.human_bytes(3 * 1024 * 1024) == "3.0 MiB"
    assert detail.money(0.0).startswith("$0.00")
    assert detail.money(0.04) == "$0.04" and detail.money(1.5) == "$1.50"
    image_id = str(uuid.uuid4())
    assert f'"image", "{image_id}"' in detail.url_script(image_id, push=True)
    for bad in ("", "x", image_id.upper(), image_id + '"); alert(1); ("', "<reflex.Var>x</reflex.Var>"):
        with pytest.raises(ValueError):
            detail.url_script(bad, push=False)
