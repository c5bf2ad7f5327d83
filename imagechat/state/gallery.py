"""The gallery page: the user's images, newest first, with full-text search on prompts."""

from __future__ import annotations

import asyncio

import reflex as rx

from imagechat.core import library
from imagechat.core.text import clean_text
from imagechat.state.session import SessionState
from imagechat.state.views import GalleryItem, as_text, as_uuid


class GalleryState(SessionState):
    query: str = ""
    items: list[GalleryItem] = []
    selected: str = ""  # ?image=<id>: the image the chat's "Open in gallery" pointed at

    async def _search(self) -> None:
        owner = await self._signed_in_user_id()
        rows = await asyncio.to_thread(library.list_images, owner, limit=200, query=self.query.strip() or None)
        self.items = [GalleryItem(id=str(r.id), prompt=r.prompt, style=r.style or "", engine=r.engine,
                                  size=f"{r.width}x{r.height}", created=f"{r.created_at:%Y-%m-%d %H:%M}")
                      for r in rows]

    @rx.event
    async def load(self):
        if not await self._signed_in_user_id():
            return rx.redirect("/login")
        # Only a well-formed id may reach rx.scroll_to: Reflex parses that string for Var markers.
        self.selected = as_uuid(self.router.url.query_parameters.get("image", ""))
        await self._search()
        if self.selected:
            return rx.scroll_to(f"img-{self.selected}")

    @rx.event
    async def search(self, form: dict):
        query = as_text(form.get("q") if isinstance(form, dict) else None, library.QUERY_CHARS)
        if query is None:
            return rx.toast.error(f"Search for at most {library.QUERY_CHARS} characters.")
        if not await self._signed_in_user_id():
            return rx.redirect("/login")
        self.query = clean_text(query)
        await self._search()
