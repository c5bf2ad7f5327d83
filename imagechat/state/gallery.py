"""The gallery page: every image of the user, found by search and filters, organised, selected in bulk.

The grid is WINDOWED: the state holds at most WINDOW_PAGES pages of cards (never the whole result, which
would be resent over the websocket on every change). Pages scrolled far past are dropped; what is needed to
fetch them again (their keyset cursor and card count) stays in backend-only vars, and the page draws spacers
of the same height in their place (components/gallery_grid.py + assets/gallery-window.jsx). The browser asks
for the next or previous page through sentinels near the ends of the window, passing the window's version
so a duplicate request is ignored.

Search, filters and sort live in the URL: a change redirects (client-side, no reload) to /gallery?<params>
built from `gallery.query_params` of a query that went through `gallery.parse_query`, so only validated values
reach the URL; `load` (on_load, which also runs on back/forward) reads the URL back the same way.

Every public method is an endpoint anyone can call with any arguments: each checks the session and the
shape of its arguments first. Lists of ids are capped and each id validated.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
import uuid
from urllib.parse import quote, urlencode

import reflex as rx

from imagechat.core import export, gallery, organise, urls
from imagechat.core.errors import ImagechatError
from imagechat.core.gallery_view import FIRST_PAGE, GalleryCard, card_view
from imagechat.core.text import unmarked
from imagechat.settings import get_settings
from imagechat.state.session import SessionState
from imagechat.state.views import as_id, as_text, as_uuid

WINDOW_PAGES = 4  # pages of cards kept in the state (and the DOM) at once
SEARCH_CHARS = 200  # the longest search text accepted from the box
TAG_INPUT_CHARS = 100  # typed tag text; organise.clean_tag gives the real limit and message
ALBUM_NAME_CHARS = 200
MAX_IDS = gallery.MAX_SELECTION
# The URL we build only ever holds percent-encoded query values; checked again before it leaves.
_SAFE_URL = re.compile(r"^/gallery(\?[A-Za-z0-9%._~=&+-]*)?$")
_TICKET = re.compile(r"^[A-Za-z0-9_-]{16,200}$")
FILTER_KEYS = ("style", "engine", "model", "aspect", "size", "from", "to", "fav", "album", "tag", "edits", "sort")


@dataclasses.dataclass
class AlbumItem:
    id: int
    name: str
    count: int
    cover: str  # thumbnail URL or ""


def _album(view) -> AlbumItem:
    return AlbumItem(id=view.id, name=view.name, count=view.count,
                     cover=urls.thumb_url(view.cover_image_id) if view.cover_image_id else "")


def gallery_url(query: gallery.GalleryQuery) -> str:
    """/gallery plus the query's non-default params, percent-encoded (no character Reflex could parse)."""
    params = gallery.query_params(query)
    url = "/gallery" + ("?" + urlencode(params, quote_via=quote, safe="") if params else "")
    return url if _SAFE_URL.match(url) else "/gallery"


def _limit(cursor: str | None) -> int:
    """The size of the page a cursor starts: the first page (no cursor) is the smaller one."""
    return FIRST_PAGE if cursor is None else gallery.PAGE_SIZE


def _ids(values: object) -> list[uuid.UUID] | None:
    """A list of image ids from the browser: None unless a list of at most MAX_IDS well-formed UUIDs."""
    if not isinstance(values, list) or len(values) > MAX_IDS:
        return None
    out = []
    for value in values:
        text = as_uuid(value)
        if not text:
            return None
        out.append(uuid.UUID(text))
    return out


