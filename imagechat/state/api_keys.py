"""API keys on /settings: create (the key is shown once), list, revoke.

Every handler checks the session and its arguments (any client can call any of them with anything); the domain
(core.api_keys) acts only on the signed-in owner's keys. A new key sits in `new_key` only until the user closes
the box that shows it (or leaves or reloads the page): the database keeps its hash, never the key.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime

import reflex as rx

from imagechat.core import api_keys
from imagechat.core.errors import ImagechatError
from imagechat.state.session import SessionState
from imagechat.state.views import as_id

LOAD_FAILED = "Your API keys could not be loaded. Reload the page to try again."


@dataclasses.dataclass
class KeyRow:
    id: int
    name: str
    prefix: str  # "ick_AbCdEfGh": enough to recognise a key, far too little to use it
    created: str
    last_used: str
    active: bool
    revoked: str


def _when(value: datetime | None, never: str = "Never") -> str:
    return f"{value:%d %b %Y, %H:%M} UTC".lstrip("0") if value else never


def key_row(view: api_keys.KeyView) -> KeyRow:
    return KeyRow(id=view.id, name=view.name, prefix=view.prefix + "…", created=_when(view.created_at),
                  last_used=_when(view.last_used_at), active=view.active, revoked=_when(view.revoked_at, ""))


class ApiKeyState(SessionState):
    keys: list[KeyRow] = []
    loaded: bool = False
    load_error: str = ""
    new_name: str = ""
    new_key: str = ""  # the key just created, shown once; "" otherwise
    new_key_name: str = ""
    base_url: str = ""  # this app's /v1, as the browser reaches it
    confirm_id: int = 0
    confirm_name: str = ""

    async def _refresh(self, owner: int) -> None:
        views = await asyncio.to_thread(api_keys.list_keys, owner)
        self.keys = [key_row(v) for v in views]
        self.loaded, self.load_error = True, ""

    @rx.event
    async def load(self):
        owner = await self._signed_in_user_id()
        if not owner:
            return rx.redirect("/login")
        self.new_key = self.new_key_name = ""
        self.confirm_id, self.confirm_name = 0, ""
        # The websocket's Origin is one of the app's own (web_security refuses others).
        self.base_url = (self.router.headers.origin or self.router.url.origin or "").rstrip("/") + "/v1"
        try:
            await self._refresh(owner)
        except ImagechatError:
            self.loaded, self.load_error = True, LOAD_FAILED
        return None

    @rx.event
    def set_new_name(self, value: str):
        if isinstance(value, str):
            self.new_name = value[: api_keys.MAX_NAME_CHARS + 1]

    @rx.event
    async def create_key(self):
        """A new key for the signed-in user, shown once in the page."""
        owner = await self._signed_in_user_id()
        if not owner:
            return rx.redirect("/login")
        try:
            view, key = await asyncio.to_thread(api_keys.create, owner, self.new_name)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        self.new_key, self.new_key_name, self.new_name = key, view.name, ""
        try:
            await self._refresh(owner)
        except ImagechatError:
            self.load_error = LOAD_FAILED
        return None

    @rx.event
    def dismiss_key(self):
        """Close the box that shows the new key: it is never shown again."""
        self.new_key = self.new_key_name = ""

    @rx.event
    def set_key_open(self, value: bool):
        if value is not True:
            self.new_key = self.new_key_name = ""

    @rx.event
    def ask_revoke(self, key_id: int):
        key_id = as_id(key_id)
        row = next((r for r in self.keys if r.id == key_id and r.active), None)
        if row is None:
            return rx.toast.error("That key is not in your list. Reload the page and try again.")
        self.confirm_id, self.confirm_name = row.id, row.name
        return None

    @rx.event
    def cancel_revoke(self):
        self.confirm_id, self.confirm_name = 0, ""

    @rx.event
    def set_confirm_open(self, value: bool):
        if value is not True:
            self.confirm_id, self.confirm_name = 0, ""

    @rx.event
    async def revoke(self, key_id: int):
        """Turn a key off: from the next request on, it gets 401."""
        key_id = as_id(key_id)
        self.confirm_id, self.confirm_name = 0, ""
        if not key_id:
            return rx.toast.error("That key is not in your list. Reload the page and try again.")
        owner = await self._signed_in_user_id()
        if not owner:
            return rx.redirect("/login")
        try:
            await asyncio.to_thread(api_keys.revoke, owner, key_id)
        except ImagechatError as exc:
            return rx.toast.error(exc.user_message)
        try:
            await self._refresh(owner)
        except ImagechatError:
            self.load_error = LOAD_FAILED
        return rx.toast.success("Key revoked: requests with it are refused from now on.")
