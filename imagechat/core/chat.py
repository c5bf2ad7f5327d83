"""One chat turn: save the user's words, decide what they ask for, then reply or start an image job.

`respond` is the single entry point for a turn. The decision comes from the chat model when one is
configured (core/assistant.py) and from the deterministic parser otherwise (core/intents); both
return the same `Decision` (an ImageIntent or a TextReply), and `act` carries it out the same way.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, replace

from imagechat.core import assistant, conversations, jobs, library, queue
from imagechat.core.assistant import OnDelta
from imagechat.core.errors import ImagechatError, InvalidRequest, NotFound
from imagechat.core.intents import ChatContext, Decision, ImageIntent, TextReply, parse_message
from imagechat.core.intents.actions import make_intent
from imagechat.core.providers import get_provider
from imagechat.core.request import ImageRequest
from imagechat.core.styles import STYLES
from imagechat.core.text import clean_message
from imagechat.models import Role
from imagechat.settings import Settings, get_settings

log = logging.getLogger(__name__)

ACK = "Generating your image... this may take up to 30 seconds."
NO_WORKER = ("No image worker is running right now, so your request is waiting in the queue. "
             "Start one with `make run` (or `python -m workers`) and it will begin.")


@dataclass
class Turn:
    """What one user message produced: both saved messages and the job, if any."""

    user_message_id: int
    assistant_message_id: int
    reply: str
    job_id: uuid.UUID | None = None
    error_code: str | None = None


async def _ignore(_: str) -> None:
    return None


def check_message(text: str) -> str:
    """The message as it will be saved and understood, or InvalidRequest saying what to change."""
    text = clean_message(text) if isinstance(text, str) else ""
    if not text:
        raise InvalidRequest("Type a message first.")
    limit = get_settings().max_prompt_chars
    if len(text) > limit:
        raise InvalidRequest(f"Your message is {len(text)} characters long; the limit is {limit}. Shorten it.")
    return text


async def respond(owner_id: int, conversation_id: int, text: str, on_delta: OnDelta = _ignore, *,
                  settings: Settings | None = None) -> Turn:
    """Take one turn. A chat model's words stream to `on_delta` as they come (a preview only:
    `Turn.reply` is what was saved); the parser's reply is sent to it once, whole."""
    settings = settings or get_settings()
    text = check_message(text)
    user = await asyncio.to_thread(conversations.add_message, owner_id, conversation_id, Role.USER, text)
    ctx, last_image_id = await asyncio.to_thread(context, owner_id, conversation_id)
    decision = None
    if assistant.enabled(settings):
        try:
            decision = await assistant.decide(owner_id, conversation_id, ctx, on_delta, settings=settings)
        except assistant.ChatModelFailed as failure:
            log.warning("chat model %s failed (%s); using the deterministic parser for this turn",
                        settings.openai_chat_model, failure.reason, extra={"user_id": owner_id})
    streamed = decision is not None
    decision = decision or parse_message(text, ctx)
    turn = await asyncio.to_thread(act, owner_id, conversation_id, user.id, decision, last_image_id)
    if not streamed:
        await on_delta(turn.reply)
    return turn


def context(owner_id: int, conversation_id: int) -> tuple[ChatContext, uuid.UUID | None]:
    last = conversations.last_image(owner_id, conversation_id)
    if last is None:
        return ChatContext(), None
    return ChatContext(last_prompt=last.prompt, last_style=last.style, last_width=last.width,
                       last_height=last.height, has_last_image=True), last.id


def acknowledgement(intent: ImageIntent, made: tuple[int, int] | None = None) -> str:
    """What the chat says while the job runs; `made` is the size the engine will make, when it differs."""
    if intent.action == "edit":
        text = f"Reworking your last image ({intent.request.style or 'new version'})... this may take up to 30 seconds."
    elif intent.request.n > 1:
        text = f"Generating {intent.request.n} variations... this may take up to 30 seconds."
    else:
        text = ACK
    asked = (intent.request.width, intent.request.height)
    if made is not None and made != asked:
        text += (f" It will be {made[0]}x{made[1]}, the nearest size this engine makes to the "
                 f"{asked[0]}x{asked[1]} you asked for.")
    return f"{intent.note}\n\n{text}" if intent.note else text


