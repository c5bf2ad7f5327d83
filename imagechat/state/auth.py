"""Sign-up and log-in forms, and log-out. Who is signed in lives in SessionState."""

from __future__ import annotations

import asyncio

import reflex as rx

from imagechat.core import auth
from imagechat.core.errors import ImagechatError
from imagechat.state.session import SessionState


class AuthState(SessionState):
    auth_error: str = ""
    busy: bool = False

    @rx.event
    async def require_login(self):
        """on_load of private pages."""
        if not await self._signed_in_user_id():
            return rx.redirect("/login")

    @rx.event
    async def skip_login_if_signed_in(self):
        """on_load of the login page."""
        self.auth_error = ""
        if await self._signed_in_user_id():
            return rx.redirect("/")

    async def _enter(self, form: dict, create: bool):
        form = form if isinstance(form, dict) else {}
        username, password = str(form.get("username") or "").strip(), str(form.get("password") or "")
        self.busy, self.auth_error = True, ""
        yield
        try:
            if create:
                await asyncio.to_thread(auth.sign_up, username, password)
            user, token = await asyncio.to_thread(auth.log_in, username, password)
        except ImagechatError as exc:
            self.auth_error, self.busy = exc.user_message, False
            return
        await self._sign_in(token, user.id, user.username)
        self.busy = False
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
        session = await self._session()
        await asyncio.to_thread(auth.log_out, session.session_token)
        await self._sign_out()  # nothing of this user stays in the tab
        return rx.redirect("/login")
