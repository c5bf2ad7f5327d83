"""The offline prompt enhancer over the intent table: deterministic, never changes the subject, and the parser
reads the same request from what it writes."""

from __future__ import annotations

import re

import pytest

from imagechat.core import enhance
from imagechat.core.enhance import (
    COMPOSITION,
    HAS,
    LENS_PAINTED,
    LENS_PHOTO,
    LIGHTING,
    STYLE_DETAIL,
    details,
    enhance_offline,
    keeps_request,
)
from imagechat.core.errors import InvalidRequest
from imagechat.core.intents import ChatContext, ImageIntent, parse_message
from imagechat.core.intents.vocabulary import INLINE_STYLE, ORIENT, SYNONYMS
from imagechat.core.painter import scene as painter_scene
from imagechat.settings import get_settings
from tests.intent_cases import CASES

# What the enhancer is asked about: every row's text, read as a new message (Enhance runs before sending).
NEW_PICTURES = sorted({c.text for c in CASES
                       if isinstance(parse_message(c.text, ChatContext()), ImageIntent)
                       and parse_message(c.text, ChatContext()).action == "generate"})
NOT_PICTURES = sorted({c.text for c in CASES if c.text not in NEW_PICTURES})


def test_the_table_gives_both_kinds_of_draft():
    assert len(NEW_PICTURES) >= 30 and len(NOT_PICTURES) >= 8


@pytest.mark.parametrize("text", NEW_PICTURES)
def test_subject_and_request_are_kept(text):
    before = parse_message(text, ChatContext()).request
    result = enhance_offline(text)
    assert result.after != text and result.before == text and result.source == enhance.OFFLINE
    # The draft's words all stay, in order: the details only go in between.
    words = re.findall(r"\S+", text.rstrip("?!."))
    assert re.search(r".*".join(re.escape(w.rstrip(",")) for w in words), result.after, re.S)
    after = parse_message(result.after, ChatContext())
    assert isinstance(after, ImageIntent) and after.action == "generate"
    got = after.request
    assert got.prompt.startswith(before.prompt), (got.prompt, before.prompt)  # the same subject, then details
    assert (got.style, got.width, got.height, got.n, got.quality) == (
        before.style, before.width, before.height, before.n, before.quality)
    assert len(got.prompt) > len(before.prompt) + 40
    assert keeps_request(text, result.after)


@pytest.mark.parametrize("text", NEW_PICTURES)
def test_deterministic_and_idempotent(text):
    first = enhance_offline(text)
    assert enhance_offline(text) == first  # same input, same output
    again = enhance_offline(first.after)
    assert again.after == first.after and again.note == enhance.ALREADY_DETAILED


def test_different_subjects_get_different_details():
    picks = {tuple(details(f"a {thing} on a hill", None)) for thing in
             ("fox", "castle", "windmill", "tent", "statue", "bicycle", "horse", "tower")}
    assert len(picks) >= 4


def test_each_kind_of_detail_is_added_once_and_named_by_its_marker():
    kinds = {"composition": COMPOSITION, "lens": LENS_PHOTO + LENS_PAINTED,
             "lighting": tuple(p for _, options in LIGHTING for p in options),
             "style": tuple(p for options in STYLE_DETAIL.values() for p in options)}
    for kind, phrases in kinds.items():
        for phrase in phrases:
            assert HAS[kind].search(phrase), (kind, phrase)  # so a second Enhance adds nothing of that kind
    assert details("a fox, 85mm lens, soft light", None)[-1] in STYLE_DETAIL[None]
    assert len(details("a fox, 85mm lens, soft light", None)) == 2  # composition and style only


def _painter_words() -> dict[str, set[str]]:
    tables = {"time": painter_scene._TIME_WORDS, "weather": painter_scene._WEATHER_WORDS,
              "terrain": painter_scene._TERRAIN_WORDS, "water": painter_scene._WATER_WORDS,
              "subject": painter_scene._SUBJECT_WORDS, "colour": painter_scene._COLOUR_WORDS,
              "style": painter_scene._STYLE_WORDS}
    return {kind: set(table) for kind, table in tables.items()}


def _found(phrase: str, words: set[str]) -> set[str]:
    return {w for w in words if re.search(r"(?<![\w&])" + re.escape(w) + r"(?![\w&])", phrase.lower())}


def test_vocabulary_adds_nothing_the_painter_or_the_parser_would_draw_differently():
    painter = _painter_words()
    neutral = [*COMPOSITION, *LENS_PHOTO, *LENS_PAINTED, *LIGHTING[-1][1], *STYLE_DETAIL[None]]
    for phrase in neutral:
        for kind, words in painter.items():
            assert not _found(phrase, words), (phrase, kind, _found(phrase, words))
    # Lighting for a time or weather may only name that time or weather.
    for pattern, options in LIGHTING[:-1]:
        for phrase in options:
            for kind in ("terrain", "water", "subject", "colour", "style"):
                assert not _found(phrase, painter[kind]), (phrase, kind)
            for kind in ("time", "weather"):
                for word in _found(phrase, painter[kind]):
                    assert pattern.search(word), (phrase, word)
    # Style detail names no other style, for the parser or the painter.
    for style, options in STYLE_DETAIL.items():
        for phrase in options:
            for kind in ("terrain", "water", "subject", "time", "weather"):
                assert not _found(phrase, painter[kind]), (phrase, kind)
            for word in _found(phrase, painter["style"]):
                assert painter_scene._STYLE_WORDS[word] == style, (phrase, word)
            if style is None:
                assert not INLINE_STYLE.search(phrase)
                assert not any(_found(phrase, {w}) for w in SYNONYMS if len(w) > 3), phrase
    for phrase in neutral:
        assert not _found(phrase, set(ORIENT)), phrase


@pytest.mark.parametrize("text", NOT_PICTURES)
def test_drafts_that_are_not_a_new_picture_are_refused_with_a_reason(text):
    with pytest.raises(InvalidRequest) as err:
        enhance_offline(text)
    assert "Enhance" in err.value.user_message or "Type a prompt" in err.value.user_message


def test_long_drafts_get_what_fits():
    limit = get_settings().max_prompt_chars
    text = "a castle on a hill " + "with towers " * ((limit - 60) // 12)
    result = enhance_offline(text)
    assert len(result.after) <= limit
    assert result.after.startswith(text.strip())


@pytest.mark.parametrize("before,after,ok", [
    ("a fox in the snow, wide", "A red fox in fresh snow at golden hour, low angle, 85mm lens, wide", True),
    ("a fox in the snow, wide", "A red fox in fresh snow at golden hour, low angle, 85mm lens", False),  # size lost
    ("a fox in the snow", "A wolf in the snow, 85mm lens", False),  # subject changed
    ("a fox in the snow, in watercolor", "A fox in the snow, soft washes, in watercolor", True),
    ("a fox in the snow, in watercolor", "A fox in the snow as an oil painting", False),  # style changed
    ("sunset beach", "A sunset beach with gentle waves, 35mm lens", True),  # not a picture yet: words kept
    ("a fox", "", False),
])
def test_keeps_request(before, after, ok):
    assert keeps_request(before, after) is ok
