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
from datetime import datetime

from imagechat.core import assistant, cache, conversations, jobs, library, masks, queue
from imagechat.core.assistant import OnDelta
from imagechat.core.errors import ImagechatError, InvalidRequest, NotFound
from imagechat.core.intents import ChatContext, Decision, ImageIntent, TextReply, edit_prompt, parse_message
from imagechat.core.intents.actions import make_intent
from imagechat.core.options import ComposerOptions, apply_options
from imagechat.core.providers import get_provider
from imagechat.core.request import ImageRequest
from imagechat.core.styles import STYLES
from imagechat.core.text import clean_text, message_within_limit
from imagechat.db import session_scope
from imagechat.models import Role, utcnow
from imagechat.settings import Settings, get_settings

log = logging.getLogger(__name__)

ACK = "Generating your image... this may take up to 30 seconds."
MASK_ACK = "Changing the area you painted... this may take up to 30 seconds."
MAX_INSTRUCTION_CHARS = 1000  # what to change in a painted area: a sentence, not a whole prompt
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
    from_library: bool = False  # answered with earlier images (core/cache.py): nothing runs


async def _ignore(_: str) -> None:
    return None


def check_message(text: str) -> str:
    """The message as it will be saved and understood, or InvalidRequest saying what to change."""
    return message_within_limit(text, empty="Type a message first.", noun="message")


async def respond(owner_id: int, conversation_id: int, text: str, on_delta: OnDelta = _ignore, *,
                  settings: Settings | None = None, options: ComposerOptions | None = None) -> Turn:
    """Take one turn. A chat model's words stream to `on_delta` as they come (a preview only:
    `Turn.reply` is what was saved); the parser's reply is sent to it once, whole. `options` (the composer's
    chips) fill in what the words leave unsaid (core/options.apply_options)."""
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
    parsed = parse_message(text, ctx)
    if streamed:
        # What the words say is the parser's reading when it sees the same request; a model fills in defaults.
        same = isinstance(parsed, ImageIntent) and isinstance(decision, ImageIntent) and \
            parsed.action == decision.action
        decision = apply_options(decision, options, parsed.said if same else None)
    else:
        decision = apply_options(parsed, options)
    if isinstance(parsed, ImageIntent) and parsed.fresh and isinstance(decision, ImageIntent):
        decision = replace(decision, fresh=True)  # the words asked for a new take, whoever read them
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
        what = "variations" if intent.action == "variations" else "images"
        text = f"Generating {intent.request.n} {what}... this may take up to 30 seconds."
    else:
        text = ACK
    asked = (intent.request.width, intent.request.height)
    if made is not None and made != asked:
        text += (f" It will be {made[0]}x{made[1]}, the nearest size this engine makes to the "
                 f"{asked[0]}x{asked[1]} you asked for.")
    return f"{intent.note}\n\n{text}" if intent.note else text


def act(owner_id: int, conversation_id: int, user_message_id: int, decision: Decision,
        last_image_id: uuid.UUID | None, *, mask: bytes | None = None) -> Turn:
    """Carry out a decision: save the text reply, answer from the library, or submit the job and save its
    acknowledgement. `mask` (an edit of `last_image_id`): only the area painted in it changes."""
    prefix = f"{decision.preface}\n\n" if isinstance(decision, ImageIntent) and decision.preface else ""
    if isinstance(decision, TextReply):
        reply = conversations.add_message(owner_id, conversation_id, Role.ASSISTANT, decision.message)
        return Turn(user_message_id, reply.id, reply.content)
    try:
        answered = _from_library(owner_id, conversation_id, user_message_id, decision, prefix)
        if answered is not None:
            return answered
        job_id, made = _submit(owner_id, conversation_id, decision, last_image_id, mask=mask)
    except ImagechatError as exc:
        reply = conversations.add_message(owner_id, conversation_id, Role.ASSISTANT, prefix + exc.user_message,
                                          error_code=exc.code)
        return Turn(user_message_id, reply.id, reply.content, error_code=exc.code)
    text = prefix + (MASK_ACK if mask is not None else acknowledgement(decision, made))
    if queue.workers_alive() == 0:
        text += "\n\n" + NO_WORKER
    reply = conversations.add_message(owner_id, conversation_id, Role.ASSISTANT, text, job_id=job_id)
    return Turn(user_message_id, reply.id, reply.content, job_id=job_id)


