"""One chat turn: save the user's message, understand it, answer or start an image job.

The same request object (intents.ImageIntent) comes from the deterministic parser or, with an
OpenAI key, from the chat model's tool call; from there one path submits the job.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from imagechat.core import conversations, jobs, queue
from imagechat.core.errors import ImagechatError, InvalidRequest
from imagechat.core.intents import ChatContext, ImageIntent, TextReply, parse_message
from imagechat.core.providers import get_provider
from imagechat.settings import get_settings

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


def check_message(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidRequest("Type a message first.")
    limit = get_settings().max_prompt_chars
    if len(text) > limit:
        raise InvalidRequest(f"Your message is {len(text)} characters long; the limit is {limit}. Shorten it.")
    return text


def context(owner_id: int, conversation_id: int) -> tuple[ChatContext, uuid.UUID | None]:
    last = conversations.last_image(owner_id, conversation_id)
    if last is None:
        return ChatContext(), None
    return ChatContext(last_prompt=last.prompt, last_style=last.style, last_width=last.width,
                       last_height=last.height, has_last_image=True), last.id


def closest_size(sizes: tuple[tuple[int, int], ...], width: int, height: int) -> tuple[int, int]:
    """The engine's size nearest in shape (then in area) to the one asked for."""
    if (width, height) in sizes:
        return width, height
    want = width / height
    return min(sizes, key=lambda s: (abs(s[0] / s[1] - want), abs(s[0] * s[1] - width * height)))


def acknowledgement(intent: ImageIntent) -> str:
    if intent.action == "edit":
        text = f"Reworking your last image ({intent.style or 'new version'})... this may take up to 30 seconds."
    elif intent.n > 1:
        text = f"Generating {intent.n} variations... this may take up to 30 seconds."
    else:
        text = ACK
    return f"{intent.note}\n\n{text}" if intent.note else text


def start_job(owner_id: int, conversation_id: int, intent: ImageIntent,
              last_image_id: uuid.UUID | None) -> uuid.UUID:
    provider = get_provider()
    width, height = closest_size(provider.capabilities.sizes, intent.width, intent.height)
    source = last_image_id if intent.action == "edit" else None
    return jobs.submit(jobs.JobRequest(owner_id=owner_id, prompt=intent.prompt, style=intent.style, width=width,
                                       height=height, n=intent.n, conversation_id=conversation_id,
                                       source_image_id=source))


def take_turn(owner_id: int, conversation_id: int, text: str) -> Turn:
    """The deterministic path (no chat model): parse, then reply or start a job."""
    text = check_message(text)
    user = conversations.add_message(owner_id, conversation_id, "user", text)
    ctx, last_image_id = context(owner_id, conversation_id)
    decision = parse_message(text, ctx)
    return _act(owner_id, conversation_id, user.id, decision, last_image_id)


def _act(owner_id: int, conversation_id: int, user_message_id: int, decision: ImageIntent | TextReply,
         last_image_id: uuid.UUID | None, *, prefix: str = "") -> Turn:
    if isinstance(decision, TextReply):
        reply = conversations.add_message(owner_id, conversation_id, "assistant", prefix + decision.message)
        return Turn(user_message_id, reply.id, reply.content)
    try:
        job_id = start_job(owner_id, conversation_id, decision, last_image_id)
    except ImagechatError as exc:
        reply = conversations.add_message(owner_id, conversation_id, "assistant", prefix + exc.user_message,
                                          error_code=exc.code)
        return Turn(user_message_id, reply.id, reply.content, error_code=exc.code)
    text = prefix + acknowledgement(decision)
    if queue.workers_alive() == 0:
        text += "\n\n" + NO_WORKER
    reply = conversations.add_message(owner_id, conversation_id, "assistant", text, job_id=job_id)
    return Turn(user_message_id, reply.id, reply.content, job_id=job_id)


def retry(owner_id: int, message_id: int, conversation_id: int) -> Turn:
    """Run a failed or refused request again: the same job parameters, or the same words."""
    views = conversations.messages(owner_id, conversation_id)
    index = next((i for i, v in enumerate(views) if v.id == message_id), None)
    if index is None:
        raise InvalidRequest("That message is no longer in this conversation.")
    view = views[index]
    if view.job_id:
        job_id = jobs.resubmit(owner_id, uuid.UUID(view.job_id))
        conversations.attach_job(owner_id, message_id, job_id)
        return Turn(view.id, view.id, view.content, job_id=job_id)
    asked = next((v for v in reversed(views[:index]) if v.role == "user"), None)
    if asked is None:
        raise InvalidRequest("There is nothing to retry here.")
    return take_turn(owner_id, conversation_id, asked.content)


def variations_of(owner_id: int, conversation_id: int, image_id: uuid.UUID, n: int = 3) -> Turn:
    """New takes on one image: its prompt, style and size with new seeds."""
    from imagechat.core import library

    image = library.get_image(owner_id, image_id)
    n = min(n, get_provider().capabilities.max_n, get_settings().max_images_per_request)
    user = conversations.add_message(owner_id, conversation_id, "user", f"{n} variations of \u201c{image.prompt}\u201d")
    intent = ImageIntent(action="variations", prompt=image.prompt, style=image.style, width=image.width,
                         height=image.height, n=n)
    return _act(owner_id, conversation_id, user.id, intent, None)
