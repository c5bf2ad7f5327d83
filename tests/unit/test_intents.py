"""The deterministic chat parser against the shared case table, plus invariants and the tool path."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from imagechat.core.errors import InvalidRequest
from imagechat.core.intents import (
    IMAGE_TOOL_SCHEMA,
    ChatContext,
    ImageIntent,
    TextReply,
    edit_prompt,
    intent_from_tool_call,
    normalize_style,
    parse_message,
)
from imagechat.core.styles import STYLES
from imagechat.settings import get_settings
from tests.intent_cases import CASES, LAST, NO_IMAGE

MAX_N = get_settings().max_images_per_request


def test_table_is_big_enough_and_covers_every_action():
    assert len(CASES) >= 40
    assert {c.expect for c in CASES} == {"generate", "edit", "variations", "text"}


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.text[:40]!r}-{'img' if c.ctx else 'none'}")
def test_case_table(case):
    result = parse_message(case.text, ChatContext(**case.ctx))
    if case.expect == "text":
        assert isinstance(result, TextReply), result
        assert result.message
        return
    assert isinstance(result, ImageIntent), result
    req = result.request
    got = (result.action, req.prompt, req.style, (req.width, req.height), req.n, req.quality)
    assert got == (case.expect, case.prompt, case.style, case.size, case.n, case.quality)
    for word in case.keywords:
        assert word.lower() in req.prompt.lower()
    assert result.source == ("last" if case.expect in ("edit", "variations") else None)


def test_capped_count_says_so():
    result = parse_message("give me 9 variations", ChatContext(**LAST))
    assert result.request.n == MAX_N and str(MAX_N) in result.note and "9" in result.note
    assert parse_message("3 variations", ChatContext(**LAST)).note is None


def test_help_reply_lists_examples_and_styles():
    reply = parse_message("what can you do?", ChatContext())
    assert "Create an image of" in reply.message and "watercolor" in reply.message


def test_no_image_reply_differs_from_help():
    no_image = parse_message("make it wider", ChatContext())
    assert "no image" in no_image.message.lower()
    assert no_image != parse_message("hello", ChatContext())


def test_out_of_range_size_is_refused_with_a_reason():
    reply = parse_message("make it 99999x5", ChatContext(**LAST))
    assert isinstance(reply, TextReply) and "between" in reply.message


def test_overlong_prompt_is_refused_not_truncated():
    limit = get_settings().max_prompt_chars
    reply = parse_message("draw " + "a cat " * (limit // 5), ChatContext())
    assert isinstance(reply, TextReply) and str(limit) in reply.message


@pytest.mark.parametrize("words,style", [
    ("watercolour", "watercolor"), ("a pencil drawing", "sketch"), ("8-bit", "pixel art"),
    ("more cartoony", "cartoon"), ("Oil Painting", "oil painting"), ("anime", "cartoon"),
    ("photo", "photorealistic"), ("cyberpunk", "neon"), ("abstract art", "abstract"), ("a boat", None),
    ("", None),
])
def test_normalize_style(words, style):
    assert normalize_style(words) == style


def test_every_style_maps_to_itself():
    assert all(normalize_style(s) == s for s in STYLES)


@pytest.mark.parametrize("previous,instruction,expected", [
    ("a sunset over mountains", "make it more colorful", "a sunset over mountains, more colorful"),
    ("a sunset over mountains", "add a boat", "a sunset over mountains, with a boat"),
    ("a sunset over mountains", "please remove the clouds", "a sunset over mountains, without the clouds"),
    ("a sunset over mountains", "", "a sunset over mountains"),
    ("a sunset, more colorful", "more colorful", "a sunset, more colorful"),
    ("", "a red barn", "a red barn"),
])
def test_edit_prompt(previous, instruction, expected):
    assert edit_prompt(previous, instruction) == expected


def test_edit_prompt_stays_within_limit_and_keeps_instruction():
    limit = get_settings().max_prompt_chars
    out = edit_prompt("x" * limit, "more colorful")
    assert len(out) <= limit and out.endswith("more colorful")


# ---- the LLM path produces the same object


def test_tool_schema_shape():
    names = [t["function"]["name"] for t in IMAGE_TOOL_SCHEMA]
    assert names == ["create_image", "edit_image"]
    create = IMAGE_TOOL_SCHEMA[0]["function"]["parameters"]
    assert create["required"] == ["prompt"]
    assert set(create["properties"]["style"]["enum"]) == {*STYLES, None}
    json.dumps(IMAGE_TOOL_SCHEMA)  # must be sendable as-is


def test_create_tool_call_matches_parser():
    ctx = ChatContext()
    via_tool = intent_from_tool_call("create_image", json.dumps(
        {"prompt": "a lighthouse on a cliff at night", "style": "watercolor"}), ctx)
    via_text = parse_message("/imagine a lighthouse on a cliff at night, watercolor", ctx)
    assert via_tool == via_text


def test_edit_tool_call_matches_parser():
    ctx = ChatContext(**LAST)
    via_tool = intent_from_tool_call("edit_image", {"instruction": "more artistic", "style": "watercolour"}, ctx)
    assert via_tool == parse_message("Make it more artistic, like a watercolor painting", ctx)
    wider = intent_from_tool_call("edit_image", {"size": "1792x1024"}, ctx)
    assert wider == parse_message("make it wider", ctx)


def test_variations_tool_call_caps_n():
    result = intent_from_tool_call("edit_image", {"variations": 9}, ChatContext(**LAST))
    assert (result.action, result.request.n, result.source) == ("variations", MAX_N, "last") and result.note


@pytest.mark.parametrize("name,args,ctx", [
    ("create_image", {}, NO_IMAGE),
    ("create_image", {"prompt": "   "}, NO_IMAGE),
    ("create_image", {"prompt": "a cat", "style": "baroque"}, NO_IMAGE),
    ("create_image", {"prompt": "a cat", "size": "huge"}, NO_IMAGE),
    ("create_image", {"prompt": "a cat", "size": "10x10"}, NO_IMAGE),
    ("create_image", {"prompt": "a cat", "n": 0}, NO_IMAGE),
    ("create_image", {"prompt": "a cat", "n": "3"}, NO_IMAGE),
    ("create_image", {"prompt": "a cat", "n": 1.5}, NO_IMAGE),
    ("create_image", "{not json", NO_IMAGE),
    ("create_image", {"prompt": "x" * 5000}, NO_IMAGE),
    ("edit_image", {"style": "cartoon"}, NO_IMAGE),
    ("delete_everything", {"prompt": "a cat"}, LAST),
])
def test_bad_tool_calls_are_invalid_requests(name, args, ctx):
    with pytest.raises(InvalidRequest) as err:
        intent_from_tool_call(name, args, ChatContext(**ctx))
    assert err.value.user_message


# ---- properties

contexts = st.builds(
    ChatContext,
    last_prompt=st.one_of(st.none(), st.text(max_size=200)),
    last_style=st.one_of(st.none(), st.sampled_from(STYLES)),
    last_width=st.sampled_from([1024, 1792]),
    last_height=st.sampled_from([1024, 1792]),
    has_last_image=st.booleans(),
)
phrases = st.sampled_from(["make it ", "draw ", "create an image of ", "3 variations", "wider", "as a ",
                           "in the style of ", "another one", "/imagine ", "a ", "watercolor", ", ", " and ",
                           "1792x1024", "please ", "?"])
texts = st.one_of(st.text(max_size=300), st.lists(st.one_of(phrases, st.text(max_size=20)), max_size=8).map("".join))


def _check(result):
    settings = get_settings()
    assert isinstance(result, (ImageIntent, TextReply))
    if isinstance(result, ImageIntent):
        req = result.request
        assert req.prompt.strip() and len(req.prompt) <= settings.max_prompt_chars
        assert 1 <= req.n <= settings.max_images_per_request
        assert result.action in ("generate", "edit", "variations")
        assert req.style is None or req.style in STYLES
        assert 256 <= req.width <= 4096 and 256 <= req.height <= 4096
        assert (result.source == "last") == (result.action != "generate")
        assert result.preface == ""
    else:
        assert result.message


@hyp_settings(max_examples=400, deadline=None)
@given(texts, contexts)
def test_never_raises_and_intents_are_valid(text, ctx):
    _check(parse_message(text, ctx))


@hyp_settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=200).filter(str.strip), contexts)
def test_edits_without_an_image_never_produce_an_edit(text, ctx):
    ctx.has_last_image = False
    result = parse_message(text, ctx)
    assert not (isinstance(result, ImageIntent) and result.action != "generate")


def test_help_examples_are_a_list_the_chat_can_offer():
    from imagechat.core.intents.replies import example_list
    from imagechat.core.intents.vocabulary import EXAMPLES

    reply = parse_message("what can you do?", ChatContext()).message
    before, examples, after = example_list(reply)
    assert examples == [e.strip('"') for e in EXAMPLES]
    assert before.endswith("Try one of these:") and after.startswith("After an image") and "Styles:" in after
    assert all(f'- {e}\n' in reply for e in EXAMPLES)  # one Markdown list item a line, not bullets run together
    # Replies saved before the list format keep working; replies without examples come back whole.
    old = 'I turn descriptions into images. Try:\n• "draw a cat"\n• "/imagine a boat"\nAfter an image...'
    assert example_list(old) == ("I turn descriptions into images. Try:", ["draw a cat", "/imagine a boat"],
                                 "After an image...")
    assert example_list("Sure, here it is.") == ("Sure, here it is.", [], "")