def _ago(then: datetime) -> str:
    minutes = max(0, int((utcnow() - then).total_seconds() // 60))
    if minutes < 1:
        return "moments ago"
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    hours = minutes // 60
    return f"{hours} hour{'s' if hours != 1 else ''} ago" if hours < 48 else f"{hours // 24} days ago"


def _from_library(owner_id: int, conversation_id: int, user_message_id: int, intent: ImageIntent,
                  prefix: str) -> Turn | None:
    """An identical request this user already made (core/cache.py): its images again, at no cost. The reply
    points at that job, so the chat shows its images; the ledger records the saving. None: generate."""
    if intent.action != "generate" or intent.fresh:
        return None
    provider = get_provider(intent.request.engine, model=intent.request.model)
    width, height = provider.closest_size(intent.request.width, intent.request.height)
    key = cache.request_key(replace(intent.request, width=width, height=height), provider.name, provider.model)
    hit = cache.lookup(owner_id, key)
    if hit is None:
        return None
    what = "this image" if len(hit.image_ids) == 1 else f"these {len(hit.image_ids)} images"
    saved = f" (a new generation would cost about ${hit.cost_usd:.2f})" if hit.cost_usd >= 0.005 else ""
    text = (f"{prefix}From your library: you made {what} {_ago(hit.created_at)} with the same words and settings, "
            f"so here {'it is' if len(hit.image_ids) == 1 else 'they are'} again at no cost{saved}. "
            f"Want a new take? Choose \u201cGenerate a new one anyway\u201d.")
    with session_scope() as s:  # the reply and its ledger line together, or neither
        reply = conversations.add_message_in(s, owner_id, conversation_id, Role.ASSISTANT, text, job_id=hit.job_id,
                                             from_library=True)
        cache.record_answer(s, owner_id, hit, engine=provider.name, model=provider.model)
    return Turn(user_message_id, reply.id, reply.content, from_library=True)


def generate_anyway(owner_id: int, conversation_id: int, message_id: int) -> Turn:
    """A new generation for a request the library answered: the same request as the job it showed, past the
    cache, as a new turn of the conversation."""
    views = conversations.messages(owner_id, conversation_id, message_ids=[message_id])
    if not views or not views[0].from_library or not views[0].job_id:
        raise InvalidRequest("That answer can't be generated again; ask for the image in the chat instead.")
    user = conversations.add_message(owner_id, conversation_id, Role.USER, "Generate a new one anyway")
    try:
        job_id = jobs.resubmit(owner_id, uuid.UUID(views[0].job_id))
    except ImagechatError as exc:
        reply = conversations.add_message(owner_id, conversation_id, Role.ASSISTANT, exc.user_message,
                                          error_code=exc.code)
        return Turn(user.id, reply.id, reply.content, error_code=exc.code)
    reply = conversations.add_message(owner_id, conversation_id, Role.ASSISTANT, ACK, job_id=job_id)
    return Turn(user.id, reply.id, reply.content, job_id=job_id)


def _submit(owner_id: int, conversation_id: int, intent: ImageIntent,
             last_image_id: uuid.UUID | None, *, mask: bytes | None = None) -> tuple[uuid.UUID, tuple[int, int]]:
    """Submit the intent's request at the size the engine makes nearest to the one asked for."""
    provider = get_provider(intent.request.engine, model=intent.request.model)
    width, height = provider.closest_size(intent.request.width, intent.request.height)
    source = last_image_id if intent.action == "edit" else None
    job_id = jobs.submit(owner_id, replace(intent.request, width=width, height=height),
                         conversation_id=conversation_id, source_image_id=source, mask=mask)
    return job_id, (width, height)


async def retry(owner_id: int, message_id: int, conversation_id: int) -> Turn:
    """Run a failed or refused request again: the same job parameters, or the same words."""
    views = await asyncio.to_thread(conversations.messages, owner_id, conversation_id, message_ids=[message_id])
    if not views:
        raise InvalidRequest("That message is no longer in this conversation.")
    view = views[0]
    if view.job_id:
        job_id = await asyncio.to_thread(jobs.resubmit, owner_id, uuid.UUID(view.job_id))
        await asyncio.to_thread(conversations.attach_job, owner_id, message_id, job_id)
        return Turn(view.id, view.id, view.content, job_id=job_id)
    asked = await asyncio.to_thread(conversations.user_message_before, owner_id, conversation_id, message_id)
    if asked is None:
        raise InvalidRequest("There is nothing to retry here.")
    return await respond(owner_id, conversation_id, asked)


def variations_of(owner_id: int, conversation_id: int, image_id: uuid.UUID, n: int = 3) -> Turn:
    """New takes on one image: its prompt, style and size with new seeds."""
    image = library.get_image(owner_id, image_id)
    n = min(n, get_provider().capabilities.max_n, get_settings().max_images_per_request)
    user = conversations.add_message(owner_id, conversation_id, Role.USER,
                                     f"{n} variations of \u201c{image.prompt}\u201d")
    request = ImageRequest(prompt=image.prompt, style=image.style, width=image.width, height=image.height, n=n)
    return act(owner_id, conversation_id, user.id, ImageIntent(action="variations", request=request), None)


def continue_from(owner_id: int, conversation_id: int, image_id: uuid.UUID) -> Turn:
    """"Continue from this one" on an image of a batch: the conversation's next change works on it, said as a
    turn so the chat shows which image that is."""
    image = conversations.set_focus(owner_id, conversation_id, image_id)
    user = conversations.add_message(owner_id, conversation_id, Role.USER, "Continue from this one")
    which = f" (seed {image.seed})" if image.seed is not None else ""
    number = f"image {image.index_in_job + 1} of that batch{which}"
    reply = conversations.add_message(
        owner_id, conversation_id, Role.ASSISTANT,
        f"Got it: what you ask next changes {number}. Try \u201cmake it watercolor\u201d, \u201cmake it wider\u201d "
        f"or \u201cadd a boat\u201d.")
    return Turn(user.id, reply.id, reply.content)


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


def edit_in_chat(owner_id: int, image_id: uuid.UUID, ticket: object, instruction: object) -> tuple[int, Turn]:
    """A change to the area painted on this image (the detail view's mask editor, `ticket` from core.masks), in
    its conversation: the chat shows the request and then before/after, like a restyle. The engine gets the
    image's prompt with the change and the mask; only the painted area changes."""
    instruction = clean_text(instruction) if isinstance(instruction, str) else ""
    if not instruction:
        raise InvalidRequest("Say what to change in the painted area, for example \u201cadd a boat\u201d.")
    limit = min(MAX_INSTRUCTION_CHARS, get_settings().max_prompt_chars)
    if len(instruction) > limit:
        raise InvalidRequest(f"The change is {len(instruction)} characters long; the limit is {limit}. Shorten it.")
    image = library.get_image(owner_id, image_id)  # NotFound for others' and deleted images
    mask = masks.take(owner_id, image_id, ticket)  # once, only its owner, only for this image
    conversation_id = conversation_of_image(owner_id, image_id)
    short = image.prompt if len(image.prompt) <= 120 else image.prompt[:119].rstrip() + "\u2026"
    user = conversations.add_message(owner_id, conversation_id, Role.USER,
                                     f"Change the painted area of \u201c{short}\u201d: {instruction}")
    intent = make_intent("edit", edit_prompt(image.prompt, instruction), image.style, (image.width, image.height),
                         source="last")
    return conversation_id, act(owner_id, conversation_id, user.id, intent, image_id, mask=mask)
