"""The image detail view: one image with every fact, its lineage, a compare slider and its actions.

The open image lives in the URL as ?image=<id> (pushed when the view opens, replaced while moving with the
arrows, taken off when it closes), so a reload, the back button and a bookmark show the same image; the
gallery page's on_load calls `load`, which follows the URL both ways. Prev/next follow the gallery's own
order: its query is read from the same URL (core.gallery.parse_query), never from another state.

Every public method is an endpoint any websocket client can call with anything: each checks the session and
its arguments. The actions take no image id from the browser: they act on backend-only vars (`_image_id`,
`_lineage_ids`) loaded for the signed-in owner; the public vars are only what is drawn.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import datetime

import reflex as rx

from imagechat.core import chat, gallery, organise
from imagechat.core.errors import ImagechatError, NotFound
from imagechat.core.styles import STYLES
from imagechat.core.text import unmarked
from imagechat.core.urls import chat_url, image_url, mask_url
from imagechat.state.chat import ChatState
from imagechat.state.gallery import GalleryState
from imagechat.state.session import SessionState
from imagechat.state.views import as_uuid

NOT_YOURS = "That image doesn't exist, or it isn't yours."
SQUARE = (1024, 1024)  # the chat's default size: not repeated in a reused prompt
KINDS = {"generate": "Original", "restyle": "Restyle", "variation": "Variation"}
MASK_AGAIN = "The painted area didn't arrive. Press Apply again."
MAX_MASK_PROMPT = 4000  # chat.edit_in_chat says what the real limit is; longer text is not even looked at


# ---------------------------------------------------------------- what the view draws (pure)


@dataclasses.dataclass
class DetailFacts:
    id: str = ""
    src: str = ""
    prompt: str = ""
    revised_prompt: str = ""
    style: str = ""
    engine: str = ""
    model: str = ""
    seed: str = ""
    size: str = ""
    stored: str = ""
    cost: str = ""
    created: str = ""
    kind: str = ""
    width: int = 0
    height: int = 0
    # The mask editor's frame: as large as the stage allows at the image's own shape (CSS container units).
    frame_width: str = ""
    mask_upload: str = ""  # where the mask editor POSTs the painted mask (api/masks.py)
    phone_stage: str = "56dvh"  # the mask editor's stage height on a phone: no taller than the image needs
    chat_href: str = ""  # "" when the image belongs to no conversation (command line, deleted chat)
    favorite: bool = False
    tags: list[str] = dataclasses.field(default_factory=list)
    albums: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class LineageCard:
    id: str
    number: int  # 1 = the root; matches the labels of the compare pickers
    label: str  # "2 · Restyle (watercolor)"
    caption: str  # "Restyle" / "Original" / "This image"
    style: str
    relation: str  # "ancestor" | "self" | "descendant"
    depth: int  # descendants: 1 = made from this image, 2 = made from one of those, ...


def human_bytes(size: int) -> str:
    value = float(max(0, size))
    for unit in ("bytes", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # not reached


def money(usd: float) -> str:
    if not usd:
        return "$0.00 (nothing charged)"
    return f"${usd:.2f}" if usd >= 0.1 else f"${usd:.4f}".rstrip("0")


def when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def facts_of(d: gallery.ImageDetail) -> DetailFacts:
    chat_href = chat_url(d.conversation_id, d.message_id) if d.conversation_id else ""
    return DetailFacts(
        id=str(d.id), src=image_url(str(d.id)), prompt=d.prompt, revised_prompt=d.revised_prompt or "",
        style=d.style or "", engine=d.engine, model=d.model or "",
        seed="" if d.seed is None else str(d.seed), size=f"{d.width}x{d.height}",
        stored=f"{human_bytes(d.byte_size)} ({d.mime})", cost=money(d.cost_usd), created=when(d.created_at),
        kind=KINDS.get(d.kind, d.kind), width=d.width, height=d.height,
        frame_width=f"min(100cqw, calc(100cqh * {d.width / max(1, d.height):.6f}))", mask_upload=mask_url(str(d.id)),
        phone_stage=f"min(56dvh, {100 * d.height / max(1, d.width):.3f}vw)",
        chat_href=chat_href, favorite=bool(d.favorite), tags=list(d.tags),
        albums=[a.name for a in d.albums],
    )


def _caption(kind: str, style: str) -> str:
    name = KINDS.get(kind, kind or "Image")
    return f"{name} ({style})" if style and kind != "variation" else name


def lineage_of(d: gallery.ImageDetail) -> list[LineageCard]:
    """Ancestors root first, then the image itself, then what was made from it (breadth-first)."""
    cards: list[LineageCard] = []

    def add(item_id: str, caption: str, style: str, relation: str, depth: int) -> None:
        number = len(cards) + 1
        cards.append(LineageCard(id=item_id, number=number, label=f"{number} · {caption}", caption=caption,
                                 style=style, relation=relation, depth=depth))

    for a in d.ancestors:
        add(str(a.id), _caption(a.kind, a.style or ""), a.style or "", "ancestor", 0)
    add(str(d.id), "This image", d.style or "", "self", 0)
    for item in d.descendants:
        add(str(item.id), _caption(item.kind, item.style or ""), item.style or "", "descendant", item.depth)
    return cards


def default_pair(cards: list[LineageCard]) -> tuple[str, str]:
    """Before/after to compare first: the source and this image, else this image and its first offspring."""
    me = next((i for i, c in enumerate(cards) if c.relation == "self"), 0)
    if len(cards) < 2:
        return "", ""
    if me > 0:
        return cards[me - 1].id, cards[me].id
    return cards[me].id, cards[me + 1].id


def reuse_text(prompt: str, style: str, width: int, height: int) -> str:
    """The prompt with its settings in words the chat's parser reads back ("…, in watercolor style, 1792x1024")."""
    text = prompt.strip().rstrip(".")
    if style and style.lower() not in text.lower():
        text += f", in {style} style"
    if (width, height) != SQUARE:
        text += f", {width}x{height}"
    return text


