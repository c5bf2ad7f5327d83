"""Curated starters and "Surprise me" (owner scoping of the user's own prompts: tests/integration/test_composer.py),
and the style chips' previews."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from imagechat.core import style_previews, suggestions
from imagechat.core.intents import ChatContext, ImageIntent, parse_message
from imagechat.core.styles import STYLES


@pytest.mark.parametrize("starter", suggestions.STARTERS)
def test_every_starter_is_a_new_picture(starter):
    decision = parse_message(starter, ChatContext())
    assert isinstance(decision, ImageIntent) and decision.action == "generate", decision
    assert decision.request.n == 1 and (decision.request.width, decision.request.height) == (1024, 1024)


def test_starters_cover_the_styles_and_are_unique():
    styled = {parse_message(s, ChatContext()).request.style for s in suggestions.STARTERS}
    assert set(STYLES) <= styled
    assert len(set(suggestions.STARTERS)) == len(suggestions.STARTERS) >= 20


def test_surprise_is_a_starter_and_never_the_same_twice_in_a_row():
    rng = random.Random(7)
    last = ""
    for _ in range(50):
        pick = suggestions.surprise(rng, avoid=last)
        assert pick in suggestions.STARTERS and pick != last
        last = pick
    assert len({suggestions.surprise(random.Random(i)) for i in range(40)}) > 10


def test_style_previews_are_small_webp_one_per_style_and_stable():
    seen = set()
    for style in STYLES:
        data, etag = style_previews.preview(style_previews.slug(style))
        image = Image.open(io.BytesIO(data))
        assert image.format == "WEBP" and image.size == (96, 96) and len(data) < 8000
        assert style_previews.preview(style_previews.slug(style)) == (data, etag)
        seen.add(etag)
    assert len(seen) == len(STYLES)  # eight different treatments of the same scene
    assert style_previews.preview("baroque") is None and style_previews.preview("../etc") is None
