"""The chat-model path of a chat turn on the real stack: PostgreSQL, Redis, the fake OpenAI chat API
over real HTTP through the official SDK, and the session's real worker where a job must finish.

The same case table as the deterministic parser (tests/intent_cases.py) drives the tool-call path:
for each row the fake model makes the tool call that row's intent needs, and the job must equal
both the row's expectation and the job the deterministic parser starts for the same text."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import uuid

import pytest
from PIL import Image as PILImage
from sqlmodel import select

from imagechat.core import assistant, chat, conversations, jobs, library, progress
from imagechat.core.intents import IMAGE_TOOL_SCHEMA, ChatContext
from imagechat.core.providers import openai_pricing as pricing
from imagechat.db import session_scope
from imagechat.models import GenerationJob, LedgerStatus, UsageEntry
from imagechat.settings import Settings
from tests.intent_cases import CASES, LAST, NO_IMAGE, IntentCase

KEY = f"sk-test-{uuid.uuid4().hex}"
SUNSET_TEXT = "Create an image of a sunset over mountains with a lake reflection"
SUNSET_PROMPT = "a sunset over mountains with a lake reflection"


pytestmark = pytest.mark.usefixtures("clean_fake")


def settings_for(fake, **overrides) -> Settings:
    values = dict(openai_api_key=KEY, openai_base_url=fake.base_url, openai_timeout_s=10.0, openai_max_retries=1)
    values.update(overrides)
    return Settings(_env_file=None, **values)


class Deltas:
    def __init__(self, on_first=None):
        self.pieces: list[str] = []
        self.on_first = on_first

    async def __call__(self, piece: str) -> None:
        if not self.pieces and self.on_first:
            self.on_first()
        self.pieces.append(piece)


def seed_image(owner: int, conv: int, prompt: str, style: str | None, width: int, height: int) -> uuid.UUID:
    """A finished job with one stored image in the conversation (as if a worker had made it)."""
    png = io.BytesIO()
    PILImage.new("RGB", (width, height), (90, 120, 200)).save(png, "PNG")
    stored = library.prepare(png.getvalue())
    with session_scope() as s:
        job = GenerationJob(owner_id=owner, conversation_id=conv, engine="offline", model="seed", prompt=prompt,
                            status="succeeded", percent=100.0, params={"style": style, "width": width,
                                                                        "height": height, "n": 1, "seed": 7})
        s.add(job)
        s.flush()
        (image_id,) = library.add_images(s, owner_id=owner, job_id=job.id, prompt=prompt, style=style,
                                         engine="offline", model="seed", conversation_id=conv, parent_image_id=None,
                                         new_images=[library.NewImage(stored, 7, None)])
        job_id = job.id
    conversations.add_message(owner, conv, "user", f"/imagine {prompt}")
    conversations.add_message(owner, conv, "assistant", chat.ACK, job_id=job_id)
    return image_id


def conversation_with(owner: int, ctx: dict) -> tuple[int, uuid.UUID | None]:
    conv = conversations.create(owner).id
    if not ctx.get("has_last_image"):
        return conv, None
    return conv, seed_image(owner, conv, ctx["last_prompt"], ctx["last_style"], ctx["last_width"],
                            ctx["last_height"])


def job_row(owner: int, job_id: uuid.UUID) -> GenerationJob:
    return jobs.get_job(owner, job_id)


NUMBER_WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten".split())}


def asked_count(case: IntentCase) -> int:
    """The count the user typed ("make ten pictures" -> 10): a model passes it on; the app caps it."""
    counts = [int(w) if w.isdigit() else NUMBER_WORDS[w] for w in re.findall(r"\w+", case.text.lower())
              if (w.isdigit() and int(w) <= 10) or w in NUMBER_WORDS]
    return max([case.n, *counts])


def tool_call_for(case: IntentCase) -> tuple[str, dict]:
    """The tool call a correct model makes for the row's expected intent."""
    size = f"{case.size[0]}x{case.size[1]}"
    quality = {"quality": case.quality} if case.quality != "auto" else {}
    if case.expect == "generate":
        return "create_image", {"prompt": case.prompt, "style": case.style, "size": size, "n": asked_count(case),
                                **quality}
    if case.expect == "variations":
        return "edit_image", {"style": case.style, "size": size, "variations": asked_count(case), **quality}
    last = case.ctx["last_prompt"]
    instruction = case.prompt[len(last):].lstrip(", ") if case.prompt.startswith(last) else case.prompt
    return "edit_image", {"instruction": instruction, "style": case.style, "size": size, **quality}


