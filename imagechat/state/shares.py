"""Share links from the UI: the share dialog any page can embed, and the owner's list on /shares.

Every handler checks the session and its arguments (pages embed `share_dialog()` and call `share_image` /
`share_album` with ids from their own state, but any client can call them with anything). The domain
(core.sharing) scopes every query to the signed-in owner; the state only holds ids, text and URLs.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime

import reflex as rx

from imagechat.core import sharing, urls
from imagechat.core.errors import ImagechatError
from imagechat.models import utcnow
from imagechat.state.session import SessionState
from imagechat.state.views import as_id, as_uuid

# The expiry choices of the dialog: select value -> days (None: until revoked).
EXPIRY_CHOICES = {"never": None, "1": 1, "7": 7, "30": 30}
LOAD_FAILED = "Your shared links could not be loaded. Reload the page to try again."


@dataclasses.dataclass
class ShareRow:
    id: int
    url: str  # absolute: what the owner copies
    kind: str  # "image" | "album"
    title: str
    href: str  # where the title leads in the app (the image or the album in the gallery)
    thumb: str  # the owner's own thumbnail URL, "" for an empty album
    what: str  # "Image" | "Album · 3 images"
    created: str
    expires: str
    views: int
    last_viewed: str
    status: str  # sharing.ACTIVE | EXPIRED | REVOKED | UNAVAILABLE
    revocable: bool


def _when(value: datetime | None, never: str = "Never") -> str:
    return f"{value:%d %b %Y, %H:%M} UTC".lstrip("0") if value else never


def _what(view: sharing.ShareView) -> str:
    if view.kind == "image":
        return "Image"
    return f"Album · {view.image_count} image" + ("" if view.image_count == 1 else "s")


def _expiry_choice(view: sharing.ShareView) -> str:
    """The dialog's select shows "never" or the time left, rounded up to one of the choices."""
    if view.expires_at is None:
        return "never"
    days_left = (view.expires_at - utcnow()).total_seconds() / 86400
    return next((str(d) for d in sharing.EXPIRY_DAYS if days_left <= d + 0.01), str(sharing.EXPIRY_DAYS[-1]))


