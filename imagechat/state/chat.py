"""Chat UI state: conversations, messages and live job progress.

It holds ids, text, URLs and progress numbers only; image bytes are served by imagechat/api. Every
call goes through the domain (imagechat/core) with the logged-in user's id, in a thread so the
event loop never waits on the database. Live progress arrives from the Redis progress bus in a
background task per running job.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import reflex as rx

from imagechat.core import assistant, chat, conversations, jobs, progress
from imagechat.core.conversations import MessageView
from imagechat.core.errors import ImagechatError
from imagechat.state.auth import AuthState

EXAMPLE_PROMPTS = (
    "Create an image of a sunset over mountains with a lake reflection",
    "A lighthouse on a cliff in a storm, watercolor",
    "A city skyline at night with neon lights",
)
ACTIVE = ("queued", "running")
STREAM_FLUSH_S = 0.05


@dataclasses.dataclass
class ConversationItem:
    id: int
    title: str


@dataclasses.dataclass
class ChatMessage:
    id: int
    role: str  # user | assistant
    text: str
    job_id: str = ""
    status: str = ""  # "" (no job) | queued | running | succeeded | failed | cancelled
    percent: int = 0  # whole percent: what the bar and the label show
    stage: str = ""
    preview_url: str = ""
    queue_position: int = 0
    error: str = ""
    image_ids: list[str] = dataclasses.field(default_factory=list)
    prompt: str = ""  # what the images were made from ("reuse prompt")
    before_id: str = ""  # the source of a change: shown before/after
    retryable: bool = False  # a refused request (rate limit, budget, ...): the reply offers Retry


def _item(view: MessageView) -> ChatMessage:
    return ChatMessage(id=view.id, role=view.role, text=view.content, job_id=view.job_id or "",
                       status=view.job_status or "", error=view.job_error or "",
                       percent=100 if view.job_status == "succeeded" else 0,
                       image_ids=[i.id for i in view.images], prompt=view.images[0].prompt if view.images else "",
                       before_id=view.before.id if view.before else "", retryable=bool(view.error_code))


class ChatState(rx.State):
    conversations: list[ConversationItem] = []
    current_id: int = 0
    messages: list[ChatMessage] = []
    draft: str = ""
    notice: str = ""  # a refusal of the input itself (empty, too long): shown above the composer
    drawer_open: bool = False
    renaming_id: int = 0
    _watching: set[str] = set()

    # ------------------------------------------------------------ helpers

    async def _owner(self) -> int:
        return await (await self.get_state(AuthState)).current_user_id()

    def _apply(self, event: progress.ProgressEvent) -> bool:
        """Copy a progress event onto its message; True when the job just finished."""
        for message in self.messages:
            if message.job_id == event.job_id:
                message.status, message.percent, message.stage = event.status, int(event.percent), event.stage
                message.preview_url = event.preview_url or message.preview_url
                message.queue_position = event.queue_position or 0
                message.error = event.error or ""
                message.image_ids = event.image_ids or message.image_ids
                return event.terminal
        return False

    async def _load_messages(self, owner: int) -> list:
        views = await asyncio.to_thread(conversations.messages, owner, self.current_id)
        self.messages = [_item(v) for v in views]
        return [self.watch_job(m.job_id) for m in self.messages if m.status in ACTIVE]

    async def _load_conversations(self, owner: int) -> None:
        rows = await asyncio.to_thread(conversations.list_for, owner)
        self.conversations = [ConversationItem(id=c.id, title=c.title) for c in rows]

    # ------------------------------------------------------------ page load and conversations

    @rx.event
    async def load(self):
        owner = await self._owner()
        if not owner:
            return rx.redirect("/login")
        await self._load_conversations(owner)
        if not any(c.id == self.current_id for c in self.conversations):
            if not self.conversations:
                await asyncio.to_thread(conversations.create, owner)
                await self._load_conversations(owner)
            self.current_id = self.conversations[0].id
        self._watching = set()
        return [*await self._load_messages(owner), rx.scroll_to("chat-end")]

    @rx.event
    async def new_conversation(self):
        owner = await self._owner()
        conv = await asyncio.to_thread(conversations.create, owner)
        await self._load_conversations(owner)
        self.current_id, self.messages, self.drawer_open, self.notice = conv.id, [], False, ""

    @rx.event
    async def select_conversation(self, conversation_id: int):
        owner = await self._owner()
        self.current_id, self.drawer_open, self.notice = conversation_id, False, ""
        try:
            watchers = await self._load_messages(owner)
        except ImagechatError:
            return await self.load()
        return [*watchers, rx.scroll_to("chat-end")]

    @rx.event
    def start_rename(self, conversation_id: int):
        self.renaming_id = conversation_id

    @rx.event
    async def rename(self, form: dict):
        owner = await self._owner()
        try:
            await asyncio.to_thread(conversations.rename, owner, self.renaming_id, form.get("title", ""))
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        finally:
            self.renaming_id = 0
        await self._load_conversations(owner)

    @rx.event
    async def delete_conversation(self, conversation_id: int):
        owner = await self._owner()
        await asyncio.to_thread(conversations.delete, owner, conversation_id)
        if conversation_id == self.current_id:
            self.current_id = 0
        return await self.load()

    @rx.event
    def set_drawer(self, open_: bool):
        self.drawer_open = open_

    # ------------------------------------------------------------ sending

    @rx.event
    def set_draft(self, value: str):
        self.draft, self.notice = value, ""

    @rx.event
    def use_prompt(self, prompt: str):
        self.draft = prompt
        return rx.set_focus("prompt-input")

    @rx.event
    async def send(self, form: dict | None = None):
        owner = await self._owner()
        if not owner:
            yield rx.redirect("/login")
            return
        try:
            text = chat.check_message(self.draft)
        except ImagechatError as exc:
            self.notice = exc.user_message
            return
        self.draft, self.notice = "", ""
        # Shown at once (ids <= 0 are placeholders); replaced by the saved messages when the turn ends.
        self.messages.append(ChatMessage(id=0, role="user", text=text))
        self.messages.append(ChatMessage(id=-1, role="assistant", text="…"))
        yield rx.scroll_to("chat-end")
        yield ChatState.reply_to(text, self.current_id)

    @rx.event(background=True)
    async def reply_to(self, text: str, conversation_id: int):
        """Run the turn outside the state lock; a chat model's reply streams into the placeholder."""
        async with self:
            owner = await self._owner()
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
            turn = await assistant.respond(owner, conversation_id, text, on_delta)
        except ImagechatError as exc:
            async with self:
                self.messages = [m for m in self.messages if m.id > 0]
                self.draft, self.notice = text, exc.user_message
            return
        async with self:
            if self.current_id == conversation_id:
                await self._after_turn(owner, turn)
        yield rx.scroll_to("chat-end")
        if turn.job_id:
            yield ChatState.watch_job(str(turn.job_id))

    async def _after_turn(self, owner: int, turn: chat.Turn) -> None:
        views = await asyncio.to_thread(conversations.messages, owner, self.current_id,
                                        message_ids=[turn.user_message_id, turn.assistant_message_id])
        self.messages = [m for m in self.messages if m.id > 0]
        known = {m.id for m in self.messages}
        self.messages += [_item(v) for v in views if v.id not in known]
        if turn.job_id:
            for m in self.messages:
                if m.job_id == str(turn.job_id):
                    m.status, m.stage = m.status or "queued", "Waiting for a worker"
        await self._load_conversations(owner)  # the first message names the conversation

    @rx.event
    async def cancel(self, job_id: str):
        owner = await self._owner()
        try:
            await asyncio.to_thread(jobs.cancel, owner, uuid.UUID(job_id))
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)

    @rx.event
    async def retry(self, message_id: int):
        owner = await self._owner()
        try:
            turn = await asyncio.to_thread(chat.retry, owner, message_id, self.current_id)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        await self._load_messages(owner)
        if turn.job_id:
            return ChatState.watch_job(str(turn.job_id))

    @rx.event
    async def variations(self, image_id: str):
        """Three new takes on one image (same prompt and style, new seeds)."""
        owner = await self._owner()
        try:
            turn = await asyncio.to_thread(chat.variations_of, owner, self.current_id, uuid.UUID(image_id))
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        await self._after_turn(owner, turn)
        return [rx.scroll_to("chat-end"), ChatState.watch_job(str(turn.job_id))]

    # ------------------------------------------------------------ live progress

    @rx.event(background=True)
    async def watch_job(self, job_id: str):
        """Follow one job on the progress bus until it ends; newest event wins when several queue up."""
        async with self:
            if job_id in self._watching:
                return
            self._watching.add(job_id)
            owner = await self._owner()
        try:
            async with progress.Subscriber() as sub:
                await sub.add(job_id)
                while True:
                    event = await sub.get(timeout=30)
                    if event is None:
                        continue
                    while (newer := await sub.get(timeout=0.001)) is not None:
                        event = newer
                    async with self:
                        done = self._apply(event)
                    if done:
                        break
            await self._refresh_job(owner, job_id)
            yield rx.scroll_to("chat-end")
        finally:
            async with self:
                self._watching.discard(job_id)

    async def _refresh_job(self, owner: int, job_id: str) -> None:
        """Load the finished job's images into its message."""
        async with self:
            ids = [m.id for m in self.messages if m.job_id == job_id]
            conversation_id = self.current_id
        if not ids or not owner:
            return
        views = await asyncio.to_thread(conversations.messages, owner, conversation_id, message_ids=ids)
        async with self:
            fresh = {v.id: _item(v) for v in views}
            for i, m in enumerate(self.messages):
                if m.id in fresh:
                    keep = fresh[m.id]
                    keep.stage = m.stage
                    self.messages[i] = keep
