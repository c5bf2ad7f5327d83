"""The chat-model path of a chat turn: an OpenAI chat model streams its answer and calls the image tools.

With an OpenAI key (`llm_enabled`), `take_turn_llm` sends a short system prompt, a line about the
conversation's last image and the recent history (text only) to `settings.openai_chat_model` with
the tools in `intents.IMAGE_TOOL_SCHEMA`, forwards each content piece to `on_delta` as it streams,
and turns a tool call into the same `ImageIntent` the deterministic parser makes
(`intents.intent_from_tool_call`). From there `chat._act` starts the job, so both paths produce
identical jobs. Without a key, `respond` uses the deterministic parser (`chat.take_turn`).

If the chat model fails (cannot connect, timeout, 429/5xx after the SDK's own retries, any other
API error, an unreadable stream, or tool arguments `intent_from_tool_call` refuses), this turn falls
back to the deterministic parser: the user still gets their image. Text already streamed to
`on_delta` was only a preview: `Turn.reply` is what was saved and what the UI should show.

The API key lives only inside the SDK client: log lines carry the error class, status and code,
never the server's message (it can quote part of the key) and never the key.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import openai

from imagechat.core import chat, conversations
from imagechat.core.errors import InvalidRequest
from imagechat.core.intents import IMAGE_TOOL_SCHEMA, ChatContext, ImageIntent, intent_from_tool_call, parse_message
from imagechat.core.providers.base import STYLES
from imagechat.settings import Settings, get_settings

log = logging.getLogger(__name__)

OnDelta = Callable[[str], Awaitable[None]]
HISTORY_MESSAGES = 20
HISTORY_CHARS = 2000  # per message: a long pasted text does not crowd out the rest

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


def llm_enabled(settings: Settings | None = None) -> bool:
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
        if view.role not in ("user", "assistant"):
            continue
        content = view.content[:HISTORY_CHARS]
        if view.role == "assistant" and view.images:
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


class ChatModelFailed(Exception):
    """The chat model could not answer this turn; `reason` is safe to log (no server text, no key)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _safety_id(owner_id: int) -> str:
    """A stable per-user identifier for OpenAI's abuse detection that reveals nothing about the user."""
    return hashlib.sha256(f"imagechat-user:{owner_id}".encode()).hexdigest()[:32]


def _client(settings: Settings) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=settings.openai_api_key.get_secret_value(), base_url=settings.openai_base_url,
                              timeout=settings.openai_timeout_s, max_retries=settings.openai_max_retries)


async def stream_answer(client: openai.AsyncOpenAI, model: str, messages: list[dict], on_delta: OnDelta,
                        user: str | None = None) -> ModelAnswer:
    """Stream one answer: content pieces go to `on_delta` in order; tool-call fragments are joined."""
    answer = ModelAnswer()
    calls: dict[int, _ToolCall] = {}
    extra = {"safety_identifier": user} if user else {}
    try:
        stream = await client.chat.completions.create(model=model, messages=messages, tools=IMAGE_TOOL_SCHEMA,
                                                      parallel_tool_calls=False, stream=True, **extra)
        async for chunk in stream:
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
        raise ChatModelFailed(f"{type(err).__name__} status={err.status_code} code={code}") from None
    except openai.APIError as err:  # timeouts, connection errors, an error event inside the stream
        raise ChatModelFailed(type(err).__name__) from None
    except json.JSONDecodeError as err:  # a chunk that is not JSON
        raise ChatModelFailed(f"unreadable stream ({type(err).__name__})") from None
    answer.tool_calls = [calls[i] for i in sorted(calls)]
    return answer


async def take_turn_llm(owner_id: int, conversation_id: int, text: str, on_delta: OnDelta, *,
                        settings: Settings | None = None, client: openai.AsyncOpenAI | None = None) -> chat.Turn:
    """One chat turn understood by the chat model; the deterministic parser when the model fails."""
    settings = settings or get_settings()
    text = chat.check_message(text)
    user = await asyncio.to_thread(conversations.add_message, owner_id, conversation_id, "user", text)
    ctx, last_image_id = await asyncio.to_thread(chat.context, owner_id, conversation_id)
    messages = await asyncio.to_thread(build_messages, owner_id, conversation_id, ctx, settings)

    own_client = client is None
    try:
        if own_client:
            client = _client(settings)
        answer = await stream_answer(client, settings.openai_chat_model, messages, on_delta,
                                     user=_safety_id(owner_id))
        decision = _decide(answer, ctx)
    except ChatModelFailed as failure:
        log.warning("chat model %s failed (%s); using the deterministic parser for this turn",
                    settings.openai_chat_model, failure.reason)
        return await _fallback(owner_id, conversation_id, user.id, text, ctx, last_image_id)
    finally:
        if own_client and client is not None:
            await client.close()

    if isinstance(decision, ImageIntent):
        said = answer.text.strip()
        prefix = f"{said}\n\n" if said else ""
        return await asyncio.to_thread(chat._act, owner_id, conversation_id, user.id, decision, last_image_id,
                                       prefix=prefix)
    reply = await asyncio.to_thread(conversations.add_message, owner_id, conversation_id, "assistant", answer.text)
    return chat.Turn(user.id, reply.id, reply.content)


def _decide(answer: ModelAnswer, ctx: ChatContext) -> ImageIntent | None:
    """The intent of a tool call, None for a plain answer; ChatModelFailed when it cannot be used."""
    if answer.tool_calls:
        call = answer.tool_calls[0]
        try:
            return intent_from_tool_call(call.name, call.arguments, ctx)
        except InvalidRequest as err:
            raise ChatModelFailed(f"unusable tool call {call.name[:40]!r}: {err.code}") from None
    if not answer.text.strip():
        raise ChatModelFailed(f"empty answer (finish_reason={answer.finish_reason})")
    return None


async def _fallback(owner_id: int, conversation_id: int, user_message_id: int, text: str, ctx: ChatContext,
                    last_image_id) -> chat.Turn:
    decision = parse_message(text, ctx)
    return await asyncio.to_thread(chat._act, owner_id, conversation_id, user_message_id, decision, last_image_id)


async def respond(owner_id: int, conversation_id: int, text: str, on_delta: OnDelta, *,
                  settings: Settings | None = None) -> chat.Turn:
    """The entry point for the UI: the chat model with a key, else the deterministic parser.

    Without a key the whole reply is sent to `on_delta` once, so the UI has a single code path."""
    settings = settings or get_settings()
    if llm_enabled(settings):
        return await take_turn_llm(owner_id, conversation_id, text, on_delta, settings=settings)
    turn = await asyncio.to_thread(chat.take_turn, owner_id, conversation_id, text)
    await on_delta(turn.reply)
    return turn
