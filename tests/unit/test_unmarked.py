"""User text echoed in a notification never carries the UI's template markers (core.text.unmarked)."""

import pytest

from imagechat.core.errors import InvalidRequest
from imagechat.core.text import unmarked


@pytest.mark.parametrize("raw", [
    "<reflex.Var>1</reflex.Var>alert(1)",
    "<reflex.<reflex.Var>Var>1</reflex.Var>",
    "< REFLEX.var >0< / reflex.Var >",
    "a<reflex.Var><reflex.Var>b",
])
def test_markers_are_removed_even_when_nested(raw):
    assert "reflex.var" not in unmarked(raw).lower()


def test_ordinary_text_is_untouched():
    text = "Album “<b>Lisbon</b> & co” created. 1 < 2 > 0"
    assert unmarked(text) == text


def test_error_messages_are_unmarked_at_the_source():
    assert InvalidRequest("You already have an album named “<reflex.Var>1</reflex.Var>”.").user_message == \
        "You already have an album named “1”."
