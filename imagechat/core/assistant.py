"""The chat model's side of a turn: it streams its answer and may call the image tools.

With an OpenAI key (`enabled`), `decide` sends a short system prompt, a line about the
conversation's last image and the recent history (text only) to `settings.openai_chat_model` with
the tools in `intents.IMAGE_TOOL_SCHEMA`, forwards each content piece to `on_delta` as it streams,
and turns a tool call into the same `ImageIntent` the deterministic parser makes
(`intents.intent_from_tool_call`), or a plain answer into a `TextReply`. core/chat.py carries the
decision out; when this module raises ChatModelFailed (cannot connect, timeout, 429/5xx after the
SDK's own retries, any other API error, an unreadable stream, tool arguments that do not validate)
chat.py uses the parser for that turn instead, so the user still gets their image.

The API key lives only inside the SDK client: log lines carry the error class, status and code,
never the server's message (it can quote part of the key) and never the key.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

import openai
from sqlmodel import select

from imagechat.core import conversations, limits
from imagechat.core.errors import ImagechatError, InvalidRequest
from imagechat.core.intents import IMAGE_TOOL_SCHEMA, ChatContext, Decision, TextReply, intent_from_tool_call
from imagechat.core.providers import openai_pricing as pricing
from imagechat.core.providers.openai_client import make_client
from imagechat.core.styles import STYLES
from imagechat.db import session_scope
from imagechat.models import Role, UsageEntry
from imagechat.settings import Settings, get_settings

log = logging.getLogger(__name__)

OnDelta = Callable[[str], Awaitable[None]]  # receives the reply's text as it streams
HISTORY_MESSAGES = 20
HISTORY_CHARS = 2000  # per message: a long pasted text does not crowd out the rest
MAX_OUTPUT_TOKENS = 1000  # a short answer or one tool call; bounds the cost reserved per call
CHAT_ENGINE = "openai-chat"  # how the ledger names chat-model spending

SYSTEM_PROMPT = """\
You are the assistant of imagechat, an app that makes images from descriptions. You cannot see images; \
the app draws them and shows them in the chat.
- When the user asks for a new picture (draw, create, generate, paint, imagine, show me, or just a \
description of a scene), call create_image. `prompt` is the scene in the user's words, without request \
phrasing ("create an image of") and without style or size words; put those in `style` and `size`. \
`n` is how many images they asked for (at most {max_n}).
- "another one", "again", "one more": call create_image with the last image's prompt, style and size.
- When the user asks to change the last image ("make it wider", "more colorful", "as a watercolor", \
"add a boat", "remove the clouds"), call edit_image. "wider"/"landscape" = size 1792x1024, \
"taller"/"portrait" = 1024x1792, "square" = 1024x1024; omit size to keep it. `instruction` holds only \
what changes besides style and size ("more colorful", "add a boat"), empty otherwise.
- "3 variations", "give me two versions": call edit_image with `variations` set to the number.
- Styles: {styles}. Use one only when the user names it or a clear synonym.
- Call at most one tool. Before a tool call you may write one short sentence; never claim the image \
is finished. Without a last image, do not call edit_image: ask what to create.
- For questions and small talk, answer in at most three short sentences and suggest an example request.
{last_image}"""


def enabled(settings: Settings | None = None) -> bool:
    """True when an OpenAI key is configured: the chat model understands requests."""
    settings = settings or get_settings()
    key = settings.openai_api_key
    return bool(key is not None and key.get_secret_value().strip() and settings.openai_chat_model.strip())


def describe_last_image(ctx: ChatContext) -> str:
    if not ctx.has_last_image:
        return "There is no image in this conversation yet."
    prompt = json.dumps((ctx.last_prompt or "")[:1000])
    style = ctx.last_style or "none"
    return (f"The last image in this conversation: prompt {prompt}, style {style}, "
            f"size {ctx.last_width}x{ctx.last_height}.")


def system_prompt(ctx: ChatContext, settings: Settings) -> str:
    return SYSTEM_PROMPT.format(max_n=settings.max_images_per_request, styles=", ".join(STYLES),
                                last_image=describe_last_image(ctx))


def history(owner_id: int, conversation_id: int, limit: int = HISTORY_MESSAGES) -> list[dict]:
    """The last `limit` user/assistant messages as chat messages: text only, never image bytes."""
    out = []
    for view in conversations.messages(owner_id, conversation_id, limit=limit):
        if view.role not in (Role.USER, Role.ASSISTANT):
            continue
        content = view.content[:HISTORY_CHARS]
        if view.role == Role.ASSISTANT and view.images:
            first = view.images[0]
            made = f"{len(view.images)} image{'s' if len(view.images) > 1 else ''}"
            content += (f"\n[The app made {made}: prompt {json.dumps(first.prompt[:500])}, "
                        f"style {first.style or 'none'}, size {first.width}x{first.height}]")
        if content.strip():
            out.append({"role": view.role, "content": content})
    return out


def build_messages(owner_id: int, conversation_id: int, ctx: ChatContext, settings: Settings) -> list[dict]:
    return [{"role": "system", "content": system_prompt(ctx, settings)}, *history(owner_id, conversation_id)]


@dataclass
class _ToolCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class ModelAnswer:
    text: str = ""
    tool_calls: list[_ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict | None = None  # the last chunk's token counts (stream_options.include_usage)


class ChatModelFailed(Exception):
    """The chat model could not answer this turn; `reason` is safe to log (no server text, no key).
    `billed` is False only when the API cannot have charged for the call (refused or never reached)."""

    def __init__(self, reason: str, *, billed: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.billed = billed


def _safety_id(owner_id: int) -> str:
    """A stable per-user identifier for OpenAI's abuse detection that reveals nothing about the user."""
    return hashlib.sha256(f"imagechat-user:{owner_id}".encode()).hexdigest()[:32]


