"""Sign-up, log-in and the session cookie. Other states ask `AuthState` who the user is."""

from __future__ import annotations

import asyncio

import reflex as rx

from imagechat.api.images import SESSION_COOKIE
from imagechat.core import auth
from imagechat.core.errors import ImagechatError

SESSION_MAX_AGE_S = auth.SESSION_DAYS * 24 * 3600


class AuthState(rx.State):
    # The same cookie authorises the image routes (imagechat/api/images.py).
    session_token: str = rx.Cookie("", name=SESSION_COOKIE, same_site="strict", max_age=SESSION_MAX_AGE_S)
    username: str = ""
    auth_error: str = ""
    busy: bool = False
    _user_id: int = 0
    _checked_token: str = ""

    async def current_user_id(self) -> int:
        """The logged-in user's id, or 0. The token is re-checked only when it changes."""
        if self.session_token and self.session_token == self._checked_token and self._user_id:
            return self._user_id
        user = await asyncio.to_thread(auth.user_for_token, self.session_token) if self.session_token else None
        self._user_id, self._checked_token = (user.id, self.session_token) if user else (0, "")
        self.username = user.username if user else ""
        return self._user_id

    @rx.event
    async def require_login(self):
        """on_load of private pages."""
        if not await self.current_user_id():
            return rx.redirect("/login")

    @rx.event
    async def skip_login_if_signed_in(self):
        """on_load of the login page."""
        self.auth_error = ""
        if await self.current_user_id():
            return rx.redirect("/")

    async def _enter(self, form: dict, create: bool):
        username, password = (form.get("username") or "").strip(), form.get("password") or ""
        self.busy, self.auth_error = True, ""
        yield
        try:
            if create:
                await asyncio.to_thread(auth.sign_up, username, password)
            user, token = await asyncio.to_thread(auth.log_in, username, password)
        except ImagechatError as exc:
            self.auth_error, self.busy = exc.user_message, False
            return
        self.session_token, self._checked_token, self._user_id = token, token, user.id
        self.username, self.busy = user.username, False
        yield rx.redirect("/")

    @rx.event
    async def log_in(self, form: dict):
        async for update in self._enter(form, create=False):
            yield update

    @rx.event
    async def sign_up(self, form: dict):
        async for update in self._enter(form, create=True):
            yield update

    @rx.event
    async def log_out(self):
        from imagechat.state.chat import ChatState  # chat imports this module

        await asyncio.to_thread(auth.log_out, self.session_token)
        (await self.get_state(ChatState)).reset()  # nothing of this user stays in the tab
        self.session_token, self._checked_token, self._user_id, self.username = "", "", 0, ""
        return rx.redirect("/login")
