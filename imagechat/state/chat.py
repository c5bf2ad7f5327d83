"""Chat UI state: conversations, messages and live job progress.

It holds ids, text, URLs and progress numbers only; image bytes are served by imagechat/api. Every
call goes through the domain (imagechat/core) with the signed-in user's id, in a thread so the event
loop never waits on the database.

A long conversation stays as fast as a new one because the tab never holds, sends nor redraws more than it
must: it opens on the newest page of messages (`conversations.latest`), older pages are put in front as the
user scrolls up (`load_older`, keyset paging) into a var of their own (`older`) that a turn never touches, and
a turn appends its two saved messages. What the message list draws lives in substates with their own React
contexts, so the list is redrawn only when its messages change: `ChatView` (the messages), `ChatTurn` (the
turn in flight: your words and the reply as it streams) and `ChatProgress` (one entry per running job: a
progress tick sends and redraws that job's numbers only). A keystroke in the composer (ChatState.draft) or a
streamed word redraws no message.

Every public method here is an endpoint any websocket client can call with any arguments: each one
checks the session and the shape of its arguments first, and does nothing for anything else. Live
progress comes from one watcher per tab (`watch_jobs`) that follows all of the tab's running jobs
through the process's shared subscription to the progress bus, and ends when they end or the tab goes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid

import reflex as rx

from imagechat.core import admission, chat, conversations, jobs, organise, progress
from imagechat.core.conversations import MessageView
from imagechat.core.errors import ImagechatError
from imagechat.core.text import unmarked
from imagechat.models import ACTIVE, MAX_ALBUM_NAME_CHARS, JobStatus, Role
from imagechat.settings import get_settings
from imagechat.state import tabs
from imagechat.state.session import SessionState
from imagechat.state.views import ConversationItem, as_id, as_text, as_uuid

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
MAX_ALBUMS_SHOWN = 200
TERMINAL = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)

# Installed once per page (idempotent): keeps the reading position when older messages are put in front
# (the first shown message stays where it was), loads older messages when the user scrolls near the top
# (only after the conversation was shown at its end, so opening one never loads a page at once), and
# scrolls to a deep link's message once it is drawn. No user data in it: ids reach it as validated ints.
CHAT_JS = """(() => {
if (!window.__icChat) {
  const c = window.__icChat = {anchor: null, armed: false, busy: 0};
  c.remember = () => {
    const first = document.querySelector('#message-list .chat-message');
    c.anchor = first ? {id: first.id, top: first.getBoundingClientRect().top, at: Date.now()} : null;
  };
  c.restore = () => {
    const a = c.anchor;
    if (!a) return;
    if (Date.now() - a.at > 5000) { c.anchor = null; return; }
    const el = document.getElementById(a.id);
    if (!el) return;
    const moved = el.getBoundingClientRect().top - a.top;
    if (Math.abs(moved) >= 1) { window.scrollBy(0, moved); c.anchor = null; c.busy = 0; }
  };
  new MutationObserver(c.restore).observe(document.body, {childList: true, subtree: true});
  document.addEventListener('click', (e) => {
    if (e.target.closest && e.target.closest('#load-older')) c.remember();
  }, true);
  window.addEventListener('scroll', () => {
    if (window.scrollY > 400) c.armed = true;
    const b = document.getElementById('load-older');
    if (c.armed && window.scrollY < 300 && b && !b.disabled && Date.now() - c.busy > 1500) {
      c.busy = Date.now();
      b.click();
    }
  }, {passive: true});
  c.reset = () => { c.armed = false; c.anchor = null; };
  c.reveal = (id, tries) => {
    const el = document.getElementById(id);
    if (el) {
      el.scrollIntoView({block: 'center'});
      el.classList.add('chat-message-linked');
      const bubble = el.querySelector('.bubble') || el;
      if (bubble.animate) bubble.animate([{boxShadow: '0 0 0 3px var(--accent-8)'},
                                          {boxShadow: '0 0 0 3px var(--accent-8)', offset: 0.6},
                                          {boxShadow: '0 0 0 0 transparent'}], {duration: 2500});
      setTimeout(() => { c.armed = true; }, 300);
    } else if (tries > 0) setTimeout(() => c.reveal(id, tries - 1), 50);
  };
  c.follow = () => {  // a job ended: keep the end in view if the user was reading there
    if (window.innerHeight + window.scrollY > document.documentElement.scrollHeight - 700) c.toEnd(20);
  };
  c.toEnd = (tries) => {
    const end = document.getElementById('chat-end');
    if (end && document.querySelector('#message-list .chat-message')) {
      end.scrollIntoView({block: 'end'});
      setTimeout(() => { c.armed = true; }, 300);
    } else if (tries > 0) setTimeout(() => c.toEnd(tries - 1), 50);
  };
}
})();"""
FOLLOW_JS = "window.__icChat && window.__icChat.follow();"


def _draft_limit() -> int:
    return get_settings().max_prompt_chars * 2  # room to see the "too long" message, never megabytes of state


@dataclasses.dataclass
class ChatImage:
    id: str
    aspect: str  # CSS aspect-ratio ("1024 / 768"): the box has its size before the picture arrives
    favorite: bool = False
    deleted: bool = False


@dataclasses.dataclass
class ShownMessage:
    """One message as the chat draws it. The numbers of a running job are in ChatProgress.live instead."""

    id: int  # <= 0: a placeholder shown until the turn is saved
    role: str  # a Role
    text: str
    job_id: str = ""
    status: str = ""  # "" (no job) or a JobStatus
    error: str = ""
    images: list[ChatImage] = dataclasses.field(default_factory=list)
    prompt: str = ""  # what the images were made from ("reuse prompt")
    before: list[ChatImage] = dataclasses.field(default_factory=list)  # the source of a change (0 or 1)
    retryable: bool = False  # a refused request (rate limit, budget, ...): the reply offers Retry


@dataclasses.dataclass
class JobLive:
    """A running job's progress: the only thing a progress event changes."""

    status: str = JobStatus.QUEUED
    percent: int = 0
    stage: str = ""
    preview_url: str = ""
    queue_position: int = 0