class GalleryState(SessionState):
    # ---- the view (what the URL says)
    search_text: str = ""
    search_key: int = 0  # bumped when the URL changed the search under the (uncontrolled) box: remount it
    f_style: str = ""
    f_engine: str = ""
    f_model: str = ""
    f_aspect: str = ""
    f_size: str = ""
    f_from: str = ""
    f_to: str = ""
    f_fav: bool = False
    f_album: str = ""  # album id as text ("" = any): what the select shows
    f_tag: str = ""
    f_edits: bool = False
    f_sort: str = "newest"
    filters_open: bool = False  # the phone's filter sheet
    filtered: bool = False  # any filter or search active: "Clear" is offered

    # ---- the window of cards
    cards: list[GalleryCard] = []
    total: int = -1  # -1 until the first load
    before: int = 0  # cards above the window (dropped, fetchable again)
    after: int = 0  # cards below the window (dropped, fetchable again)
    has_more: bool = False
    window_key: int = 0

    # ---- facets
    styles: list[str] = []
    engines: list[str] = []
    models: list[str] = []
    sizes: list[str] = []
    tag_names: list[str] = []
    albums: list[AlbumItem] = []

    # ---- selection
    selected: list[str] = []
    all_matching: bool = False
    excluded: list[str] = []
    selection_count: int = 0

    # ---- dialogs
    tag_dialog_open: bool = False
    tag_targets: list[str] = []
    tag_current: list[str] = []  # tags of the one target image (empty for bulk)
    tag_suggestions: list[str] = []
    album_dialog_open: bool = False
    album_targets: list[str] = []
    renaming_album: int = 0

    # ---- backend only
    _query: gallery.GalleryQuery | None = None
    _chunks: list[tuple[str | None, int]] = []  # (cursor that fetched it, cards) per page in the window
    _above: list[tuple[str | None, int]] = []  # dropped pages above, top first
    _below: list[tuple[str | None, int]] = []  # dropped pages below, nearest first
    _tail_cursor: str | None = None  # the cursor after the lowest page ever fetched (None: the end)
    _anchor: str = ""  # the last checkbox clicked without shift
    _matching: list[str] = []  # ids of "select all N matching"
    _typed: str = ""  # the last text the search box sent
    _undo_ids: list[str] = []
    _undo_cards: list[tuple[int, GalleryCard]] = []
    _undo_until: float = 0.0

    # ------------------------------------------------------------ labels

    @rx.var
    def total_label(self) -> str:
        return f"{max(self.total, 0):,}"

    @rx.var
    def count_label(self) -> str:
        if self.total < 0:
            return "Loading…"
        return f"{self.total:,} image{'' if self.total == 1 else 's'}"

    @rx.var
    def selection_label(self) -> str:
        return f"{self.selection_count:,} selected"

    # ------------------------------------------------------------ helpers

    def _q(self) -> gallery.GalleryQuery:
        return self._query or gallery.GalleryQuery()

    def _show_query(self, q: gallery.GalleryQuery) -> None:
        self._query = q
        if q.text != self._typed:
            self.search_key += 1  # back/forward or a bookmark: the box shows the URL's text
        self.search_text = self._typed = q.text
        self.f_style, self.f_engine, self.f_model = q.style, q.engine, q.model
        self.f_aspect, self.f_size, self.f_tag = q.aspect, q.size, q.tag
        self.f_from = q.date_from.isoformat() if q.date_from else ""
        self.f_to = q.date_to.isoformat() if q.date_to else ""
        self.f_fav, self.f_edits, self.f_sort = bool(q.favorites), bool(q.has_edits), q.sort
        self.f_album = str(q.album_id) if q.album_id else ""
        self.filtered = q != gallery.GalleryQuery(sort=q.sort)

    async def _fetch(self, owner: int, cursor: str | None, limit: int = gallery.PAGE_SIZE) -> gallery.Page:
        return await asyncio.to_thread(gallery.page, owner, self._q(), cursor=cursor, limit=limit)

    def _cards(self, page: gallery.Page) -> list[GalleryCard]:
        return [card_view(c, self._q().text) for c in page.cards]

    def _sync_window(self) -> None:
        self.before = sum(n for _, n in self._above)
        self.after = sum(n for _, n in self._below)
        self.has_more = bool(self._below) or self._tail_cursor is not None
        self.window_key += 1

    async def _reload(self, owner: int, *, facets: bool) -> None:
        """The first page, the count (and the facets) of the current query, all at once."""
        jobs = [self._fetch(owner, None, FIRST_PAGE), asyncio.to_thread(gallery.count, owner, self._q())]
        if facets:
            jobs.append(asyncio.to_thread(gallery.facets, owner))
        page, total, *rest = await asyncio.gather(*jobs)
        self.cards = self._cards(page)
        self.total = total
        self._chunks = [(None, len(page.cards))]
        self._above, self._below, self._tail_cursor = [], [], page.next_cursor
        self._sync_window()
        self._clear_selection()
        if rest:
            self._set_facets(rest[0])

    def _set_facets(self, facets: gallery.Facets) -> None:
        self.styles, self.engines = list(facets.styles), list(facets.engines)
        self.models, self.sizes, self.tag_names = list(facets.models), list(facets.sizes), list(facets.tags)
        self.albums = [_album(a) for a in facets.albums]

    async def _refresh_facets(self, owner: int) -> None:
        self._set_facets(await asyncio.to_thread(gallery.facets, owner))

    def _clear_selection(self) -> None:
        self.selected, self.excluded, self._matching = [], [], []
        self.all_matching, self.selection_count, self._anchor = False, 0, ""

    def _count_selection(self) -> None:
        if self.all_matching:
            self.selection_count = len(self._matching) - len(self.excluded)
        else:
            self.selection_count = len(self.selected)

    def _selection(self) -> list[uuid.UUID]:
        if self.all_matching:
            excluded = set(self.excluded)
            return [uuid.UUID(i) for i in self._matching if i not in excluded]
        return _ids(list(self.selected)) or []

    def _redirect_to(self, q: gallery.GalleryQuery, *, replace: bool = False):
        return rx.redirect(gallery_url(q), replace=replace)

    def _params(self) -> dict[str, str]:
        return dict(gallery.query_params(self._q()))

    def _targets(self, image_id: object, *, shown: bool) -> list[uuid.UUID]:
        """What a card action or a bulk action works on: the one image named (a well-formed id; with `shown`,
        only a card in the window), or with no id the selection; [] when there is nothing valid."""
        if not image_id:
            return self._selection()
        image_id = as_uuid(image_id)
        if not image_id or (shown and self._shown(image_id) is None):
            return []
        return [uuid.UUID(image_id)]

    def _shown(self, image_id: str) -> GalleryCard | None:
        """The card of an image in the window: handlers that name one image act only on what the page shows
        (the user's own), so an id guessed by a caller never enters the state."""
        return next((c for c in self.cards if c.id == image_id), None)

    def _update_cards(self, ids: set[str], **changes) -> None:
        self.cards = [dataclasses.replace(c, **changes) if c.id in ids else c for c in self.cards]

    async def _owner(self) -> int:
        return await self._signed_in_user_id()

    # ------------------------------------------------------------ page load and the URL

    @rx.event
    async def load(self):
        """on_load (also after a redirect to a new query, and on back/forward): show what the URL says."""
        owner = await self._owner()
        if not owner:
            return rx.redirect("/login")
        params = dict(self.router.url.query_parameters)
        q = gallery.parse_query({k: v for k, v in params.items() if k != "image"})
        first = self.total < 0
        if not first and q == self._query and "image" in params:
            return  # only the open image changed (the detail view): keep the window and the scroll
        self._show_query(q)
        try:
            await self._reload(owner, facets=False)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        # The filters' choices come right after the first screen (albums and tags may have changed elsewhere).
        return GalleryState.load_facets

    @rx.event
    async def load_facets(self):
        owner = await self._owner()
        if not owner:
            return
        try:
            await self._refresh_facets(owner)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)

    @rx.event
    async def search(self, text: object):
        """The search box (debounced) and its form: a new URL with the text, the rest of the view kept."""
        if isinstance(text, dict):  # the form's submit
            text = text.get("q", "")
        text = as_text(text, SEARCH_CHARS)
        if text is None:
            return rx.toast.error(f"Search for at most {SEARCH_CHARS} characters.")
        if not await self._owner():
            return rx.redirect("/login")
        params = self._params()
        params["q"] = text
        q = gallery.parse_query(params)
        self._typed = q.text  # what the URL will say: the box is not remounted under the typing
        if q == self._query:
            return
        # Typing refines the same search: replace the history entry; starting or clearing one pushes.
        return self._redirect_to(q, replace=bool(self._q().text) and bool(q.text))

    @rx.event
    async def apply_filter(self, name: object, value: object):
        if name not in FILTER_KEYS or not isinstance(value, str | bool) or (isinstance(value, str) and len(value) > 64):
            return
        if not await self._owner():
            return rx.redirect("/login")
        params = self._params()
        if isinstance(value, bool):
            value = "1" if value else ""
        if value:
            params[name] = value
        else:
            params.pop(name, None)
        q = gallery.parse_query(params)
        if value and name not in gallery.query_params(q) and not (name == "sort" and value == "newest"):
            return rx.toast.error("That filter value is not valid; the view was left as it was.")
        return self._redirect_to(q)

    @rx.event
    async def clear_filters(self):
        if not await self._owner():
            return rx.redirect("/login")
        return self._redirect_to(gallery.GalleryQuery(sort=self._q().sort))

    @rx.event
    def toggle_filters(self):
        self.filters_open = not self.filters_open

    # ------------------------------------------------------------ the window

    @rx.event
    async def load_next(self, key: object):
        if key != self.window_key or not self.has_more:
            return  # a duplicate or stale request from the page
        owner = await self._owner()
        if not owner:
            return rx.redirect("/login")
        from_below = bool(self._below)
        cursor = self._below[0][0] if from_below else self._tail_cursor
        try:
            page = await self._fetch(owner, cursor, _limit(cursor))
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        if from_below:
            self._below = self._below[1:]
        else:
            self._tail_cursor = page.next_cursor
        self.cards = self.cards + self._cards(page)
        self._chunks = [*self._chunks, (cursor, len(page.cards))]
        if len(self._chunks) > WINDOW_PAGES:
            cursor0, n0 = self._chunks[0]
            self.cards = self.cards[n0:]
            self._chunks = self._chunks[1:]
            self._above = [*self._above, (cursor0, n0)]
        self._sync_window()

    @rx.event
    async def load_previous(self, key: object):
        if key != self.window_key or not self._above:
            return
        owner = await self._owner()
        if not owner:
            return rx.redirect("/login")
        cursor, _ = self._above[-1]
        try:
            page = await self._fetch(owner, cursor, _limit(cursor))
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        self._above = self._above[:-1]
        self.cards = self._cards(page) + self.cards
        self._chunks = [(cursor, len(page.cards)), *self._chunks]
        if len(self._chunks) > WINDOW_PAGES:
            cursor_n, n = self._chunks[-1]
            self.cards = self.cards[:len(self.cards) - n]
            self._chunks = self._chunks[:-1]
            self._below = [(cursor_n, n), *self._below]
        self._sync_window()

    # ------------------------------------------------------------ favourites

    @rx.event
    async def toggle_favorite(self, image_id: object):
        image_id = as_uuid(image_id)
        owner = await self._owner()
        if not image_id or not owner:
            return
        card = next((c for c in self.cards if c.id == image_id), None)
        favorite = not card.favorite if card else True
        try:
            changed = await asyncio.to_thread(organise.set_favorite, owner, [uuid.UUID(image_id)], favorite)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        if changed or card:
            self._update_cards({image_id}, favorite=favorite)

    @rx.event
    async def bulk_favorite(self, favorite: object):
        owner = await self._owner()
        if not owner or not isinstance(favorite, bool) or not self.selection_count:
            return
        ids = self._selection()
        try:
            changed = await asyncio.to_thread(organise.set_favorite, owner, ids, favorite)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        self._update_cards({str(i) for i in ids}, favorite=favorite)
        word = "Starred" if favorite else "Unstarred"
        return rx.toast.success(f"{word} {changed:,} image{'s' if changed != 1 else ''}.")

    # ------------------------------------------------------------ selection

    @rx.event
    def toggle_select(self, image_id: object, shift: object = False):
        image_id = as_uuid(image_id)
        if not image_id or not isinstance(shift, bool) or self._shown(image_id) is None:
            return
        order = [c.id for c in self.cards]
        if shift and self._anchor in order and image_id in order:
            a, b = sorted((order.index(self._anchor), order.index(image_id)))
            span = order[a:b + 1]
            self._set_selected(span, not self._is_selected(image_id) if image_id != self._anchor else True)
        else:
            self._set_selected([image_id], not self._is_selected(image_id))
            self._anchor = image_id
        self._count_selection()

    def _is_selected(self, image_id: str) -> bool:
        return image_id not in self.excluded if self.all_matching else image_id in self.selected

    def _set_selected(self, ids: list[str], on: bool) -> None:
        if self.all_matching:
            excluded = [i for i in self.excluded if i not in ids]
            self.excluded = excluded if on else excluded + [i for i in ids if i in set(self._matching)]
            return
        chosen = [i for i in self.selected if i not in ids]
        if on:
            chosen += ids
        self.selected = chosen[:MAX_IDS]

    @rx.event
    async def select_all_matching(self):
        owner = await self._owner()
        if not owner:
            return
        try:
            ids = await asyncio.to_thread(gallery.ids_matching, owner, self._q())
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        self._matching = [str(i) for i in ids]
        self.all_matching, self.excluded, self.selected = True, [], []
        self._count_selection()
        if len(ids) >= MAX_IDS:
            return rx.toast.info(f"Selected the first {MAX_IDS:,} images (the most one action can take).")

    @rx.event
    def clear_selection(self):
        self._clear_selection()

    # ------------------------------------------------------------ tags

    @rx.event
    async def open_tags(self, image_id: object = ""):
        """The tag editor for one card (its id) or, with no id, for the selection."""
        owner = await self._owner()
        if not owner:
            return
        ids = self._targets(image_id, shown=True)
        if not ids:
            return
        card = self._shown(str(ids[0])) if image_id else None
        self.tag_targets, self.tag_current = [str(i) for i in ids], list(card.tags) if card else []
        await self._suggest(owner, "")
        self.tag_dialog_open = True

    @rx.event
    def tag_dialog_changed(self, open_: object):
        if open_ is False:
            self.tag_dialog_open, self.tag_targets, self.tag_current = False, [], []

    async def _suggest(self, owner: int, prefix: str) -> None:
        found = await asyncio.to_thread(organise.tag_suggestions, owner, prefix)
        self.tag_suggestions = [t for t in found if t not in self.tag_current]

    @rx.event
    async def suggest_tags(self, prefix: object):
        prefix = as_text(prefix, TAG_INPUT_CHARS)
        owner = await self._owner()
        if prefix is None or not owner:
            return
        try:
            await self._suggest(owner, prefix.strip().lower())
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)

    @rx.event
    async def add_tag(self, text: object):
        if isinstance(text, dict):
            text = text.get("tag", "")
        text = as_text(text, TAG_INPUT_CHARS)
        owner = await self._owner()
        ids = _ids(self.tag_targets)
        if text is None or not owner or not ids:
            return rx.toast.error(f"A tag can have at most {TAG_INPUT_CHARS} characters.") if text is None else None
        try:
            tag = organise.clean_tag(text)
            await asyncio.to_thread(organise.add_tags, owner, ids, [tag])
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        targets = set(self.tag_targets)
        self.cards = [dataclasses.replace(c, tags=[*c.tags, tag]) if c.id in targets and tag not in c.tags else c
                      for c in self.cards]
        if len(ids) == 1 and tag not in self.tag_current:
            self.tag_current = [*self.tag_current, tag]
        self.tag_suggestions = [t for t in self.tag_suggestions if t != tag]
        if tag not in self.tag_names:
            self.tag_names = sorted([*self.tag_names, tag])
        if len(ids) > 1:
            return rx.toast.success(unmarked(f"Tagged {len(ids):,} images with “{tag}”."))

    @rx.event
    async def remove_tag(self, tag: object):
        tag = as_text(tag, TAG_INPUT_CHARS)
        owner = await self._owner()
        ids = _ids(self.tag_targets)
        if not tag or not owner or not ids:
            return
        try:
            await asyncio.to_thread(organise.remove_tags, owner, ids, [tag])
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        targets = set(self.tag_targets)
        self.cards = [dataclasses.replace(c, tags=[t for t in c.tags if t != tag]) if c.id in targets else c
                      for c in self.cards]
        self.tag_current = [t for t in self.tag_current if t != tag]
        if len(ids) > 1:
            return rx.toast.success(unmarked(f"Removed “{tag}” from {len(ids):,} images."))

    # ------------------------------------------------------------ albums

    @rx.event
    async def open_album_picker(self, image_id: object = ""):
        owner = await self._owner()
        if not owner:
            return
        ids = self._targets(image_id, shown=True)
        if not ids:
            return
        self.album_targets = [str(i) for i in ids]
        self.album_dialog_open = True

    @rx.event
    def album_dialog_changed(self, open_: object):
        if open_ is False:
            self.album_dialog_open, self.album_targets = False, []

    @rx.event
    async def add_to_album(self, album_id: object):
        album_id = as_id(album_id)
        owner = await self._owner()
        ids = _ids(self.album_targets)
        if not album_id or not owner or not ids:
            return
        try:
            added = await asyncio.to_thread(organise.add_to_album, owner, album_id, ids)
            await self._refresh_facets(owner)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        self.album_dialog_open, self.album_targets = False, []
        name = next((a.name for a in self.albums if a.id == album_id), "the album")
        return rx.toast.success(unmarked(f"Added {added:,} image{'s' if added != 1 else ''} to {name}."))

    @rx.event
    async def create_album(self, form: object):
        name = as_text(form.get("name") if isinstance(form, dict) else form, ALBUM_NAME_CHARS)
        owner = await self._owner()
        if name is None:
            return rx.toast.error(f"An album name can have at most {ALBUM_NAME_CHARS} characters.")
        if not owner:
            return
        try:
            album = await asyncio.to_thread(organise.create_album, owner, name)
            if self.album_dialog_open and (ids := _ids(self.album_targets)):
                await asyncio.to_thread(organise.add_to_album, owner, album.id, ids)
                self.album_dialog_open, self.album_targets = False, []
            await self._refresh_facets(owner)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        return rx.toast.success(unmarked(f"Album “{album.name}” created."))

    @rx.event
    def start_rename_album(self, album_id: object):
        self.renaming_album = as_id(album_id)

    @rx.event
    async def rename_album(self, form: object):
        album_id = as_id(form.get("album_id") if isinstance(form, dict) else None)
        name = as_text(form.get("name") if isinstance(form, dict) else None, ALBUM_NAME_CHARS)
        owner = await self._owner()
        self.renaming_album = 0
        if not album_id or name is None or not owner:
            return
        try:
            await asyncio.to_thread(organise.rename_album, owner, album_id, name)
            await self._refresh_facets(owner)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)

    @rx.event
    async def delete_album(self, album_id: object):
        album_id = as_id(album_id)
        owner = await self._owner()
        if not album_id or not owner:
            return
        try:
            await asyncio.to_thread(organise.delete_album, owner, album_id)
            await self._refresh_facets(owner)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        if self._q().album_id == album_id:
            return self._redirect_to(dataclasses.replace(self._q(), album_id=None))
        return rx.toast.success("Album deleted; its images are still in the gallery.")

    @rx.event
    async def set_cover(self, image_id: object):
        """Make this image the cover of the album the view is filtered by."""
        image_id = as_uuid(image_id)
        owner = await self._owner()
        album_id = self._q().album_id
        if not image_id or not owner or not album_id:
            return
        try:
            await asyncio.to_thread(organise.set_cover, owner, album_id, uuid.UUID(image_id))
            await self._refresh_facets(owner)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        return rx.toast.success("Album cover set.")

    @rx.event
    async def remove_from_album(self, image_id: object = ""):
        owner = await self._owner()
        album_id = self._q().album_id
        if not owner or not album_id:
            return
        ids = self._targets(image_id, shown=False)
        if not ids:
            return
        try:
            await asyncio.to_thread(organise.remove_from_album, owner, album_id, ids)
            await self._reload(owner, facets=True)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)

    # ------------------------------------------------------------ delete, undo, download

    @rx.event
    async def delete(self, image_id: object = ""):
        """Delete one card (its id) or the selection; an Undo toast restores them within the undo window."""
        owner = await self._owner()
        if not owner:
            return
        ids = self._targets(image_id, shown=False)
        if not ids:
            return
        try:
            deleted = await asyncio.to_thread(organise.delete_images, owner, ids)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        gone = {str(i) for i in ids}
        self._undo_ids = sorted(gone)
        self._undo_cards = [(self.before + k, c) for k, c in enumerate(self.cards) if c.id in gone]
        seconds = get_settings().delete_undo_seconds
        self._undo_until = time.monotonic() + seconds
        self._remove_cards(gone)
        self.total = max(0, self.total - deleted)
        self._clear_selection()
        return rx.toast(f"Deleted {deleted:,} image{'s' if deleted != 1 else ''}.", id="gallery-deleted",
                        duration=int(seconds * 1000),
                        action={"label": "Undo", "on_click": GalleryState.undo_delete})

    def _remove_cards(self, gone: set[str]) -> None:
        kept, chunks, k = [], [], 0
        for cursor, n in self._chunks:
            part = [c for c in self.cards[k:k + n] if c.id not in gone]
            kept += part
            chunks.append((cursor, len(part)))
            k += n
        self.cards, self._chunks = kept, chunks
        self._sync_window()

    @rx.event
    async def undo_delete(self):
        owner = await self._owner()
        if not owner or not self._undo_ids:
            return
        if time.monotonic() > self._undo_until:
            self._undo_ids, self._undo_cards = [], []
            return rx.toast.error("Too late to undo: the images were deleted.")
        ids = [uuid.UUID(i) for i in self._undo_ids]
        try:
            restored = await asyncio.to_thread(organise.restore_images, owner, ids)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        self._undo_ids, cards, self._undo_cards = [], self._undo_cards, []
        # Put the cards back where they were when the window still covers that place; else a fresh load.
        if all(0 <= index - self.before <= len(self.cards) for index, _ in cards):
            shown, chunks = list(self.cards), list(self._chunks)
            for index, card in cards:
                shown.insert(index - self.before, card)
                self._grow_chunk(chunks, index - self.before)
            self.cards, self._chunks = shown, chunks
            self.total += restored
            self._sync_window()
        else:
            await self._reload(owner, facets=False)
        return rx.toast.success(f"Restored {restored:,} image{'s' if restored != 1 else ''}.")

    @staticmethod
    def _grow_chunk(chunks: list[tuple[str | None, int]], position: int) -> None:
        k = 0
        for i, (cursor, n) in enumerate(chunks):
            if position <= k + n or i == len(chunks) - 1:
                chunks[i] = (cursor, n + 1)
                return
            k += n

    @rx.event
    async def download_selection(self):
        owner = await self._owner()
        if not owner or not self.selection_count:
            return
        try:
            ticket = await asyncio.to_thread(export.create_ticket, owner, self._selection(), name="imagechat")
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        if not _TICKET.match(ticket):
            return rx.toast.error("The download could not be prepared. Please try again.")
        return rx.download(url=urls.export_url(ticket), filename="imagechat.zip")