_cached: tuple[Settings, openai.AsyncOpenAI] | None = None


def _client(settings: Settings) -> openai.AsyncOpenAI:
    """One client per process and settings: its connection pool is reused across turns."""
    global _cached
    if _cached is None or _cached[0] is not settings:
        _cached = (settings, make_client(settings))
    return _cached[1]


async def stream_answer(client: openai.AsyncOpenAI, model: str, messages: list[dict], on_delta: OnDelta,
                        user: str | None = None, tools: list[dict] | None = IMAGE_TOOL_SCHEMA) -> ModelAnswer:
    """Stream one answer: content pieces go to `on_delta` in order; tool-call fragments are joined.
    `tools` None: a plain text answer (prompt enhancement)."""
    answer = ModelAnswer()
    calls: dict[int, _ToolCall] = {}
    extra = {"safety_identifier": user} if user else {}
    if tools:
        extra.update(tools=tools, parallel_tool_calls=False)
    received = False  # a stream cut after its first chunk was billed
    try:
        stream = await client.chat.completions.create(
            model=model, messages=messages, stream=True, stream_options={"include_usage": True},
            max_completion_tokens=MAX_OUTPUT_TOKENS, **extra)
        async for chunk in stream:
            received = True
            if chunk.usage is not None:
                answer.usage = chunk.usage.model_dump()
            for choice in chunk.choices:
                if choice.index != 0:
                    continue
                delta = choice.delta
                if delta.content:
                    answer.text += delta.content
                    await on_delta(delta.content)
                for part in delta.tool_calls or []:
                    call = calls.setdefault(part.index, _ToolCall())
                    call.id = part.id or call.id
                    if part.function is not None:
                        call.name += part.function.name or ""
                        call.arguments += part.function.arguments or ""
                if choice.finish_reason:
                    answer.finish_reason = choice.finish_reason
    except openai.APIStatusError as err:
        code = err.body.get("code") if isinstance(err.body, dict) else None
        raise ChatModelFailed(f"{type(err).__name__} status={err.status_code} code={code}",
                              billed=err.status_code >= 500) from None
    except openai.APIConnectionError as err:  # never reached the API, cut mid-answer, or timed out (maybe billed)
        raise ChatModelFailed(type(err).__name__, billed=received or isinstance(err, openai.APITimeoutError)) from None
    except openai.APIError as err:  # an error event inside the stream
        raise ChatModelFailed(type(err).__name__) from None
    except json.JSONDecodeError as err:  # a chunk that is not JSON
        raise ChatModelFailed(f"unreadable stream ({type(err).__name__})") from None
    answer.tool_calls = [calls[i] for i in sorted(calls)]
    return answer