@dataclasses.dataclass
class AlbumChoice:
    id: int
    name: str


def _image(ref: conversations.ImageRef) -> ChatImage:
    return ChatImage(id=ref.id, aspect=f"{max(ref.width, 1)} / {max(ref.height, 1)}", favorite=ref.favorite,
                     deleted=ref.deleted)


def shown_message(view: MessageView) -> ShownMessage:
    return ShownMessage(id=view.id, role=view.role, text=view.content, job_id=view.job_id or "",
                        status=view.job_status or "", error=view.job_error or "",
                        images=[_image(i) for i in view.images],
                        prompt=view.images[0].prompt if view.images else "",
                        before=[_image(view.before)] if view.before else [], retryable=bool(view.error_code))


def apply_progress(live: dict[str, JobLive], event: progress.ProgressEvent) -> bool:
    """Copy a progress event onto its running job; True when that job just ended (the caller then loads
    its final state into the message). Events of jobs the tab does not follow are ignored."""
    current = live.get(event.job_id)
    if current is None:
        return False
    if event.terminal:
        return True
    current.status, current.percent, current.stage = event.status, int(event.percent), event.stage
    current.preview_url = event.preview_url or current.preview_url
    current.queue_position = event.queue_position or 0
    return False


def _live_for(items: list[ShownMessage]) -> dict[str, JobLive]:
    return {m.job_id: JobLive(status=m.status, stage=admission.WAITING if m.status == JobStatus.QUEUED else "")
            for m in items if m.job_id and m.status in ACTIVE}


