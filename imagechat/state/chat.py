"""Chat UI state: conversations, messages and live job progress.

It holds ids, text, URLs and progress numbers only; image bytes are served by imagechat/api. Every
call goes through the domain (imagechat/core) with the signed-in user's id, in a thread so the event
loop never waits on the database.

Every public method here is an endpoint any websocket client can call with any arguments: each one
checks the session and the shape of its arguments first, and does nothing for anything else. Live
progress comes from one watcher per tab (`watch_jobs`) that follows all of the tab's running jobs
through the process's shared subscription to the progress bus, and ends when they end or the tab goes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import reflex as rx

from imagechat.core import admission, chat, conversations, jobs, progress
from imagechat.core.errors import ImagechatError
from imagechat.models import ACTIVE, JobStatus, Role
from imagechat.settings import get_settings
from imagechat.state import tabs
from imagechat.state.session import SessionState
from imagechat.state.views import ChatMessage, ConversationItem, apply_event, as_id, as_text, as_uuid, chat_message

log = logging.getLogger(__name__)

EXAMPLE_PROMPTS = (
    "Create an image of a sunset over mountains with a lake reflection",
    "A lighthouse on a cliff in a storm, watercolor",
    "A city skyline at night with neon lights",
)
STREAM_FLUSH_S = 0.05
WATCH_POLL_S = 1.0  # how often an idle watcher looks at the tab's jobs and connection
WATCH_MAX_FAILURES = 20  # consecutive failed steps before a watcher gives up (a reload starts a new one)
REPLY_STALE_S = 300.0  # a reply in flight for this long is gone: the tab may send again
TITLE_CHARS = 200


def _draft_limit() -> int:
    return get_settings().max_prompt_chars * 2  # room to see the "too long" message, never megabytes of state


class ChatState(SessionState):
    conversations: list[ConversationItem] = []
    current_id: int = 0
    messages: list[ChatMessage] = []
    draft: str = ""
    notice: str = ""  # a refusal of the input itself (empty, too long): shown above the composer
    drawer_open: bool = False
    renaming_id: int = 0
    _pending: tuple[str, int] | None = None  # the turn `send` accepted, for `reply_to`
    _replying_since: float = 0.0

    # ------------------------------------------------------------ helpers

    async def _load_messages(self, owner: int) -> None:
        views = await asyncio.to_thread(conversations.messages, owner, self.current_id)
        self.messages = [chat_message(v) for v in views]

    async def _load_conversations(self, owner: int) -> None:
        rows = await asyncio.to_thread(conversations.list_for, owner)
        self.conversations = [ConversationItem(id=c.id, title=c.title) for c in rows]

    def _shown(self, extra: list | None = None) -> list:
        """Events after the messages changed: scroll to the end and follow running jobs."""
        events = [*(extra or []), rx.scroll_to("chat-end")]
        if any(m.status in ACTIVE for m in self.messages):
            events.append(ChatState.watch_jobs)
        return events

    # ------------------------------------------------------------ page load and conversations

    @rx.event
    async def load(self):
        owner = await self._signed_in_user_id()
        if not owner:
            return rx.redirect("/login")
        await self._load_conversations(owner)
        if not any(c.id == self.current_id for c in self.conversations):
            if not self.conversations:
                await asyncio.to_thread(conversations.create, owner)
                await self._load_conversations(owner)
            self.current_id = self.conversations[0].id
        await self._load_messages(owner)
        return self._shown()

    @rx.event
    async def new_conversation(self):
        owner = await self._signed_in_user_id()
        if not owner:
            return rx.redirect("/login")
        conv = await asyncio.to_thread(conversations.create, owner)
        await self._load_conversations(owner)
        self.current_id, self.messages, self.drawer_open, self.notice = conv.id, [], False, ""

    @rx.event
    async def select_conversation(self, conversation_id: int):
        owner, conversation_id = await self._signed_in_user_id(), as_id(conversation_id)
        if not owner or not conversation_id:
            return
        previous = self.current_id
        self.current_id, self.drawer_open, self.notice = conversation_id, False, ""
        try:
            await self._load_messages(owner)
        except ImagechatError as exc:
            self.current_id = previous
            return rx.toast.error(exc.user_message)
        return self._shown()

    @rx.event
    def start_rename(self, conversation_id: int):
        conversation_id = as_id(conversation_id)
        if any(c.id == conversation_id for c in self.conversations):  # only the tab's own, loaded for its owner
            self.renaming_id = conversation_id

    @rx.event
    async def rename(self, form: dict):
        owner, renaming, self.renaming_id = await self._signed_in_user_id(), self.renaming_id, 0
        title = as_text(form.get("title") if isinstance(form, dict) else None, TITLE_CHARS)
        if not owner or not renaming:
            return
        if title is None:
            return rx.toast.error(f"A conversation name can have at most {TITLE_CHARS} characters.")
        try:
            await asyncio.to_thread(conversations.rename, owner, renaming, title)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        await self._load_conversations(owner)

    @rx.event
    async def delete_conversation(self, conversation_id: int):
        owner, conversation_id = await self._signed_in_user_id(), as_id(conversation_id)
        if not owner or not conversation_id:
            return
        try:
            await asyncio.to_thread(conversations.delete, owner, conversation_id)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        if conversation_id == self.current_id:
            self.current_id = 0
        return await self.load()

    @rx.event
    def set_drawer(self, open_: bool):
        if isinstance(open_, bool):
            self.drawer_open = open_

    # ------------------------------------------------------------ sending

    @rx.event
    def set_draft(self, value: str):
        if (value := as_text(value, _draft_limit())) is not None:
            self.draft, self.notice = value, ""

    @rx.event
    def use_prompt(self, prompt: str):
        if (prompt := as_text(prompt, get_settings().max_prompt_chars)) is not None:
            self.draft = prompt
            return rx.set_focus("prompt-input")

    @rx.event
    async def send(self, form: dict | None = None):
        owner = await self._signed_in_user_id()
        if not owner:
            yield rx.redirect("/login")
            return
        try:
            text = chat.check_message(self.draft)
        except ImagechatError as exc:
            self.notice = exc.user_message
            return
        if time.time() - self._replying_since < REPLY_STALE_S:
            self.notice = "Wait for the answer to your last message, then send this one."
            return
        self.draft, self.notice = "", ""
        self._pending, self._replying_since = (text, self.current_id), time.time()
        # Shown at once (ids <= 0 are placeholders); replaced by the saved messages when the turn ends.
        self.messages.append(ChatMessage(id=0, role=Role.USER, text=text))
        self.messages.append(ChatMessage(id=-1, role=Role.ASSISTANT, text="…"))
        yield rx.scroll_to("chat-end")
        yield ChatState.reply_to

    @rx.event(background=True)
    async def reply_to(self):
        """Run the turn `send` accepted, outside the state lock; a chat model's reply streams into the
        placeholder. Without a pending turn (a direct call) it does nothing."""
        async with self:
            pending, self._pending = self._pending, None
            owner = await self._signed_in_user_id() if pending else 0
        if not pending or not owner:
            return
        text, conversation_id = pending
        streamed: list[str] = []
        flushed_at = 0.0

        async def on_delta(piece: str) -> None:
            nonlocal flushed_at
            streamed.append(piece)
            now = asyncio.get_running_loop().time()
            if now - flushed_at >= STREAM_FLUSH_S:  # about 20 frames a second, however fast tokens come
                flushed_at = now
                async with self:
                    for m in self.messages:
                        if m.id == -1:
                            m.text = "".join(streamed)

        try:
            turn = await chat.respond(owner, conversation_id, text, on_delta)
        except ImagechatError as exc:
            async with self:
                self.messages = [m for m in self.messages if m.id > 0]
                self.draft, self.notice, self._replying_since = text, exc.user_message, 0.0
            return
        except Exception:
            log.exception("chat turn failed", extra={"user_id": owner})
            async with self:
                self.messages = [m for m in self.messages if m.id > 0]
                self.draft, self._replying_since = text, 0.0
                self.notice = "Something went wrong on our side; your message was not sent. Try again."
            return
        async with self:
            self._replying_since = 0.0
            if self.current_id == conversation_id:
                await self._after_turn(owner, turn)
            events = self._shown()
        for event in events:
            yield event

    async def _after_turn(self, owner: int, turn: chat.Turn) -> None:
        views = await asyncio.to_thread(conversations.messages, owner, self.current_id,
                                        message_ids=[turn.user_message_id, turn.assistant_message_id])
        self.messages = [m for m in self.messages if m.id > 0]
        known = {m.id for m in self.messages}
        self.messages += [chat_message(v) for v in views if v.id not in known]
        if turn.job_id:
            for m in self.messages:
                if m.job_id == str(turn.job_id):
                    m.status, m.stage = m.status or JobStatus.QUEUED, m.stage or admission.WAITING
        await self._load_conversations(owner)  # the first message names the conversation

    @rx.event
    async def cancel(self, job_id: str):
        owner, job_id = await self._signed_in_user_id(), as_uuid(job_id)
        if not owner or not job_id:
            return
        try:
            await asyncio.to_thread(jobs.cancel, owner, uuid.UUID(job_id))
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)

    @rx.event
    async def retry(self, message_id: int):
        owner, message_id = await self._signed_in_user_id(), as_id(message_id)
        if not owner or not message_id:
            return
        try:
            await chat.retry(owner, message_id, self.current_id)
            await self._load_messages(owner)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        return self._shown()

    @rx.event
    async def variations(self, image_id: str):
        """Three new takes on one image (same prompt and style, new seeds)."""
        owner, image_id = await self._signed_in_user_id(), as_uuid(image_id)
        if not owner or not image_id:
            return
        try:
            turn = await asyncio.to_thread(chat.variations_of, owner, self.current_id, uuid.UUID(image_id))
            await self._after_turn(owner, turn)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        return self._shown()

    # ------------------------------------------------------------ live progress

    @rx.event(background=True)
    async def watch_jobs(self):
        """The tab's one progress watcher: follows every running job shown in the tab (they were loaded
        for its owner, so no argument can point it at someone else's) and applies the newest event of
        each. It ends when the tab has no running job or its websocket is gone; calling it while one
        runs returns at once, without touching the tab's state."""
        client_token = self.router.session.client_token
        me = tabs.claim("progress", client_token)
        if me is None:
            return
        try:
            async with self:
                owner = await self._signed_in_user_id()
            if not owner:  # nobody signed in: calls from this tab are ignored for a second without the lock
                tabs.release("progress", client_token, me, rest_s=1.0)
                return
            watched: set[str] = set()
            pending: dict[str, progress.ProgressEvent] = {}  # fetched, not yet shown: kept across a failure
            failures = 0
            async with progress.Subscriber() as sub:
                while failures < WATCH_MAX_FAILURES:
                    try:
                        async with self:
                            ended = [e.job_id for e in pending.values() if apply_event(self.messages, e)]
                            pending.clear()
                            wanted = {m.job_id for m in self.messages if m.job_id and m.status in ACTIVE}
                            if not wanted or not tabs.tab_connected(client_token):
                                # Released under the lock: a job added after this check starts a new watcher.
                                tabs.release("progress", client_token, me)
                                done = True
                            else:
                                done = False
                        if ended:
                            await self._refresh_jobs(owner, ended)
                            yield rx.scroll_to("chat-end")
                        if done:
                            return
                        await sub.remove(*(watched - wanted))
                        await sub.add(*(wanted - watched))
                        watched = wanted
                        pending.update((e.job_id, e) for e in await sub.newest(timeout=WATCH_POLL_S))
                        failures = 0
                    except Exception:  # a lock timeout under load, Redis away for a moment: try again
                        failures += 1
                        log.warning("progress watcher: step failed (%d in a row)", failures, exc_info=True)
                        await asyncio.sleep(0.5)
        finally:
            tabs.release("progress", client_token, me)

    async def _refresh_jobs(self, owner: int, job_ids: list[str]) -> None:
        """Load finished jobs' images into their messages."""
        async with self:
            ids = [m.id for m in self.messages if m.job_id in job_ids]
            conversation_id = self.current_id
        if not ids:
            return
        views = await asyncio.to_thread(conversations.messages, owner, conversation_id, message_ids=ids)
        async with self:
            fresh = {v.id: chat_message(v) for v in views}
            for i, m in enumerate(self.messages):
                if m.id in fresh:
                    keep = fresh[m.id]
                    keep.stage = m.stage
                    self.messages[i] = keep
