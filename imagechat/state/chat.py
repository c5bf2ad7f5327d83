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

from imagechat.core import (
    admission,
    chat,
    conversations,
    costs,
    enhance,
    jobs,
    options,
    organise,
    preferences,
    progress,
    suggestions,
)
from imagechat.core.conversations import MessageView
from imagechat.core.errors import ImagechatError
from imagechat.core.intents.replies import example_list
from imagechat.core.options import options_label
from imagechat.core.request import QUALITIES
from imagechat.core.styles import STYLES
from imagechat.core.text import unmarked
from imagechat.models import ACTIVE, MAX_ALBUM_NAME_CHARS, JobStatus, Role
from imagechat.settings import get_settings
from imagechat.state import tabs
from imagechat.state.session import SessionState
from imagechat.state.usage import BudgetState
from imagechat.state.views import ConversationItem, as_id, as_text, as_uuid

log = logging.getLogger(__name__)

EXAMPLE_PROMPTS = (
    "Create an image of a sunset over mountains with a lake reflection",
    "A lighthouse on a cliff in a storm, watercolor",
    "A city skyline at night with neon lights",
)
STREAM_FLUSH_S = 0.05
MAX_SUGGESTIONS = 5
SUGGEST_MAX_CHARS = 200  # a longer draft is being written, not looked up
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
    label: str = ""  # what made it: "watercolor · 1792×1024 · high · gpt-image-2" (core.options.options_label)
    seed: str = ""  # "" where the engine takes none
    cost: str = ""  # its share of what its job was charged ("$0.042"), once the job has finished


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
    options: str = ""  # what the job was asked for: "2 images · watercolor · 1792×1024 · high · offline"
    examples: list[str] = dataclasses.field(default_factory=list)  # prompts offered in a reply, clickable
    text_after: str = ""  # the reply's text after its examples (`text` is what comes before them)
    from_library: bool = False  # the images of an identical earlier request, at no cost (core/cache.py)


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


def _image(ref: conversations.ImageRef, quality: str | None = None, cost: str = "") -> ChatImage:
    return ChatImage(id=ref.id, aspect=f"{max(ref.width, 1)} / {max(ref.height, 1)}", favorite=ref.favorite,
                     deleted=ref.deleted,
                     label=options_label(ref.style, ref.width, ref.height, quality, ref.engine, ref.model),
                     seed="" if ref.seed is None else str(ref.seed), cost=cost)


def _request_label(view: MessageView) -> str:
    p = view.job_params
    if not view.job_id or not isinstance(p.get("width"), int) or not isinstance(p.get("height"), int):
        return ""
    return options_label(p.get("style"), p["width"], p["height"], p.get("quality"), view.job_engine,
                         view.job_model, n=p.get("n") if isinstance(p.get("n"), int) else None)


def _share(view: MessageView) -> str:
    """Each image's share of its finished job's charge (what it actually cost)."""
    if view.job_status != JobStatus.SUCCEEDED or not view.images:
        return ""
    return costs.usd(view.job_cost_usd / len(view.images))


def shown_message(view: MessageView) -> ShownMessage:
    quality = view.job_params.get("quality")
    text, examples, after = (example_list(view.content) if view.role == Role.ASSISTANT and not view.job_id
                             else (view.content, [], ""))
    return ShownMessage(id=view.id, role=view.role, text=text, job_id=view.job_id or "",
                        status=view.job_status or "", error=view.job_error or "",
                        images=[_image(i, quality, _share(view)) for i in view.images],
                        prompt=view.images[0].prompt if view.images else "",
                        before=[_image(view.before)] if view.before else [], retryable=bool(view.error_code),
                        from_library=view.from_library,
                        options=_request_label(view), examples=examples, text_after=after)


@dataclasses.dataclass
class EngineItem:
    name: str
    label: str


