"""Chat UI state: conversations, messages and live job progress.

It holds ids, text, URLs and progress numbers only; image bytes are served by imagechat/api. Every
call goes through the domain (imagechat/core) with the logged-in user's id, in a thread so the
event loop never waits on the database. Live progress arrives from the Redis progress bus in a
background task per running job.
"""

from __future__ import annotations

import asyncio
import uuid

import reflex as rx

from imagechat.core import chat, conversations, jobs, progress
from imagechat.core.errors import ImagechatError
from imagechat.models import ACTIVE, JobStatus, Role
from imagechat.state.session import SessionState
from imagechat.state.views import ChatMessage, ConversationItem, apply_event, chat_message

EXAMPLE_PROMPTS = (
    "Create an image of a sunset over mountains with a lake reflection",
    "A lighthouse on a cliff in a storm, watercolor",
    "A city skyline at night with neon lights",
)
STREAM_FLUSH_S = 0.05


class ChatState(SessionState):
    conversations: list[ConversationItem] = []
    current_id: int = 0
    messages: list[ChatMessage] = []
    draft: str = ""
    notice: str = ""  # a refusal of the input itself (empty, too long): shown above the composer
    drawer_open: bool = False
    renaming_id: int = 0
    _watching: set[str] = set()

    # ------------------------------------------------------------ helpers


    async def _load_messages(self, owner: int) -> list:
        views = await asyncio.to_thread(conversations.messages, owner, self.current_id)
        self.messages = [chat_message(v) for v in views]
        return [self.watch_job(m.job_id) for m in self.messages if m.status in ACTIVE]

    async def _load_conversations(self, owner: int) -> None:
        rows = await asyncio.to_thread(conversations.list_for, owner)
        self.conversations = [ConversationItem(id=c.id, title=c.title) for c in rows]

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
        self._watching = set()
        return [*await self._load_messages(owner), rx.scroll_to("chat-end")]

    @rx.event
    async def new_conversation(self):
        owner = await self._signed_in_user_id()
        conv = await asyncio.to_thread(conversations.create, owner)
        await self._load_conversations(owner)
        self.current_id, self.messages, self.drawer_open, self.notice = conv.id, [], False, ""

    @rx.event
    async def select_conversation(self, conversation_id: int):
        owner = await self._signed_in_user_id()
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
        owner = await self._signed_in_user_id()
        try:
            await asyncio.to_thread(conversations.rename, owner, self.renaming_id, form.get("title", ""))
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        finally:
            self.renaming_id = 0
        await self._load_conversations(owner)

    @rx.event
    async def delete_conversation(self, conversation_id: int):
        owner = await self._signed_in_user_id()
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
        owner = await self._signed_in_user_id()
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
        self.messages.append(ChatMessage(id=0, role=Role.USER, text=text))
        self.messages.append(ChatMessage(id=-1, role=Role.ASSISTANT, text="…"))
        yield rx.scroll_to("chat-end")
        yield ChatState.reply_to(text, self.current_id)

    @rx.event(background=True)
    async def reply_to(self, text: str, conversation_id: int):
        """Run the turn outside the state lock; a chat model's reply streams into the placeholder."""
        async with self:
            owner = await self._signed_in_user_id()
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
        self.messages += [chat_message(v) for v in views if v.id not in known]
        if turn.job_id:
            for m in self.messages:
                if m.job_id == str(turn.job_id):
                    m.status, m.stage = m.status or JobStatus.QUEUED, jobs.WAITING
        await self._load_conversations(owner)  # the first message names the conversation

    @rx.event
    async def cancel(self, job_id: str):
        owner = await self._signed_in_user_id()
        try:
            await asyncio.to_thread(jobs.cancel, owner, uuid.UUID(job_id))
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)

    @rx.event
    async def retry(self, message_id: int):
        owner = await self._signed_in_user_id()
        try:
            turn = await chat.retry(owner, message_id, self.current_id)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        await self._load_messages(owner)
        if turn.job_id:
            return ChatState.watch_job(str(turn.job_id))

    @rx.event
    async def variations(self, image_id: str):
        """Three new takes on one image (same prompt and style, new seeds)."""
        owner = await self._signed_in_user_id()
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
            owner = await self._signed_in_user_id()
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
                        done = apply_event(self.messages, event)
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
            fresh = {v.id: chat_message(v) for v in views}
            for i, m in enumerate(self.messages):
                if m.id in fresh:
                    keep = fresh[m.id]
                    keep.stage = m.stage
                    self.messages[i] = keep