class ChatState(SessionState):
    conversations: list[ConversationItem] = []
    current_id: int = 0
    draft: str = ""
    notice: str = ""  # a refusal of the input itself (empty, too long): shown above the composer
    drawer_open: bool = False
    renaming_id: int = 0
    album_dialog_open: bool = False
    _album_image: str = ""  # the image "New album..." was chosen for
    _pending: tuple[str, int] | None = None  # the turn `send` accepted, for `reply_to`
    _replying_since: float = 0.0

    # ------------------------------------------------------------ helpers

    async def _parts(self) -> tuple[ChatView, ChatProgress]:
        return await self.get_state(ChatView), await self.get_state(ChatProgress)

    async def _show(self, history: conversations.History) -> None:
        """Replace what the tab shows with one stretch of history (a conversation opened or reloaded)."""
        view, prog = await self._parts()
        view.older = []
        view.messages = [shown_message(v) for v in history.messages]
        view.has_older, view.loading_older = history.has_older, False
        prog.live = _live_for(view.messages)
        (await self.get_state(ChatTurn)).pending = []

    async def _load_latest(self, owner: int) -> None:
        await self._show(await asyncio.to_thread(conversations.latest, owner, self.current_id))

    async def _load_conversations(self, owner: int) -> None:
        rows = await asyncio.to_thread(conversations.list_for, owner)
        self.conversations = [ConversationItem(id=c.id, title=c.title) for c in rows]

    async def _follow(self) -> list:
        return [ChatState.watch_jobs] if (await self.get_state(ChatProgress)).live else []

    async def _shown(self) -> list:
        """Events after the messages changed: scroll to the end and follow running jobs."""
        return [rx.scroll_to("chat-end"), *await self._follow()]

    async def _opened(self, message_id: int = 0) -> list:
        """Events after a conversation was (re)opened: the page script, then its end or the linked message."""
        go = f"window.__icChat.reveal('msg-{int(message_id)}', 60);" if message_id else "window.__icChat.toEnd(60);"
        return [rx.call_script(CHAT_JS + "window.__icChat.reset();" + go), *await self._follow()]

    async def _append(self, views: list[MessageView], turn: chat.Turn) -> None:
        """Put a finished turn's saved messages after those shown (replacing older copies of them)."""
        view, prog = await self._parts()
        fresh = [shown_message(v) for v in views]
        ids = {m.id for m in fresh}
        if turn.job_id:
            for m in fresh:
                if m.job_id == str(turn.job_id):
                    m.status = m.status or JobStatus.QUEUED
        view.messages = [m for m in view.messages if m.id not in ids] + fresh
        fresh_live = {k: v for k, v in _live_for(fresh).items() if k not in prog.live}
        if fresh_live:
            prog.live = {**prog.live, **fresh_live}

    # ------------------------------------------------------------ page load and conversations

    @rx.event
    async def load(self):
        """The chat page's on_load. `?c=<id>&m=<id>` (core.urls.chat_url) opens one of the user's conversations
        at one of its messages; anything else there falls back to the usual view with a toast. The draft is
        kept: another page may have set it just before sending the user here ("Reuse settings")."""
        owner = await self._signed_in_user_id()
        if not owner:
            return rx.redirect("/login")
        params = self.router.url.query_parameters
        wanted, message_id = as_id(params.get("c")), as_id(params.get("m"))
        events: list = []
        await self._load_conversations(owner)
        if wanted:
            try:
                if message_id:
                    history = await asyncio.to_thread(conversations.through, owner, wanted, message_id)
                else:
                    history = await asyncio.to_thread(conversations.latest, owner, wanted)
                self.current_id, self.drawer_open, self.notice = wanted, False, ""
                await self._show(history)
                return await self._opened(message_id)
            except ImagechatError as exc:
                if message_id and any(c.id == wanted for c in self.conversations):
                    self.current_id = wanted  # the conversation is there; only the message is not
                events.append(rx.toast.error(exc.user_message))
        elif params.get("c") is not None or params.get("m") is not None:
            events.append(rx.toast.error("That link doesn't point to one of your conversations."))
        if not any(c.id == self.current_id for c in self.conversations):
            if not self.conversations:
                await asyncio.to_thread(conversations.create, owner)
                await self._load_conversations(owner)
            self.current_id = self.conversations[0].id
        await self._load_latest(owner)
        return [*events, *await self._opened()]

    @rx.event
    async def new_conversation(self):
        owner = await self._signed_in_user_id()
        if not owner:
            return rx.redirect("/login")
        conv = await asyncio.to_thread(conversations.create, owner)
        await self._load_conversations(owner)
        self.current_id, self.drawer_open, self.notice = conv.id, False, ""
        await self._show(conversations.History(messages=[], has_older=False))

    @rx.event
    async def select_conversation(self, conversation_id: int):
        owner, conversation_id = await self._signed_in_user_id(), as_id(conversation_id)
        if not owner or not conversation_id:
            return
        try:
            history = await asyncio.to_thread(conversations.latest, owner, conversation_id)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        self.current_id, self.drawer_open, self.notice = conversation_id, False, ""
        await self._show(history)
        return await self._opened()

    @rx.event
    async def load_older(self):
        """The page of messages before the oldest one shown (the user scrolled to the top)."""
        owner = await self._signed_in_user_id()
        view = await self.get_state(ChatView)
        oldest = view._oldest_id()
        if not owner or not self.current_id or not view.has_older or not oldest:
            return
        view.loading_older = True
        yield
        try:
            page = await asyncio.to_thread(conversations.older, owner, self.current_id, oldest)
        except ImagechatError as exc:
            view.loading_older = False
            yield rx.toast.error(exc.user_message)
            return
        if view._oldest_id() == oldest:  # not replaced meanwhile by another conversation
            view.older = [shown_message(v) for v in page.messages] + view.older
            view.has_older = page.has_older
            fresh = _live_for(view.older[: len(page.messages)])
            if fresh:
                prog = await self.get_state(ChatProgress)
                prog.live = {**prog.live, **fresh}
                yield ChatState.watch_jobs
        view.loading_older = False

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
        await self._load_conversations(owner)
        if not any(c.id == self.current_id for c in self.conversations):
            if not self.conversations:
                await asyncio.to_thread(conversations.create, owner)
                await self._load_conversations(owner)
            self.current_id = self.conversations[0].id
            await self._load_latest(owner)
            return await self._opened()

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
        # Shown at once (ids <= 0 are placeholders) below the list; replaced by the saved messages at the end.
        (await self.get_state(ChatTurn)).pending = [ShownMessage(id=0, role=Role.USER, text=text),
                                                    ShownMessage(id=-1, role=Role.ASSISTANT, text="…")]
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
                    turn_state = await self.get_state(ChatTurn)
                    for m in turn_state.pending:
                        if m.id == -1:
                            m.text = "".join(streamed)

        try:
            turn = await chat.respond(owner, conversation_id, text, on_delta)
        except ImagechatError as exc:
            async with self:
                (await self.get_state(ChatTurn)).pending = []
                self.draft, self.notice, self._replying_since = text, exc.user_message, 0.0
            return
        except Exception:
            log.exception("chat turn failed", extra={"user_id": owner})
            async with self:
                (await self.get_state(ChatTurn)).pending = []
                self.draft, self._replying_since = text, 0.0
                self.notice = "Something went wrong on our side; your message was not sent. Try again."
            return
        views = await asyncio.to_thread(conversations.messages, owner, conversation_id,
                                        message_ids=[turn.user_message_id, turn.assistant_message_id])
        titled = await asyncio.to_thread(conversations.list_for, owner)  # the first message names it
        async with self:
            self._replying_since = 0.0
            self.conversations = [ConversationItem(id=c.id, title=c.title) for c in titled]
            (await self.get_state(ChatTurn)).pending = []
            if self.current_id == conversation_id:
                await self._append(views, turn)
            events = await self._shown()
        for event in events:
            yield event

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
        view, prog = await self._parts()
        if not owner or not message_id or not any(m.id == message_id for m in view._shown_items()):
            return
        try:
            turn = await chat.retry(owner, message_id, self.current_id)
            ids = [turn.user_message_id, turn.assistant_message_id]
            views = await asyncio.to_thread(conversations.messages, owner, self.current_id, message_ids=ids)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        retried = {v.id: v for v in views}
        # A job retried in place: its message is updated where it is; a repeated request: appended.
        for items in (view.older, view.messages):
            for i, m in enumerate(items):
                if m.id in retried:
                    items[i] = shown_message(retried.pop(m.id))
                    if items[i].job_id and items[i].status in ACTIVE and items[i].job_id not in prog.live:
                        prog.live = {**prog.live, **_live_for([items[i]])}
        if retried:
            await self._append(list(retried.values()), turn)
        return await self._shown()

    @rx.event
    async def variations(self, image_id: str):
        """Three new takes on one image (same prompt and style, new seeds)."""
        owner, image_id = await self._signed_in_user_id(), as_uuid(image_id)
        if not owner or not image_id:
            return
        try:
            turn = await asyncio.to_thread(chat.variations_of, owner, self.current_id, uuid.UUID(image_id))
            views = await asyncio.to_thread(conversations.messages, owner, self.current_id,
                                            message_ids=[turn.user_message_id, turn.assistant_message_id])
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        await self._append(views, turn)
        return await self._shown()

    # ------------------------------------------------------------ favourites and albums

    @rx.event
    async def toggle_favorite(self, image_id: str):
        """Star or unstar one image shown in the chat (only those: they were loaded for this owner)."""
        owner, image_id = await self._signed_in_user_id(), as_uuid(image_id)
        view = await self.get_state(ChatView)
        if not owner or not image_id or (image := view._find_image(image_id)) is None or image.deleted:
            return
        wanted = not image.favorite
        try:
            await asyncio.to_thread(organise.set_favorite, owner, [uuid.UUID(image_id)], wanted)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        for m in view._shown_items():
            for shown in (*m.images, *m.before):
                if shown.id == image_id:
                    shown.favorite = wanted

    @rx.event
    async def albums_menu(self, open_: bool):
        """An "Add to album" menu opened: fetch the user's albums (names can change in the gallery meanwhile)."""
        if open_ is not True:
            return
        owner = await self._signed_in_user_id()
        if not owner:
            return
        try:
            found = await asyncio.to_thread(organise.list_albums, owner)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        (await self.get_state(ChatView)).albums = [AlbumChoice(id=a.id, name=a.name)
                                                   for a in found[:MAX_ALBUMS_SHOWN]]

    @rx.event
    async def add_to_album(self, album_id: int, image_id: str):
        owner, album_id, image_id = await self._signed_in_user_id(), as_id(album_id), as_uuid(image_id)
        view = await self.get_state(ChatView)
        if not owner or not album_id or not image_id or view._find_image(image_id) is None:
            return
        name = next((a.name for a in view.albums if a.id == album_id), "the album")
        try:
            added = await asyncio.to_thread(organise.add_to_album, owner, album_id, [uuid.UUID(image_id)])
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        return rx.toast.success(unmarked(f"Added to {name}." if added else f"It is already in {name}."))

    @rx.event
    async def new_album_for(self, image_id: str):
        """"New album..." chosen in an image's menu: ask for the name (create_album_with_image)."""
        image_id = as_uuid(image_id)
        if image_id and (await self.get_state(ChatView))._find_image(image_id) is not None:
            self._album_image, self.album_dialog_open = image_id, True

    @rx.event
    def set_album_dialog(self, open_: bool):
        if open_ is False:
            self.album_dialog_open, self._album_image = False, ""

    @rx.event
    async def create_album_with_image(self, form: dict):
        owner, image_id = await self._signed_in_user_id(), self._album_image
        name = as_text(form.get("name") if isinstance(form, dict) else None, MAX_ALBUM_NAME_CHARS * 2)
        if not owner or not image_id:
            self.album_dialog_open = False
            return
        if name is None:
            return rx.toast.error(f"An album name can have at most {MAX_ALBUM_NAME_CHARS} characters.")
        try:
            album = await asyncio.to_thread(organise.create_album, owner, name)
            await asyncio.to_thread(organise.add_to_album, owner, album.id, [uuid.UUID(image_id)])
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        self.album_dialog_open, self._album_image = False, ""
        view = await self.get_state(ChatView)
        view.albums = [*view.albums, AlbumChoice(id=album.id, name=album.name)][:MAX_ALBUMS_SHOWN]
        return rx.toast.success(unmarked(f"Added to the new album {album.name}."))

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
                            prog = await self.get_state(ChatProgress)
                            ended = {e.job_id: e for e in pending.values() if apply_progress(prog.live, e)}
                            pending.clear()
                            wanted = set(prog.live) - set(ended)
                            if not prog.live or not tabs.tab_connected(client_token):
                                # Released under the lock: a job added after this check starts a new watcher.
                                tabs.release("progress", client_token, me)
                                done = True
                            else:
                                done = False
                        if ended:
                            await self._finish_jobs(owner, ended)
                            yield rx.call_script(FOLLOW_JS)
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

    async def _finish_jobs(self, owner: int, ended: dict[str, progress.ProgressEvent]) -> None:
        """Ended jobs: load their final state (images, error) into their messages and stop following them."""
        async with self:
            view = await self.get_state(ChatView)
            ids = [m.id for m in view._shown_items() if m.job_id in ended and m.id > 0]
            conversation_id = self.current_id
        views = await asyncio.to_thread(conversations.messages, owner, conversation_id, message_ids=ids) \
            if ids else []
        async with self:
            view, prog = await self._parts()
            fresh = {v.id: shown_message(v) for v in views}
            for items in (view.older, view.messages):
                for i, m in enumerate(items):
                    if m.job_id not in ended:
                        continue
                    event = ended[m.job_id]
                    keep = fresh.get(m.id, m)
                    if keep.status not in TERMINAL:  # the row may lag the event by a moment
                        keep.status, keep.error = event.status, event.error or keep.error
                    items[i] = keep
            prog.live = {k: v for k, v in prog.live.items() if k not in ended}


class ChatView(SessionState):
    """What the message list draws. A substate has its own React context: a change of ChatState (a keystroke
    in the composer, the sidebar) or of ChatTurn / ChatProgress does not redraw these messages."""

    older: list[ShownMessage] = []  # pages loaded by scrolling up; a new turn never touches this var
    messages: list[ShownMessage] = []  # the newest page plus this tab's finished turns
    has_older: bool = False
    loading_older: bool = False
    albums: list[AlbumChoice] = []  # the user's albums, for "Add to album" (loaded when a menu opens)

    def _shown_items(self):
        yield from self.older
        yield from self.messages

    def _oldest_id(self) -> int:
        return next((m.id for m in self._shown_items() if m.id > 0), 0)

    def _find_image(self, image_id: str) -> ChatImage | None:
        for m in self._shown_items():
            for image in (*m.images, *m.before):
                if image.id == image_id:
                    return image
        return None


class ChatTurn(SessionState):
    """The turn in flight, drawn below the list: your words and the reply as it streams (placeholders, ids <= 0)."""

    pending: list[ShownMessage] = []


class ChatProgress(SessionState):
    """The running jobs shown: job id -> progress. A tick redraws that job's bar, nothing else."""

    live: dict[str, JobLive] = {}
