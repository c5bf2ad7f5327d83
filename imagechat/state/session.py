"""Who is signed in. Every per-user state derives from `SessionState`, so log-out or a different
user in the same tab resets all of them, including states added later, without a hand-kept list."""

from __future__ import annotations

import asyncio

import reflex as rx

from imagechat.core import auth
from imagechat.core.auth import SESSION_COOKIE

SESSION_MAX_AGE_S = auth.SESSION_DAYS * 24 * 3600


def _descendants(cls: type[rx.State]) -> list[type[rx.State]]:
    found = []
    for sub in cls.get_substates():
        found += [sub, *_descendants(sub)]
    return found


class SessionState(rx.State):
    # The same cookie authorises the image routes (imagechat/api/images.py).
    session_token: str = rx.Cookie("", name=SESSION_COOKIE, same_site="strict", max_age=SESSION_MAX_AGE_S)
    username: str = ""
    _user_id: int = 0
    _checked_token: str = ""

    async def _session(self) -> "SessionState":
        return self if type(self) is SessionState else await self.get_state(SessionState)

    async def _signed_in_user_id(self) -> int:
        """The signed-in user's id, or 0. The token is checked again only when it changes."""
        session = await self._session()
        token = session.session_token
        if token and token == session._checked_token and session._user_id:
            return session._user_id
        user = await asyncio.to_thread(auth.user_for_token, token) if token else None
        user_id = user.id if user else 0
        if session._user_id and user_id != session._user_id:
            await session._forget_user_data()  # another user (or nobody) in this tab now
        session._user_id, session._checked_token = user_id, token if user else ""
        session.username = user.username if user else ""
        return user_id

    async def _forget_user_data(self) -> None:
        """Reset every per-user state to its defaults (the session's own fields are set by the caller)."""
        session = await self._session()
        for cls in _descendants(SessionState):
            (await session.get_state(cls)).reset()

    async def _sign_in(self, token: str, user_id: int, username: str) -> None:
        session = await self._session()
        if session._user_id and session._user_id != user_id:
            await session._forget_user_data()
        session.session_token, session._checked_token = token, token
        session._user_id, session.username = user_id, username

    async def _sign_out(self) -> None:
        session = await self._session()
        await session._forget_user_data()
        session.session_token, session._checked_token, session._user_id, session.username = "", "", 0, ""