async def _final(job_id):
    async for event in progress.follow([str(job_id)]):
        if event.terminal:
            return event


def finish(job_id):
    return asyncio.wait_for(_final(job_id), 90)


IMAGE_CASES = [c for c in CASES if c.expect != "text"]


# ---------------------------------------------------------------- streaming and plain answers


async def test_streamed_text_arrives_in_pieces_in_order_and_is_saved(fake, make_user):
    owner = make_user()
    conv = conversations.create(owner).id
    answer = "I paint scenes from your words, in eight styles. Try: a lighthouse at night, watercolor."
    fake.script_chat(text=answer, delay_s=0.01)
    saved_when_streaming: list[list[str]] = []
    deltas = Deltas(on_first=lambda: saved_when_streaming.append(
        [v.role for v in conversations.messages(owner, conv)]))
    turn = await chat.respond(owner, conv, "what can you do?", deltas, settings=settings_for(fake))
    assert len(deltas.pieces) >= 3 and "".join(deltas.pieces) == answer
    assert saved_when_streaming == [["user"]]  # pieces arrive while the answer is still being written
    assert (turn.reply, turn.job_id) == (answer, None)
    views = conversations.messages(owner, conv)
    assert [(v.role, v.content) for v in views] == [("user", "what can you do?"), ("assistant", answer)]
    (req,) = fake.chat_requests()
    assert req.params["model"] == "gpt-5.4-mini" and req.params["stream"] is True
    assert req.params["tools"] == IMAGE_TOOL_SCHEMA
    assert req.params["messages"][-1] == {"role": "user", "content": "what can you do?"}


async def test_chat_model_is_configurable(fake, make_user):
    owner = make_user()
    conv = conversations.create(owner).id
    await chat.respond(owner, conv, "hello", Deltas(),
                                  settings=settings_for(fake, openai_chat_model="gpt-4.1-mini"))
    assert [r.params["model"] for r in fake.chat_requests()] == ["gpt-4.1-mini"]


# ---------------------------------------------------------------- one table, both paths


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda c: f"{c.text[:40]!r}-{'img' if c.ctx else 'none'}")
async def test_tool_call_gives_the_same_job_as_the_parser(fake, make_user, case):
    owner = make_user()
    llm_conv, llm_source = conversation_with(owner, case.ctx)
    det_conv, det_source = conversation_with(owner, case.ctx)
    fake.script_chat(text="Sure! ", tool=tool_call_for(case))

    llm = await chat.respond(owner, llm_conv, case.text, Deltas(), settings=settings_for(fake))
    det = await chat.respond(owner, det_conv, case.text)
    try:
        assert llm.job_id is not None and det.job_id is not None, (llm.reply, det.reply)
        a, b = job_row(owner, llm.job_id), job_row(owner, det.job_id)
        # the row's expectation
        assert (a.prompt, a.params["style"], (a.params["width"], a.params["height"]), a.params["n"]) == (
            case.prompt, case.style, case.size, case.n)
        expected_source = llm_source if case.expect == "edit" else None
        assert a.source_image_id == expected_source
        # exactly what the deterministic path submitted
        assert (a.kind, a.prompt, a.params, a.engine, a.model) == (b.kind, b.prompt, b.params, b.engine, b.model)
        assert b.source_image_id == (det_source if case.expect == "edit" else None)
        assert llm.reply == "Sure!\n\n" + det.reply
    finally:
        for turn in (llm, det):
            if turn.job_id:
                jobs.cancel(owner, turn.job_id)  # the table needs the jobs, not the pictures
    assert fake.chat_script_left() == 0