async def decide(owner_id: int, conversation_id: int, ctx: ChatContext, on_delta: OnDelta, *,
                 settings: Settings | None = None, client: openai.AsyncOpenAI | None = None) -> Decision:
    """The chat model's decision for the turn whose user message is already saved."""
    settings = settings or get_settings()
    messages = await asyncio.to_thread(build_messages, owner_id, conversation_id, ctx, settings)
    answer = await _metered(owner_id, settings, messages, lambda: stream_answer(
        client or _client(settings), settings.openai_chat_model, messages, on_delta, user=_safety_id(owner_id)))
    if answer.tool_calls:
        call = answer.tool_calls[0]
        try:
            intent = intent_from_tool_call(call.name, call.arguments, ctx)
        except InvalidRequest as err:
            raise ChatModelFailed(f"unusable tool call {call.name[:40]!r}: {err.code}") from None
        return replace(intent, preface=answer.text.strip())
    if not answer.text.strip():
        raise ChatModelFailed(f"empty answer (finish_reason={answer.finish_reason})")
    return TextReply(answer.text)


ENHANCE_PROMPT = """\
You improve prompts for an image generator. Rewrite the user's prompt so it paints a clearer picture: add \
concrete composition, lighting, lens or camera, and style detail. Keep its subject and everything it asks \
for; keep any words about style, shape, size, count or quality exactly as written (for example "in \
watercolor", "wide", "3 of them", "high quality"); do not add another art style, other main subjects, people \
or text. Answer with the rewritten prompt only, one line, at most 80 words."""


async def rewrite_prompt(owner_id: int, text: str, *, settings: Settings | None = None,
                         client: openai.AsyncOpenAI | None = None) -> str:
    """The chat model's richer version of an image prompt (core/enhance.py checks it), metered and budgeted like
    every chat-model call. Raises ChatModelFailed."""
    settings = settings or get_settings()
    messages = [{"role": "system", "content": ENHANCE_PROMPT}, {"role": "user", "content": text}]

    async def ignore(_: str) -> None:
        return None

    answer = await _metered(owner_id, settings, messages, lambda: stream_answer(
        client or _client(settings), settings.openai_chat_model, messages, ignore, user=_safety_id(owner_id),
        tools=None), what="prompt enhancement")
    out = answer.text.strip().strip("\"“”").strip()
    if not out:
        raise ChatModelFailed(f"empty answer (finish_reason={answer.finish_reason})")
    return out


async def _metered(owner_id: int, settings: Settings, messages: list[dict],
                   call: Callable[[], Awaitable[ModelAnswer]], what: str = "answer") -> ModelAnswer:
    """Run one chat-model call inside the user's limits: its own rate limit, at most
    `chat_max_in_flight_per_user` at once, and a reservation on the same budgets as images, settled
    with the real token cost (the reservation itself when the cost cannot be known). Any refusal
    raises ChatModelFailed, so the turn falls back to the free deterministic parser."""
    model = settings.openai_chat_model
    estimate = pricing.chat_upper_bound(model, len(json.dumps(messages)), MAX_OUTPUT_TOKENS)
    try:
        await asyncio.to_thread(limits.check_rate_limit, owner_id, "chat")
        entry = await asyncio.to_thread(_reserve, owner_id, model, estimate, what)
    except ImagechatError as refused:
        raise ChatModelFailed(f"not allowed now: {refused.code}", billed=False) from None
    cost: float | None = None  # None: unknown, charge the reservation
    usage: dict = {}
    billed = True
    try:
        with limits.in_flight_slot(owner_id, "chat", settings.chat_max_in_flight_per_user):
            answer = await call()
        usage = answer.usage or {}
        cost = pricing.chat_cost(model, usage) if usage else None
        return answer
    except ImagechatError as refused:  # too many answers on the way already
        billed = False
        raise ChatModelFailed(f"not allowed now: {refused.code}", billed=False) from None
    except ChatModelFailed as failure:
        billed = failure.billed
        raise
    finally:
        await asyncio.to_thread(_settle, entry.id, cost if billed else 0.0, usage)


def _reserve(owner_id: int, model: str, estimate: float, what: str = "answer") -> UsageEntry:
    with session_scope() as s:
        return limits.reserve(s, owner_id=owner_id, job_id=None, amount_usd=estimate, engine=CHAT_ENGINE,
                              model=model, what=what)


def _settle(entry_id: int, cost: float | None, usage: dict) -> None:
    with session_scope() as s:
        entry = s.exec(select(UsageEntry).where(UsageEntry.id == entry_id).with_for_update()).one()
        if cost is None:
            limits.charge_entry(s, entry, why="the chat model call ended without a token count")
        elif cost == 0.0 and not usage:
            limits.release_entry(s, entry)  # refused or never reached: nothing was billed
        else:
            limits.settle_entry(s, entry, cost_usd=cost, usage=usage)


async def close() -> None:
    """Close the process's chat-model client (its HTTP connection pool)."""
    global _cached
    cached, _cached = _cached, None
    if cached is not None:
        await cached[1].close()