def act(owner_id: int, conversation_id: int, user_message_id: int, decision: Decision,
        last_image_id: uuid.UUID | None) -> Turn:
    """Carry out a decision: save the text reply, or submit the job and save its acknowledgement."""
    prefix = f"{decision.preface}\n\n" if isinstance(decision, ImageIntent) and decision.preface else ""
    if isinstance(decision, TextReply):
        reply = conversations.add_message(owner_id, conversation_id, Role.ASSISTANT, decision.message)
        return Turn(user_message_id, reply.id, reply.content)
    try:
        job_id, made = _submit(owner_id, conversation_id, decision, last_image_id)
    except ImagechatError as exc:
        reply = conversations.add_message(owner_id, conversation_id, Role.ASSISTANT, prefix + exc.user_message,
                                          error_code=exc.code)
        return Turn(user_message_id, reply.id, reply.content, error_code=exc.code)
    text = prefix + acknowledgement(decision, made)
    if queue.workers_alive() == 0:
        text += "\n\n" + NO_WORKER
    reply = conversations.add_message(owner_id, conversation_id, Role.ASSISTANT, text, job_id=job_id)
    return Turn(user_message_id, reply.id, reply.content, job_id=job_id)


def _submit(owner_id: int, conversation_id: int, intent: ImageIntent,
             last_image_id: uuid.UUID | None) -> tuple[uuid.UUID, tuple[int, int]]:
    """Submit the intent's request at the size the engine makes nearest to the one asked for."""
    width, height = get_provider().closest_size(intent.request.width, intent.request.height)
    source = last_image_id if intent.action == "edit" else None
    job_id = jobs.submit(owner_id, replace(intent.request, width=width, height=height),
                         conversation_id=conversation_id, source_image_id=source)
    return job_id, (width, height)


async def retry(owner_id: int, message_id: int, conversation_id: int) -> Turn:
    """Run a failed or refused request again: the same job parameters, or the same words."""
    views = await asyncio.to_thread(conversations.messages, owner_id, conversation_id)
    index = next((i for i, v in enumerate(views) if v.id == message_id), None)
    if index is None:
        raise InvalidRequest("That message is no longer in this conversation.")
    view = views[index]
    if view.job_id:
        job_id = await asyncio.to_thread(jobs.resubmit, owner_id, uuid.UUID(view.job_id))
        await asyncio.to_thread(conversations.attach_job, owner_id, message_id, job_id)
        return Turn(view.id, view.id, view.content, job_id=job_id)
    asked = next((v for v in reversed(views[:index]) if v.role == Role.USER), None)
    if asked is None:
        raise InvalidRequest("There is nothing to retry here.")
    return await respond(owner_id, conversation_id, asked.content)


def variations_of(owner_id: int, conversation_id: int, image_id: uuid.UUID, n: int = 3) -> Turn:
    """New takes on one image: its prompt, style and size with new seeds."""
    image = library.get_image(owner_id, image_id)
    n = min(n, get_provider().capabilities.max_n, get_settings().max_images_per_request)
    user = conversations.add_message(owner_id, conversation_id, Role.USER,
                                     f"{n} variations of \u201c{image.prompt}\u201d")
    request = ImageRequest(prompt=image.prompt, style=image.style, width=image.width, height=image.height, n=n)
    return act(owner_id, conversation_id, user.id, ImageIntent(action="variations", request=request), None)


def conversation_of_image(owner_id: int, image_id: uuid.UUID) -> int:
    """The image's own conversation, or a new one for an image made outside the chat (or whose chat is gone)."""
    image = library.get_image(owner_id, image_id)  # NotFound for others' and deleted images
    if image.conversation_id:
        try:
            return conversations.get(owner_id, image.conversation_id).id
        except NotFound:
            pass
    return conversations.create(owner_id).id


def variations_in_chat(owner_id: int, image_id: uuid.UUID) -> tuple[int, Turn]:
    """Three new takes on the image, asked for in its conversation (the detail view's Variations)."""
    conversation_id = conversation_of_image(owner_id, image_id)
    return conversation_id, variations_of(owner_id, conversation_id, image_id)


def restyle_in_chat(owner_id: int, image_id: uuid.UUID, style: str) -> tuple[int, Turn]:
    """The chat's own restyle ("make it watercolor") of this image, in its conversation: the chat shows it as
    before/after and the new image's parent is this one."""
    if style not in STYLES:
        raise InvalidRequest(f"Unknown style. Choose one of: {', '.join(STYLES)}.")
    image = library.get_image(owner_id, image_id)
    conversation_id = conversation_of_image(owner_id, image_id)
    short = image.prompt if len(image.prompt) <= 120 else image.prompt[:119].rstrip() + "\u2026"
    user = conversations.add_message(owner_id, conversation_id, Role.USER, f"Restyle \u201c{short}\u201d as {style}")
    intent = make_intent("edit", image.prompt, style, (image.width, image.height), source="last")
    return conversation_id, act(owner_id, conversation_id, user.id, intent, image_id)