class ShareState(SessionState):
    links: list[ShareRow] = []
    loaded: bool = False
    load_error: str = ""

    # The dialog (components/share_dialog.py)
    dialog_open: bool = False
    dialog_link_id: int = 0
    dialog_url: str = ""
    dialog_kind: str = "image"
    dialog_title: str = ""
    dialog_expiry: str = "never"
    dialog_expires: str = ""  # "Works until you revoke it." / "Stops working on ..."

    # Revoke confirmation on /shares
    confirm_id: int = 0
    confirm_title: str = ""

    def _absolute(self, path: str) -> str:
        # The websocket's Origin is one of the app's own (web_security refuses others); anything else falls back.
        return sharing.absolute_url(path, self.router.headers.origin or self.router.url.origin)

    def _row(self, view: sharing.ShareView) -> ShareRow:
        href = (urls.gallery_image_url(view.image_id) if view.kind == "image" and view.image_id
                else f"/gallery?album={view.album_id}" if view.album_id else "/gallery")
        return ShareRow(id=view.id, url=self._absolute(view.url), kind=view.kind, title=view.title or "(untitled)",
                        href=href, thumb=urls.thumb_url(view.image_id) if view.image_id else "", what=_what(view),
                        created=_when(view.created_at), expires=_when(view.expires_at), views=view.views,
                        last_viewed=_when(view.last_viewed_at), status=view.status,
                        revocable=view.revoked_at is None)

    async def _refresh(self, owner: int) -> None:
        views = await asyncio.to_thread(sharing.list_links, owner)
        self.links = [self._row(v) for v in views]
        self.loaded, self.load_error = True, ""

    def _show(self, view: sharing.ShareView) -> None:
        self.dialog_link_id, self.dialog_url = view.id, self._absolute(view.url)
        self.dialog_kind, self.dialog_title = view.kind, view.title
        self.dialog_expiry = _expiry_choice(view)
        self.dialog_expires = ("Works until you revoke it." if view.expires_at is None
                               else f"Stops working on {_when(view.expires_at)}.")
        self.dialog_open = True

    @rx.event
    async def load(self):
        owner = await self._signed_in_user_id()
        if not owner:
            return rx.redirect("/login")
        self.confirm_id, self.confirm_title = 0, ""
        try:
            await self._refresh(owner)
        except ImagechatError:
            self.loaded, self.load_error = True, LOAD_FAILED

    async def _share(self, **target):
        owner = await self._signed_in_user_id()
        if not owner:
            return rx.redirect("/login")
        try:
            view = await asyncio.to_thread(sharing.link_for, owner, **target)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        self._show(view)
        return None

    @rx.event
    async def share_image(self, image_id: str):
        """Open the dialog with a link to one of the user's images (the existing active link, else a new one)."""
        image = as_uuid(image_id)
        if not image:
            return rx.toast.error("That image can't be shared. Reload the page and try again.")
        return await self._share(image_id=image)

    @rx.event
    async def share_album(self, album_id: int):
        """Open the dialog with a link to one of the user's albums."""
        album = as_id(album_id)
        if not album:
            return rx.toast.error("That album can't be shared. Reload the page and try again.")
        return await self._share(album_id=album)

    @rx.event
    async def set_expiry(self, choice: str):
        """The dialog's expiry choice: the same link, now working for that long (from now) or until revoked."""
        if not isinstance(choice, str) or choice not in EXPIRY_CHOICES:
            return rx.toast.error("Choose when the link stops working: never, or in 1, 7 or 30 days.")
        if not self.dialog_link_id:
            return rx.toast.error("Share an image or an album first.")
        owner = await self._signed_in_user_id()
        if not owner:
            return rx.redirect("/login")
        try:
            view = await asyncio.to_thread(sharing.set_expiry, owner, self.dialog_link_id, EXPIRY_CHOICES[choice])
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        self._show(view)  # the dialog says until when it works now
        if self.loaded:
            await self._refresh(owner)
        return None

    @rx.event
    async def edit_link(self, link_id: int):
        """Open the dialog for one of the listed active links (to copy it or change its expiry)."""
        link_id = as_id(link_id)
        if not any(r.id == link_id and r.status == sharing.ACTIVE for r in self.links):
            return rx.toast.error("That link is not active any more. Reload the page to see its status.")
        owner = await self._signed_in_user_id()
        if not owner:
            return rx.redirect("/login")
        try:
            view = await asyncio.to_thread(sharing.get_link, owner, link_id)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        if not view.active:
            return rx.toast.error("That link is not active any more. Reload the page to see its status.")
        self._show(view)
        return None

    @rx.event
    def set_dialog_open(self, value: bool):
        self.dialog_open = value is True

    @rx.event
    def ask_revoke(self, link_id: int):
        """Open the confirmation for one of the listed links."""
        link_id = as_id(link_id)
        row = next((r for r in self.links if r.id == link_id and r.revocable), None)
        if row is None:
            return rx.toast.error("That link is not in your list. Reload the page and try again.")
        self.confirm_id, self.confirm_title = row.id, row.title
        return None

    @rx.event
    def cancel_revoke(self):
        self.confirm_id, self.confirm_title = 0, ""

    @rx.event
    def set_confirm_open(self, value: bool):
        """The confirmation's own close (Esc, a click outside): the same as Keep it."""
        if value is not True:
            self.confirm_id, self.confirm_title = 0, ""

    @rx.event
    async def revoke(self, link_id: int):
        """Turn a link off: from the next request on, it answers 404."""
        link_id = as_id(link_id)
        self.confirm_id, self.confirm_title = 0, ""
        if not link_id:
            return rx.toast.error("That link is not in your list. Reload the page and try again.")
        owner = await self._signed_in_user_id()
        if not owner:
            return rx.redirect("/login")
        try:
            await asyncio.to_thread(sharing.revoke, owner, link_id)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        if self.dialog_link_id == link_id:
            self.dialog_open, self.dialog_link_id, self.dialog_url = False, 0, ""
        try:
            await self._refresh(owner)
        except ImagechatError:
            self.load_error = LOAD_FAILED
        return rx.toast.success("Link revoked: it no longer works for anyone.")
