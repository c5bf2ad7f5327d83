"""How the composer's options combine with what a message says, and the label that shows them."""

from __future__ import annotations

import pytest

from imagechat.core.intents import ChatContext, TextReply, parse_message
from imagechat.core.options import ComposerOptions, apply_options, options_label
from tests.intent_cases import CASES, LAST

WIDE_WATERCOLOR = ComposerOptions(style="watercolor", width=1792, height=1024, quality="high", n=2,
                                  engine="offline")


def _apply(text, chosen=WIDE_WATERCOLOR, ctx=None):
    return apply_options(parse_message(text, ChatContext(**(ctx or {}))), chosen)


def test_options_fill_what_the_words_leave_unsaid():
    req = _apply("a fox in the snow").request
    assert (req.style, req.width, req.height, req.quality, req.n, req.engine) == (
        "watercolor", 1792, 1024, "high", 2, "offline")


@pytest.mark.parametrize("text,expected", [
    ("a fox in the snow, tall", ("watercolor", 1024, 1792, "high", 2)),
    ("a fox in the snow as a cartoon", ("cartoon", 1792, 1024, "high", 2)),
    ("a fox in the snow, 3 of them", ("watercolor", 1792, 1024, "high", 3)),
    ("one image of a fox in the snow", ("watercolor", 1792, 1024, "high", 1)),
    ("a fox in the snow, low quality", ("watercolor", 1792, 1024, "low", 2)),
    ("a cyberpunk city", ("neon", 1792, 1024, "high", 2)),  # a style word inside the prompt is said too
    ("sketch a lighthouse", ("sketch", 1792, 1024, "high", 2)),
])
def test_the_words_win(text, expected):
    decision = _apply(text)
    req = decision.request
    assert (req.style, req.width, req.height, req.quality, req.n) == expected
    assert "Your message asked for" in decision.note


def test_changes_of_the_last_image_keep_its_look_and_count():
    for text in ("make it more colorful", "another one", "3 variations", "make it wider"):
        plain = parse_message(text, ChatContext(**LAST)).request
        req = _apply(text, ctx=LAST).request
        assert (req.style, req.width, req.height, req.n) == (plain.style, plain.width, plain.height, plain.n), text
        assert (req.quality, req.engine) == ("high", "offline")


def test_text_replies_and_no_options_pass_through():
    reply = parse_message("hello", ChatContext())
    assert isinstance(reply, TextReply) and apply_options(reply, WIDE_WATERCOLOR) is reply
    intent = parse_message("a fox", ChatContext())
    assert apply_options(intent, None) is intent


def test_default_options_change_no_row_of_the_intent_table():
    for case in CASES:
        decision = parse_message(case.text, ChatContext(**case.ctx))
        applied = apply_options(decision, ComposerOptions())
        if isinstance(decision, TextReply):
            continue
        a, b = decision.request, applied.request
        assert (a.prompt, a.style, a.width, a.height, a.n, a.quality) == (
            b.prompt, b.style, b.width, b.height, b.n, b.quality), case.text
        assert applied.note == decision.note, case.text


def test_count_is_capped_with_a_note(monkeypatch):
    decision = _apply("a fox", ComposerOptions(n=9))
    assert decision.request.n == 4 and "at most 4" in decision.note


def test_label():
    assert options_label("watercolor", 1792, 1024, "high", "openai", "gpt-image-2") == \
        "watercolor · 1792×1024 · high · gpt-image-2"
    assert options_label(None, 1024, 1024, None, "offline", "imagechat procedural painter v1") == \
        "1024×1024 · auto · offline"
    assert options_label("sketch", 1024, 1792, "low", "offline", "x", n=3) == \
        "3 images · sketch · 1024×1792 · low · offline"


def test_the_chat_shows_the_request_label_image_labels_and_reply_examples():
    from datetime import UTC, datetime

    from imagechat.core.conversations import ImageRef, MessageView
    from imagechat.core.intents.replies import help_reply
    from imagechat.state.chat import shown_message

    now = datetime.now(UTC)
    image = ImageRef(id="7a1f4d5e-0000-4000-8000-000000000001", width=1792, height=1024, prompt="a fox",
                     style="watercolor", parent_id=None, engine="openai", model="gpt-image-2")
    job = MessageView(id=2, role="assistant", content="Generating...", created_at=now, job_id="j",
                      job_status="succeeded", images=[image, image], job_engine="openai", job_model="gpt-image-2",
                      job_params={"style": "watercolor", "width": 1792, "height": 1024, "n": 2, "quality": "high"})
    shown = shown_message(job)
    assert shown.options == "2 images · watercolor · 1792×1024 · high · gpt-image-2"
    assert [i.label for i in shown.images] == ["watercolor · 1792×1024 · high · gpt-image-2"] * 2
    assert shown.examples == []

    helped = shown_message(MessageView(id=3, role="assistant", content=help_reply().message, created_at=now))
    assert len(helped.examples) == 3 and helped.text.endswith("Try one of these:")
    assert helped.text_after.startswith("After an image") and helped.options == ""
    # A user's own words are never turned into a list.
    mine = shown_message(MessageView(id=4, role="user", content='- "a cat"\n- "a dog"', created_at=now))
    assert mine.examples == [] and mine.text == '- "a cat"\n- "a dog"'