def url_script(image_id: str, *, push: bool) -> str:
    """Put ?image=<id> in the address bar, keeping the gallery's other parameters. `image_id` must be a
    canonical UUID (checked by the caller): this string is evaluated in the browser. A pushed entry is
    marked so that closing the view can go back over it instead of leaving a duplicate behind."""
    if not image_id or image_id != as_uuid(image_id):
        raise ValueError("not a canonical UUID")
    if push:
        write = 'window.history.pushState({...(window.history.state || {}), imagechatDetail: true}, "", u)'
    else:
        write = 'window.history.replaceState(window.history.state, "", u)'
    return ('(() => { const u = new URL(window.location.href); '
            f'u.searchParams.set("image", "{image_id}"); {write}; }})()')


# Closing: back over the entry the view pushed (so Back later does not reopen it), else just drop the parameter.
CLOSE_SCRIPT = (
    '(() => { const u = new URL(window.location.href); if (!u.searchParams.has("image")) return;'
    ' if (window.history.state && window.history.state.imagechatDetail) { window.history.back(); return; }'
    ' u.searchParams.delete("image"); window.history.replaceState(window.history.state, "", u); })()'
)


# ---------------------------------------------------------------- domain steps (no Reflex)


def _load(owner_id: int, image_id: uuid.UUID, params) -> tuple[gallery.ImageDetail, tuple[str | None, str | None]]:
    detail = gallery.detail(owner_id, image_id)
    return detail, gallery.neighbours(owner_id, gallery.parse_query(params), image_id)


# ---------------------------------------------------------------- the state


