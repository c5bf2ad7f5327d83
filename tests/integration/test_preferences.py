"""core/preferences: the composer options a user last chose, kept on their account and checked again when read
(the server's engines and limits may have changed since); never another user's; nothing invalid written."""

from __future__ import annotations

import uuid

import pytest

from imagechat.core import preferences
from imagechat.core.errors import InvalidRequest
from imagechat.core.options import ComposerOptions, check_options
from imagechat.db import session_scope
from imagechat.models import User


def _stored(user_id: int) -> dict | None:
    with session_scope() as s:
        return s.get(User, user_id).composer_options


def _store(user_id: int, value: object) -> None:
    with session_scope() as s:
        user = s.get(User, user_id)
        user.composer_options = value
        s.add(user)


def test_options_come_back_as_they_were_chosen_and_only_to_their_owner(make_user):
    owner, other = make_user(), make_user()
    assert preferences.load_composer(owner) is None  # never chosen: the defaults
    wide = check_options(style="watercolor", width=1792, height=1024, quality="high", n=2)
    preferences.save_composer(owner, preferences.Composer(wide, "wide"))
    assert preferences.load_composer(owner) == preferences.Composer(wide, "wide")
    assert preferences.load_composer(other) is None

    custom = check_options(width=640, height=480)
    preferences.save_composer(owner, preferences.Composer(custom, "custom"))
    assert preferences.load_composer(owner) == preferences.Composer(custom, "custom")
    square = check_options(width=1024, height=1024)
    preferences.save_composer(owner, preferences.Composer(square, "custom"))  # a custom size that is a preset's
    assert preferences.load_composer(owner).aspect == "square"


def test_nothing_invalid_is_written(make_user):
    owner = make_user()
    preferences.save_composer(owner, preferences.Composer(check_options(style="sketch"), "square"))
    before = _stored(owner)
    for bad in (ComposerOptions(n=99), ComposerOptions(style="<script>"), ComposerOptions(width=9),
                ComposerOptions(engine="no-such-engine")):
        with pytest.raises(InvalidRequest):
            preferences.save_composer(owner, preferences.Composer(bad, "square"))
    assert _stored(owner) == before


@pytest.mark.parametrize(("stored", "expected"), [
    (["not", "a", "dict"], None),
    ("watercolor", None),
    ({"style": "no-such-style", "width": 1792, "height": 1024}, None),  # no longer holds: the defaults
    ({"style": "watercolor", "n": True, "width": "1792", "height": 1024.0, "quality": ["high"]},
     preferences.Composer(ComposerOptions(style="watercolor"), "square")),  # wrong types left out
    ({"style": "watercolor", "aspect": "<b>wide</b>", "width": 1792, "height": 1024},
     preferences.Composer(ComposerOptions(style="watercolor", width=1792, height=1024), "wide")),
])
def test_what_is_read_back_is_checked_again(make_user, stored, expected):
    owner = make_user()
    _store(owner, stored)
    assert preferences.load_composer(owner) == expected


def test_an_engine_that_went_away_falls_back_to_the_configured_one(make_user, private_namespace, fake):
    private_namespace(openai_api_key=f"sk-test-{uuid.uuid4().hex}", openai_base_url=fake.base_url,
                      image_engine="offline", openai_chat_model="")
    owner = make_user()
    chosen = check_options(style="neon", width=1792, height=1024, engine="openai", model="gpt-image-2")
    preferences.save_composer(owner, preferences.Composer(chosen, "wide"))
    assert preferences.load_composer(owner).options.engine == "openai"

    private_namespace(openai_api_key="", image_engine="offline")  # the key was removed from the server
    assert preferences.load_composer(owner) == preferences.Composer(
        ComposerOptions(style="neon", width=1792, height=1024), "wide")
