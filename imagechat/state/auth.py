"""The log-in page's state, and log-out. Who is signed in lives in SessionState.

Passwords never travel over the websocket: the forms post to api/auth.py, which sets the HttpOnly cookie
and sends the browser back here with ?error=<code> when it refuses. This state turns the code into its
message (core/auth.MESSAGES) and never shows text taken from the URL.
"""

from __future__ import annotations

import asyncio
import logging

import reflex as rx

from imagechat.api.auth import LOGOUT_ROUTE
from imagechat.core import auth
from imagechat.core.auth import USERNAME_RE
from imagechat.settings import get_settings
from imagechat.state.session import SessionState

log = logging.getLogger(__name__)
TABS = ("login", "signup")
# The HttpOnly cookie can only be cleared by an HTTP response: the browser posts to the log-out route (its
# cookie goes along; no script can read it). The session has already ended on the server, so the request may
# still be under way while the tab moves to the log-in page.
_CLEAR_COOKIE_JS = (
    f"fetch('{LOGOUT_ROUTE}', {{method: 'POST', credentials: 'same-origin', headers: {{Accept: 'application/json'}}}})"
)


class AuthState(SessionState):
    auth_error: str = ""
    tab: str = "login"
    prefill_username: str = ""
    signup_mode: str = "open"  # ALLOW_SIGNUP: open | invite | closed

    @rx.event
    async def skip_login_if_signed_in(self):
        """on_load of the login page: show the refusal the auth route sent back, or go home if signed in."""
        if await self._signed_in_user_id():  # first: a change of user resets this state too
            return rx.redirect("/")
        params = self.router.url.query_parameters
        code, tab, name = (str(params.get(k) or "") for k in ("error", "tab", "username"))
        wait = str(params.get("wait") or "")
        self.auth_error = auth.message_for(code, int(wait) if wait.isdigit() and len(wait) < 7 else None) or ""
        self.tab = tab if tab in TABS else "login"
        self.prefill_username = name if USERNAME_RE.fullmatch(name) else ""
        self.signup_mode = get_settings().allow_signup

    @rx.event
    def tab_changed(self, value: str):
        """The other tab was chosen: the last refusal was about the form left behind."""
        self.auth_error = ""

    @rx.event
    async def log_out(self):
        session = await self._session()
        token = session._cookie_token()
        try:
            await asyncio.to_thread(auth.log_out, token)  # ends it for every tab at once
        except Exception:  # noqa: BLE001 - the route below tries again; the cookie is cleared either way
            log.warning("log-out could not end the session here; the log-out route tries again", exc_info=True)
        await self._sign_out()  # nothing of this user stays in the tab
        return [rx.call_script(_CLEAR_COOKIE_JS), rx.redirect("/login")]