class DetailState(SessionState):
    facts: DetailFacts = DetailFacts()
    lineage: list[LineageCard] = []
    has_prev: bool = False
    has_next: bool = False
    comparing: bool = False  # the stage shows the compare slider instead of the image
    masking: bool = False  # the stage shows the mask editor (paint the area to change) instead of the image
    compare_a: str = ""
    compare_b: str = ""
    _image_id: str = ""
    _lineage_ids: list[str] = []
    _reuse: str = ""  # the prompt with its settings, for "Reuse settings"
    _favorite: bool = False

    # ------------------------------------------------------------ helpers

    @rx.var
    def compare_a_src(self) -> str:
        return image_url(self.compare_a) if as_uuid(self.compare_a) else ""

    @rx.var
    def compare_b_src(self) -> str:
        return image_url(self.compare_b) if as_uuid(self.compare_b) else ""

    @rx.var
    def compare_a_label(self) -> str:
        return next((c.label for c in self.lineage if c.id == self.compare_a), "")

    @rx.var
    def compare_b_label(self) -> str:
        return next((c.label for c in self.lineage if c.id == self.compare_b), "")

    def _clear(self) -> None:
        self.facts, self.lineage, self.comparing, self.masking = DetailFacts(), [], False, False
        self.has_prev = self.has_next = False
        self.compare_a = self.compare_b = ""
        self._image_id, self._lineage_ids, self._reuse, self._favorite = "", [], "", False

    async def _show(self, owner: int, image_id: str) -> None:
        """Load one of the owner's images into the view (NotFound for anything else)."""
        detail, (prev_id, next_id) = await asyncio.to_thread(
            _load, owner, uuid.UUID(image_id), dict(self.router.url.query_parameters))
        same = image_id == self._image_id
        self.facts, self.lineage = facts_of(detail), lineage_of(detail)
        self.has_prev, self.has_next = bool(prev_id), bool(next_id)
        self._image_id, self._favorite = image_id, bool(detail.favorite)
        self._lineage_ids = [c.id for c in self.lineage]
        self._reuse = reuse_text(detail.prompt, detail.style or "", detail.width, detail.height)
        if not same or not {self.compare_a, self.compare_b} <= set(self._lineage_ids):
            self.compare_a, self.compare_b = default_pair(self.lineage)
            self.comparing = False
        if not same:
            self.masking = False

    async def _open(self, owner: int, image_id: str, *, push: bool):
        try:
            await self._show(owner, image_id)
        except NotFound:
            was_open = bool(self._image_id)
            self._clear()
            return [rx.toast.error(NOT_YOURS), *([rx.call_script(CLOSE_SCRIPT)] if was_open else [])]
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        return rx.call_script(url_script(image_id, push=push))

    # ------------------------------------------------------------ opening, closing, moving

    @rx.event
    async def open(self, image_id: str):
        """Show one image (a card's click, the lineage strip)."""
        owner = await self._signed_in_user_id()
        if not owner:
            return rx.redirect("/login")
        image_id = as_uuid(image_id)
        if not image_id:
            return rx.toast.error(NOT_YOURS)
        return await self._open(owner, image_id, push=not self._image_id)

    @rx.event
    async def load(self):
        """on_load of the gallery page: open the image named by ?image=, or close when it is gone (Back)."""
        owner = await self._signed_in_user_id()
        if not owner:
            self._clear()
            return
        raw = self.router.url.query_parameters.get("image", "")
        image_id = as_uuid(raw)
        if not raw:
            self._clear()
            return
        if not image_id:
            self._clear()
            return [rx.toast.error(NOT_YOURS), rx.call_script(CLOSE_SCRIPT)]
        try:
            await self._show(owner, image_id)
        except NotFound:
            self._clear()
            return [rx.toast.error(NOT_YOURS), rx.call_script(CLOSE_SCRIPT)]
        except ImagechatError as exc:
            self._clear()
            return rx.toast.error(exc.user_message)

    @rx.event
    async def close(self):
        owner = await self._signed_in_user_id()
        was_open = bool(self._image_id)
        self._clear()
        if owner and was_open:
            return rx.call_script(CLOSE_SCRIPT)

    @rx.event
    async def dismiss(self, open_: bool):
        """The dialog's on_open_change: Esc, a click outside, the close button."""
        if open_ is False:
            return await self.close()

    @rx.event
    def forget(self):
        """Leaving the page through a link in the view (its conversation): close without touching the URL,
        so Back returns to this image."""
        self._clear()

    async def _step(self, forward: bool):
        owner = await self._signed_in_user_id()
        if not owner or not self._image_id:
            return
        query = gallery.parse_query(dict(self.router.url.query_parameters))
        try:
            prev_id, next_id = await asyncio.to_thread(gallery.neighbours, owner, query, uuid.UUID(self._image_id))
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        target = as_uuid(next_id if forward else prev_id)
        if not target:
            self.has_next, self.has_prev = (False, self.has_prev) if forward else (self.has_next, False)
            return
        return await self._open(owner, target, push=False)

    @rx.event
    async def next(self):
        return await self._step(True)

    @rx.event
    async def prev(self):
        return await self._step(False)

    # ------------------------------------------------------------ compare

    async def _in_lineage(self, image_id: object) -> str:
        """The id when it is one of the open image's lineage (loaded for the signed-in owner), else ""."""
        image_id = as_uuid(image_id)
        return image_id if image_id in self._lineage_ids and await self._signed_in_user_id() else ""

    @rx.event
    async def set_compare_a(self, image_id: str):
        if image_id := await self._in_lineage(image_id):
            self.compare_a, self.comparing = image_id, True

    @rx.event
    async def set_compare_b(self, image_id: str):
        if image_id := await self._in_lineage(image_id):
            self.compare_b, self.comparing = image_id, True

    @rx.event
    async def toggle_compare(self):
        if len(self._lineage_ids) >= 2 and await self._signed_in_user_id():
            self.comparing = not self.comparing

    # ------------------------------------------------------------ edit with a mask

    @rx.event
    async def start_mask(self):
        """Open the mask editor over the large image (assets/mask-editor.js paints in the browser)."""
        if self._image_id and await self._signed_in_user_id():
            self.masking, self.comparing = True, False

    @rx.event
    async def cancel_mask(self):
        if await self._signed_in_user_id():
            self.masking = False

    @rx.event
    async def apply_mask(self, result: dict):
        """The mask editor's Apply, after it uploaded the painted mask (api/masks.py): `result` is
        {"ticket": ..., "prompt": "add a boat here"} from the browser, or null when it said what to fix itself.
        The ticket only redeems a mask this user uploaded for this image (core.masks.take); the edit goes into
        the image's conversation (chat.edit_in_chat) and the chat opens on it."""
        owner = await self._signed_in_user_id()
        if not owner or not self._image_id or not self.masking or not isinstance(result, dict):
            return
        ticket, prompt = result.get("ticket"), result.get("prompt")
        if not isinstance(ticket, str) or not isinstance(prompt, str):
            return rx.toast.error(MASK_AGAIN)
        try:
            conversation_id, turn = await asyncio.to_thread(
                chat.edit_in_chat, owner, uuid.UUID(self._image_id), ticket, prompt[:MAX_MASK_PROMPT])
        except ImagechatError as exc:
            return rx.toast.error(unmarked(exc.user_message))
        self._clear()
        return rx.redirect(chat_url(conversation_id, turn.assistant_message_id))

    # ------------------------------------------------------------ actions

    @rx.event
    async def toggle_favorite(self):
        owner = await self._signed_in_user_id()
        if not owner or not self._image_id:
            return
        wanted = not self._favorite
        try:
            changed = await asyncio.to_thread(organise.set_favorite, owner, [uuid.UUID(self._image_id)], wanted)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        if not changed:  # starred elsewhere meanwhile, or gone: the database says which
            try:
                wanted = (await asyncio.to_thread(gallery.detail, owner, uuid.UUID(self._image_id))).favorite
            except NotFound:
                self._clear()
                return [rx.toast.error(NOT_YOURS), rx.call_script(CLOSE_SCRIPT)]
            except ImagechatError as exc:
                return rx.toast.error(exc.user_message)
        self._favorite = self.facts.favorite = wanted
        # The card behind the view shows the same star (only a card already loaded for this owner).
        grid = await self.get_state(GalleryState)
        grid._update_cards({self._image_id}, favorite=wanted)

    @rx.event
    async def reuse_settings(self):
        """The prompt and its style (and size) into the chat's composer, in the image's conversation."""
        owner = await self._signed_in_user_id()
        if not owner or not self._image_id:
            return
        try:
            conversation_id = await asyncio.to_thread(chat.conversation_of_image, owner, uuid.UUID(self._image_id))
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        chat_state = await self.get_state(ChatState)  # its load keeps the draft; ?c= opens the conversation
        chat_state.draft, chat_state.notice = self._reuse, ""
        self._clear()
        return rx.redirect(chat_url(conversation_id))

    async def _into_chat(self, work, *args):
        owner = await self._signed_in_user_id()
        if not owner or not self._image_id:
            return
        try:
            conversation_id, turn = await asyncio.to_thread(work, owner, uuid.UUID(self._image_id), *args)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        self._clear()
        return rx.redirect(chat_url(conversation_id, turn.assistant_message_id))

    @rx.event
    async def variations(self):
        return await self._into_chat(chat.variations_in_chat)

    @rx.event
    async def restyle(self, style: str):
        if not isinstance(style, str) or style not in STYLES:
            return rx.toast.error(f"Choose one of these styles: {', '.join(STYLES)}.")
        return await self._into_chat(chat.restyle_in_chat, style)

    @rx.event
    async def delete(self):
        """Close the view and delete through the gallery's own handler: it drops the card, shows the Undo
        toast (organise.restore_images) and puts the card back in its place on undo."""
        owner = await self._signed_in_user_id()
        if not owner or not self._image_id:
            return
        image_id = self._image_id
        self._clear()
        return [rx.call_script(CLOSE_SCRIPT), GalleryState.delete(image_id)]