async def test_context_sent_to_the_model_describes_the_last_image(fake, make_user):
    owner = make_user()
    conv = conversations.create(owner).id
    image_id = seed_image(owner, conv, "a fox in the snow", "watercolor", 1792, 1024)
    fake.script_chat(text="Here you go.", tool=("edit_image", {"instruction": "more colorful"}))
    turn = await chat.respond(owner, conv, "make it more colorful", Deltas(),
                                         settings=settings_for(fake))
    job = job_row(owner, turn.job_id)
    jobs.cancel(owner, turn.job_id)
    assert (job.prompt, job.params["style"], job.params["width"], job.source_image_id) == (
        "a fox in the snow, more colorful", "watercolor", 1792, image_id)
    messages = fake.chat_requests()[0].params["messages"]
    system = messages[0]
    assert system["role"] == "system" and "create_image" in system["content"] and "edit_image" in system["content"]
    assert 'prompt "a fox in the snow", style watercolor, size 1792x1024' in system["content"]
    assert [m["role"] for m in messages[1:]] == ["user", "assistant", "user"]
    assert "a fox in the snow" in messages[2]["content"]  # the image's metadata, as text
    assert all(isinstance(m["content"], str) for m in messages)  # text only: no image parts, no bytes
    assert sum(len(m["content"]) for m in messages) < 6000


async def test_history_is_the_last_twenty_messages(fake, make_user):
    owner = make_user()
    conv = conversations.create(owner).id
    for i in range(15):
        conversations.add_message(owner, conv, "user", f"question {i}")
        conversations.add_message(owner, conv, "assistant", f"answer {i}")
    await chat.respond(owner, conv, "latest", Deltas(), settings=settings_for(fake))
    messages = fake.chat_requests()[0].params["messages"]
    assert len(messages) == 1 + assistant.HISTORY_MESSAGES
    assert [m["content"] for m in messages[1:3]] == ["answer 5", "question 6"]
    assert messages[-1]["content"] == "latest"
    assert "no image in this conversation yet" in messages[0]["content"]


async def test_make_it_wider_edits_the_last_real_image(fake, make_user, worker):
    owner = make_user()
    conv = conversations.create(owner).id
    settings = settings_for(fake)
    fake.script_chat(text="Drawing it now. ", tool=("create_image", {"prompt": "a lighthouse on a cliff"}))
    first = await chat.respond(owner, conv, "draw a lighthouse on a cliff", Deltas(), settings=settings)
    assert (await finish(first.job_id)).status == "succeeded"
    (before,) = conversations.messages(owner, conv)[1].images

    fake.script_chat(text="Making it wider.", tool=("edit_image", {"size": "1792x1024"}))
    wide = await chat.respond(owner, conv, "make it wider", Deltas(), settings=settings)
    assert (await finish(wide.job_id)).status == "succeeded"
    job = job_row(owner, wide.job_id)
    assert str(job.source_image_id) == before.id and job.prompt == "a lighthouse on a cliff"
    (after,) = conversations.messages(owner, conv)[3].images
    assert (after.width, after.height, after.parent_id) == (1792, 1024, before.id)
    assert (before.width, before.height) == (1024, 1024)

    second_request = fake.chat_requests()[1].params["messages"]
    assert 'prompt "a lighthouse on a cliff", style none, size 1024x1024' in second_request[0]["content"]
    assert second_request[-1] == {"role": "user", "content": "make it wider"}
    assert second_request[2]["content"].startswith("Drawing it now.\n\n")


# ---------------------------------------------------------------- failures fall back to the parser

FAILURES = {
    "500-after-retries": dict(fault="500", times=2),
    "429-after-retries": dict(fault="429:retry_after_ms=5", times=2),
    "malformed-tool-arguments": dict(text="Sure! ", tool=("create_image", '{"prompt": "a sunset over mount')),
    "unknown-style-in-tool-call": dict(tool=("create_image", {"prompt": "a sunset", "style": "baroque"})),
    "malformed-stream": dict(fault="malformed"),
    "connection-dropped-mid-stream": dict(text="Sure thing, one moment please", fault="drop:3"),
    "empty-answer": dict(text="", finish_reason="length"),
}