@dataclasses.dataclass
class SuggestionItem:
    text: str
    kind: str  # "recent" (the user's own prompt) or "starter"


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
    unread: list[int] = []  # conversations where a job ended while another one was in view (state/session.py)
    draft: str = ""
    notice: str = ""  # a refusal of the input itself (empty, too long): shown above the composer
    drawer_open: bool = False
    renaming_id: int = 0
    album_dialog_open: bool = False
    _album_image: str = ""  # the image "New album..." was chosen for
    _pending: tuple[str, int, options.ComposerOptions | None] | None = None  # the turn `send` accepted
    _replying_since: float = 0.0

    # The composer's options (the chips under the message box); the words of a message win over them.
    options_open: bool = False
    opt_style: str = ""  # "" = no preset
    opt_aspect: str = "square"  # square | wide | tall | custom
    opt_width: int = 1024
    opt_height: int = 1024
    custom_width: str = "1024"  # the custom size fields as typed
    custom_height: str = "1024"
    size_hint: str = ""  # the size the chosen engine makes instead, or why a custom size was refused
    opt_quality: str = "auto"
    opt_count: int = 1
    opt_engine: str = ""  # "" = the configured engine
    opt_model: str = ""  # "" = the engine's configured model
    _options_restored: bool = False  # the account's remembered options were applied to this tab
    _options_saved: dict | None = None  # what the account holds (core/preferences.py), to skip writing it again
    engines: list[EngineItem] = []  # shown only when there are several
    models: list[str] = []  # the chosen engine's models, shown only when there are several
    # Prompt assistance: suggestions while typing, and Enhance's before/after.
    suggestions: list[SuggestionItem] = []
    enhance_open: bool = False
    enhancing: bool = False
    enhance_before: str = ""
    enhance_after: str = ""  # editable before it is accepted
    enhance_source: str = ""
    enhance_note: str = ""

    @rx.var
    def options_summary(self) -> str:
        """What the options button says: only what differs from plain defaults ("Options" when nothing does)."""
        parts = [self.opt_style.capitalize()] if self.opt_style else []
        if self.opt_aspect != "square":
            parts.append(f"{self.opt_width}×{self.opt_height}" if self.opt_aspect == "custom"
                         else self.opt_aspect.capitalize())
        if self.opt_quality != "auto":
            parts.append(f"{self.opt_quality.capitalize()} quality")
        if self.opt_count > 1:
            parts.append(f"{self.opt_count} images")
        if self.opt_model or self.opt_engine:
            parts.append(self.opt_model or next((e.label for e in self.engines if e.name == self.opt_engine),
                                                self.opt_engine))
        return " · ".join(parts)

    @rx.var
    def cost_line(self) -> str:
        """Under the message box: what the next request costs with these options, before it is sent."""
        engine = self.opt_engine or get_settings().resolved_engine()
        try:
            estimate = costs.estimate(engine, self.opt_model, self.opt_width, self.opt_height, self.opt_quality,
                                      self.opt_count, self.draft, style=self.opt_style or None)
        except ImagechatError:
            return ""
        if engine in costs.FREE_ENGINES:
            return f"Next image: {estimate.label}, made on this server."
        return f"Next image: {estimate.label} (sent to OpenAI; the actual cost shows on each image)."

    @rx.var
    def count_choices(self) -> list[int]:
        return list(range(1, get_settings().max_images_per_request + 1))

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
        if not self._options_restored:
            await self._restore_options(owner)
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
        self.unread = [c for c in self.unread if c != conversation_id]
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
    async def set_draft(self, value: str):
        """A change in the message box (Reflex sends it debounced): keep it and refresh the suggestions."""
        if (value := as_text(value, _draft_limit())) is None:
            return
        self.draft, self.notice = value, ""
        owner = await self._signed_in_user_id()
        if not owner or len(value) > SUGGEST_MAX_CHARS:
            self.suggestions = []
            return
        try:
            found = await asyncio.to_thread(suggestions.suggest, owner, value, MAX_SUGGESTIONS)
        except ImagechatError:
            found = []  # the database away for a moment: typing goes on without suggestions
        self.suggestions = [SuggestionItem(text=f.text, kind=f.kind) for f in found]

    @rx.event
    def use_prompt(self, prompt: str):
        if (prompt := as_text(prompt, get_settings().max_prompt_chars)) is not None:
            self.draft, self.suggestions = prompt, []
            return rx.set_focus("prompt-input")

    # ------------------------------------------------------------ prompt assistance

    @rx.event
    def use_suggestion(self, text: str):
        """One of the suggestions shown (only those: they were found for this user) goes into the message box."""
        if isinstance(text, str) and any(item.text == text for item in self.suggestions):
            self.draft, self.suggestions, self.notice = text, [], ""
            return rx.set_focus("prompt-input")

    @rx.event
    def hide_suggestions(self):
        self.suggestions = []

    @rx.event
    async def surprise(self):
        """A good random prompt from the curated starters (a different one each press)."""
        if not await self._signed_in_user_id():
            return
        self.draft, self.suggestions, self.notice = suggestions.surprise(avoid=self.draft), [], ""
        return rx.set_focus("prompt-input")

    @rx.event(background=True)
    async def enhance(self):
        """Rewrite the draft with more detail (core/enhance.py) and show it as an editable before/after."""
        async with self:
            owner = await self._signed_in_user_id()
            if not owner or self.enhancing:
                return
            draft, self.enhancing, self.suggestions, self.notice = self.draft, True, [], ""
        try:
            result = await enhance.enhance(owner, draft)
        except ImagechatError as exc:
            async with self:
                self.enhancing, self.notice = False, exc.user_message
            return
        except Exception:
            log.exception("prompt enhancement failed", extra={"user_id": owner})
            async with self:
                self.enhancing = False
                self.notice = "Something went wrong while enhancing; your prompt is unchanged. Try again."
            return
        async with self:
            self.enhancing, self.enhance_open = False, True
            self.enhance_before, self.enhance_after = result.before, result.after
            self.enhance_source = ("Rewritten by the chat model" if result.source == enhance.CHAT_MODEL
                                   else "Offline enhancer: details from a curated list")
            self.enhance_note = result.note
        yield rx.set_focus("enhance-after")

    @rx.event
    def set_enhance_after(self, value: str):
        if self.enhance_open and (value := as_text(value, _draft_limit())) is not None:
            self.enhance_after = value

    @rx.event
    def accept_enhance(self):
        """The (possibly edited) enhanced prompt replaces the draft."""
        if not self.enhance_open:
            return
        after = self.enhance_after.strip()
        if len(after) > get_settings().max_prompt_chars:
            self.enhance_note = f"Keep it under {get_settings().max_prompt_chars} characters."
            return
        self.draft = after or self.draft
        self._close_enhance()
        return rx.set_focus("prompt-input")

    @rx.event
    def discard_enhance(self):
        if self.enhance_open:
            self._close_enhance()
            return rx.set_focus("prompt-input")

    def _close_enhance(self) -> None:
        self.enhance_open = False
        self.enhance_before = self.enhance_after = self.enhance_source = self.enhance_note = ""

    # ------------------------------------------------------------ composer options

    def _load_engines(self) -> None:
        choices = options.engine_choices()
        self.engines = [EngineItem(name=c.name, label=c.label) for c in choices] if len(choices) > 1 else []
        chosen = next((c for c in choices if c.name == self.opt_engine), choices[0] if choices else None)
        if chosen is None or (self.opt_engine and chosen.name != self.opt_engine):
            self.opt_engine = self.opt_model = ""
        models = list(chosen.models) if chosen else []
        if self.opt_model not in models:
            self.opt_model = ""
        self.models = models if len(models) > 1 else []

    def _options(self) -> options.ComposerOptions:
        """The chips as a checked ComposerOptions (InvalidRequest when the server changed under them)."""
        return options.check_options(style=self.opt_style, width=self.opt_width, height=self.opt_height,
                                     quality=self.opt_quality, n=self.opt_count, engine=self.opt_engine,
                                     model=self.opt_model)

    def _check_size(self) -> None:
        """Say which size the chosen engine makes when it cannot make the chosen one exactly."""
        try:
            made = options.made_size(self._options())
        except ImagechatError as exc:
            self.size_hint = exc.user_message
            return
        self.size_hint = ("" if made == (self.opt_width, self.opt_height) else
                          f"This engine makes {made[0]}×{made[1]}, the nearest size to "
                          f"{self.opt_width}×{self.opt_height}.")

    async def _restore_options(self, owner: int) -> None:
        """A new tab starts from the options the user last chose (on any tab or browser)."""
        try:
            remembered = await asyncio.to_thread(preferences.load_composer, owner)
        except ImagechatError:
            return  # the defaults, and the next load tries again
        self._options_restored = True
        if remembered is None:
            return
        self._apply_options(remembered.options, remembered.aspect)
        self._options_saved = preferences.as_json(remembered)

    def _apply_options(self, o: options.ComposerOptions, aspect: str) -> None:
        self.opt_style, self.opt_quality, self.opt_count = o.style or "", o.quality, o.n
        self.opt_aspect, self.opt_width, self.opt_height = aspect, o.width, o.height
        self.custom_width, self.custom_height = str(o.width), str(o.height)
        self.opt_engine, self.opt_model = o.engine or "", o.model or ""

    async def _remember_options(self, owner: int) -> None:
        """The options just closed become the account's (written only when they changed)."""
        try:
            chosen = preferences.Composer(self._options(), self.opt_aspect)
        except ImagechatError:
            return  # the server changed under them: nothing worth keeping
        wanted = preferences.as_json(chosen)
        if wanted == self._options_saved:
            return
        try:
            await asyncio.to_thread(preferences.save_composer, owner, chosen)
        except ImagechatError:
            log.warning("could not remember the composer options", exc_info=True)
            return  # they still apply in this tab; closing the options again retries
        self._options_saved = wanted

    @rx.event
    async def set_options_open(self, open_: bool):
        if open_ is not True:
            self.options_open = False
            if owner := await self._signed_in_user_id():
                await self._remember_options(owner)
            return
        if await self._signed_in_user_id():
            self._load_engines()  # what the server offers now
            self._check_size()
            self.options_open = True

    @rx.event
    def pick_style(self, style: str):
        """A style chip: pressing the chosen one again (or "None") takes it off."""
        if isinstance(style, str) and (style == "" or style in STYLES):
            self.opt_style = "" if style == self.opt_style else style

    @rx.event
    def pick_aspect(self, aspect: str):
        if not isinstance(aspect, str):
            return
        if aspect in options.ASPECTS:
            self.opt_aspect = aspect
            self.opt_width, self.opt_height = options.ASPECTS[aspect]
            self._check_size()
        elif aspect == "custom":
            self.opt_aspect = "custom"
            self.size_hint = "Type a width and a height, then Apply."

    @rx.event
    def set_custom_width(self, value: str):
        if (value := as_text(value, 8)) is not None:
            self.custom_width = value.strip()

    @rx.event
    def set_custom_height(self, value: str):
        if (value := as_text(value, 8)) is not None:
            self.custom_height = value.strip()

    @rx.event
    def apply_custom_size(self):
        """The custom size fields: whole numbers within the parser's bounds; the engine's own rule is told in the
        hint (the size it makes instead)."""
        w, h = self.custom_width, self.custom_height
        if not all(v.isascii() and v.isdigit() and len(v) <= 5 for v in (w, h)):
            self.size_hint = "Width and height are whole numbers of pixels, such as 1536 and 1024."
            return
        width, height = int(w), int(h)
        if not (options.MIN_SIDE <= width <= options.MAX_SIDE and options.MIN_SIDE <= height <= options.MAX_SIDE):
            self.size_hint = f"Each side must be from {options.MIN_SIDE} to {options.MAX_SIDE} pixels."
            return
        self.opt_aspect, self.opt_width, self.opt_height = "custom", width, height
        self._check_size()

    @rx.event
    def pick_quality(self, quality: str):
        if isinstance(quality, str) and quality in QUALITIES:
            self.opt_quality = quality

    @rx.event
    def pick_count(self, n: int):
        if type(n) is int and 1 <= n <= get_settings().max_images_per_request:
            self.opt_count = n

    @rx.event
    def pick_engine(self, name: str):
        """An engine the server offers ("" = the configured one); its models reload, its size rule applies."""
        if not isinstance(name, str) or (name and name not in {e.name for e in self.engines}):
            return
        configured = self.engines[0].name if self.engines else ""
        self.opt_engine, self.opt_model = ("" if name == configured else name), ""
        self._load_engines()
        self._check_size()

    @rx.event
    def pick_model(self, name: str):
        if isinstance(name, str) and (name == "" or name in self.models):
            self.opt_model = "" if self.models and name == self.models[0] else name
            self._check_size()

    @rx.event
    def reset_options(self):
        self._apply_options(options.ComposerOptions(), "square")
        self.size_hint = ""
        self._load_engines()

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
        try:
            chosen = self._options()
        except ImagechatError as exc:
            self.notice = exc.user_message + " Check the options under the message box."
            return
        self.draft, self.notice, self.suggestions = "", "", []
        self._pending, self._replying_since = (text, self.current_id, chosen), time.time()
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
        text, conversation_id, chosen = pending
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
            turn = await chat.respond(owner, conversation_id, text, on_delta, options=chosen)
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

    def _mark_unread(self, conversation_id: int) -> None:
        """A job of that conversation ended while it was not in view (not an event: the session watcher's)."""
        if conversation_id not in self.unread:
            self.unread = [*self.unread, conversation_id][-50:]

    async def _turn_here(self, make):
        """Run a domain call that adds a turn to the current conversation; show its messages (or its refusal)."""
        owner = await self._signed_in_user_id()
        if not owner or not self.current_id:
            return None
        try:
            turn = await asyncio.to_thread(make, owner, self.current_id)
            views = await asyncio.to_thread(conversations.messages, owner, self.current_id,
                                            message_ids=[turn.user_message_id, turn.assistant_message_id])
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        await self._append(views, turn)
        return await self._shown()

    @rx.event
    async def generate_anyway(self, message_id: int):
        """A new generation for a request the library answered (the button on that answer)."""
        message_id = as_id(message_id)
        view = await self.get_state(ChatView)
        if not message_id or not any(m.id == message_id and m.from_library for m in view._shown_items()):
            return None
        return await self._turn_here(lambda owner, conv: chat.generate_anyway(owner, conv, message_id))

    @rx.event
    async def continue_from(self, image_id: str):
        """"Continue from this one" on an image of a batch shown here: the next change works on it."""
        image_id = as_uuid(image_id)
        view = await self.get_state(ChatView)
        if not image_id or view._find_image(image_id) is None:
            return None
        return await self._turn_here(lambda owner, conv: chat.continue_from(owner, conv, uuid.UUID(image_id)))

    @rx.event
    async def variations(self, image_id: str):
        """Three new takes on one image (same prompt and style, new seeds)."""
        image_id = as_uuid(image_id)
        if not image_id:
            return None
        return await self._turn_here(lambda owner, conv: chat.variations_of(owner, conv, uuid.UUID(image_id)))

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
                            shown = [e for e in pending.values() if e.job_id in prog.live]
                            ended = {e.job_id: e for e in pending.values() if apply_progress(prog.live, e)}
                            pending.clear()
                            wanted = set(prog.live) - set(ended)
                            if not prog.live or not tabs.tab_connected(client_token):
                                # Released under the lock: a job added after this check starts a new watcher.
                                tabs.release("progress", client_token, me)
                                done = True
                            else:
                                done = False
                        await sub.delivered(shown)  # the fan-out latency on /metrics
                        if ended:
                            await self._finish_jobs(owner, ended)
                            # The budget warning above the composer follows what the finished jobs cost.
                            yield [rx.call_script(FOLLOW_JS), BudgetState.refresh]
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