@pytest.mark.parametrize("name", list(FAILURES))
async def test_chat_model_failures_fall_back_to_the_parser(fake, make_user, caplog, name):
    owner = make_user()
    conv = conversations.create(owner).id
    fake.script_chat(**FAILURES[name])
    caplog.set_level(logging.DEBUG)
    turn = await chat.respond(owner, conv, SUNSET_TEXT, Deltas(), settings=settings_for(fake))
    assert turn.job_id is not None, turn.reply
    job = job_row(owner, turn.job_id)
    jobs.cancel(owner, turn.job_id)
    assert (job.prompt, job.params["style"], job.params["width"], job.params["height"]) == (
        SUNSET_PROMPT, None, 1024, 1024)
    assert turn.reply.startswith(chat.ACK)
    assert fake.chat_script_left() == 0  # every scripted answer was asked for (retries included)
    warnings = [r for r in caplog.records if r.name == "imagechat.core.chat" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "deterministic parser" in warnings[0].getMessage()
    assert KEY not in caplog.text and KEY not in turn.reply
    assert [v.role for v in conversations.messages(owner, conv)] == ["user", "assistant"]


async def test_timeout_falls_back(fake, make_user):
    owner = make_user()
    conv = conversations.create(owner).id
    fake.script_chat(fault="hang:30")
    turn = await chat.respond(owner, conv, SUNSET_TEXT, Deltas(),
                                         settings=settings_for(fake, openai_timeout_s=0.5, openai_max_retries=0))
    job = job_row(owner, turn.job_id)
    jobs.cancel(owner, turn.job_id)
    assert job.prompt == SUNSET_PROMPT and len(fake.chat_requests()) == 1


async def test_wrong_key_falls_back_and_the_key_appears_nowhere(fake, make_user, caplog):
    owner = make_user()
    conv = conversations.create(owner).id
    fake.api_keys = {"sk-the-right-one"}
    caplog.set_level(logging.DEBUG)
    turn = await chat.respond(owner, conv, "hello", Deltas(), settings=settings_for(fake))
    assert turn.job_id is None and "/imagine" in turn.reply  # the parser's help text
    assert [r.status for r in fake.chat_requests()] == [401]  # 401 is not retried
    assert "AuthenticationError status=401 code=invalid_api_key" in caplog.text
    for text in (caplog.text, turn.reply, *[v.content for v in conversations.messages(owner, conv)]):
        assert KEY not in text and KEY[-4:] not in text


async def test_edit_tool_without_an_image_gets_the_parsers_reply(fake, make_user):
    owner = make_user()
    conv = conversations.create(owner).id
    fake.script_chat(tool=("edit_image", {"size": "1792x1024"}))
    turn = await chat.respond(owner, conv, "make it wider", Deltas(), settings=settings_for(fake))
    assert turn.job_id is None
    assert "no image" in turn.reply.lower()


async def test_partial_text_then_failure_saves_only_the_parsers_reply(fake, make_user):
    owner = make_user()
    conv = conversations.create(owner).id
    fake.script_chat(text="Let me think about that for a moment", fault="drop:4")
    deltas = Deltas()
    turn = await chat.respond(owner, conv, SUNSET_TEXT, deltas,
                                         settings=settings_for(fake, openai_max_retries=0))
    jobs.cancel(owner, turn.job_id)
    assert deltas.pieces  # the preview that was streamed before the connection broke
    assert "".join(deltas.pieces) not in turn.reply
    assert conversations.messages(owner, conv)[-1].content == turn.reply


# ---------------------------------------------------------------- switching paths


def test_llm_enabled_needs_a_key():
    assert assistant.enabled(Settings(_env_file=None, openai_api_key="sk-abc")) is True
    assert assistant.enabled(Settings(_env_file=None, openai_api_key=None)) is False
    assert assistant.enabled(Settings(_env_file=None, openai_api_key="   ")) is False


async def test_respond_without_a_key_uses_the_parser(fake, make_user):
    owner = make_user()
    conv = conversations.create(owner).id
    deltas = Deltas()
    turn = await chat.respond(owner, conv, SUNSET_TEXT, deltas,
                                   settings=Settings(_env_file=None, openai_api_key=None))
    job = job_row(owner, turn.job_id)
    jobs.cancel(owner, turn.job_id)
    assert job.prompt == SUNSET_PROMPT and deltas.pieces == [turn.reply]
    assert fake.chat_requests() == []


async def test_respond_with_a_key_uses_the_chat_model(fake, make_user):
    owner = make_user()
    conv = conversations.create(owner).id
    fake.script_chat(text="Hello! What should I draw?")
    deltas = Deltas()
    turn = await chat.respond(owner, conv, "hi", deltas, settings=settings_for(fake))
    assert turn.reply == "Hello! What should I draw?" and len(deltas.pieces) >= 3
    assert len(fake.chat_requests()) == 1


def test_describe_last_image_quotes_the_prompt():
    ctx = ChatContext(last_prompt='a "quoted" cat', last_style=None, last_width=1024, last_height=1792,
                      has_last_image=True)
    assert assistant.describe_last_image(ctx) == (
        'The last image in this conversation: prompt "a \\"quoted\\" cat", style none, size 1024x1792.')
    assert json.loads('"a \\"quoted\\" cat"') == 'a "quoted" cat'
    assert "no image" in assistant.describe_last_image(ChatContext(**NO_IMAGE))
    assert "sunset" in assistant.describe_last_image(ChatContext(**LAST))


# ---------------------------------------------------------------- spending


def _chat_ledger(owner: int) -> list[UsageEntry]:
    with session_scope() as s:
        return list(s.exec(select(UsageEntry).where(UsageEntry.owner_id == owner,
                                                   UsageEntry.engine == assistant.CHAT_ENGINE)).all())


async def test_chat_model_answers_are_charged_from_their_token_usage(fake, make_user):
    owner = make_user()
    conv = conversations.create(owner).id
    fake.script_chat(text="Hello! What should I draw?")
    await chat.respond(owner, conv, "hi", Deltas(), settings=settings_for(fake))
    [entry] = _chat_ledger(owner)
    usage = entry.usage
    assert entry.status == LedgerStatus.CHARGED and usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert entry.amount_usd == pytest.approx(pricing.chat_cost(entry.model, usage)) and entry.amount_usd > 0
    request = fake.chat_requests()[-1].params
    assert request["stream_options"] == {"include_usage": True}
    assert request["max_completion_tokens"] == assistant.MAX_OUTPUT_TOKENS


async def test_a_refused_call_is_released_and_a_failed_stream_is_charged(fake, make_user):
    owner = make_user()
    conv = conversations.create(owner).id
    fake.api_keys = {"sk-the-right-one"}  # 401: the API charged nothing
    await chat.respond(owner, conv, "hello", Deltas(), settings=settings_for(fake))
    fake.api_keys = None
    fake.script_chat(text="Let me think about that for a moment", fault="drop:4")  # cut mid-answer: maybe billed
    turn = await chat.respond(owner, conv, SUNSET_TEXT, Deltas(), settings=settings_for(fake, openai_max_retries=0))
    jobs.cancel(owner, turn.job_id)
    refused, dropped = sorted(_chat_ledger(owner), key=lambda e: e.id)
    assert refused.status == LedgerStatus.RELEASED
    assert dropped.status == LedgerStatus.CHARGED and dropped.usage["billed"] == "unknown" and dropped.amount_usd > 0


async def test_no_budget_left_means_the_parser_answers_and_the_model_is_not_called(fake, make_user, monkeypatch):
    from imagechat.settings import get_settings

    owner = make_user()
    conv = conversations.create(owner).id
    monkeypatch.setenv("USER_DAILY_BUDGET_USD", "0.000001")
    get_settings.cache_clear()
    try:
        turn = await chat.respond(owner, conv, SUNSET_TEXT, Deltas(), settings=settings_for(fake))
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    jobs.cancel(owner, turn.job_id)
    assert fake.chat_requests() == [] and turn.job_id is not None  # the offline engine costs nothing
    assert _chat_ledger(owner) == []
