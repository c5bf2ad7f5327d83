"""Per-tab background tasks: at most one of each kind per tab, ended with the tab.

A tab's events, background tasks included, run in the process that holds its websocket, so an
in-process registry is enough to keep one watcher per tab and kind. It is consulted before the
tab's state lock is taken: a flood of calls then costs nothing (no lock waits, no Redis connections)."""

from __future__ import annotations

import secrets
import time

_HOLDERS: dict[tuple[str, str], tuple[str, float]] = {}  # (kind, client token) -> (watcher id, started)
_RESTING: dict[tuple[str, str], float] = {}  # (kind, client token) -> no new watcher before this time


def claim(kind: str, client_token: str, *, takeover_after_s: float | None = None) -> str | None:
    """A new watcher id when this tab has no `kind` watcher in this process (or, with `takeover_after_s`,
    one older than that, which then stops at its next `holds` check); None otherwise."""
    key, now = (kind, client_token), time.monotonic()
    if _RESTING.get(key, 0.0) > now:
        return None
    current = _HOLDERS.get(key)
    if current is not None and (takeover_after_s is None or now - current[1] < takeover_after_s):
        return None
    me = secrets.token_hex(8)
    _HOLDERS[key] = (me, now)
    return me


def holds(kind: str, client_token: str, me: str) -> bool:
    current = _HOLDERS.get((kind, client_token))
    return current is not None and current[0] == me


def release(kind: str, client_token: str, me: str, *, rest_s: float = 0.0) -> None:
    """The watcher ended. `rest_s`: refuse new ones for that long (a tab nobody is signed in to)."""
    if holds(kind, client_token, me):
        del _HOLDERS[(kind, client_token)]
        if rest_s:
            _RESTING[(kind, client_token)] = time.monotonic() + rest_s
            for key in [k for k, until in _RESTING.items() if until < time.monotonic()]:
                del _RESTING[key]


def tab_connected(client_token: str) -> bool:
    """Whether this process still holds a websocket for the tab (Reflex's own token -> socket-id map)."""
    try:
        from reflex_base.registry import RegistrationContext

        namespace = RegistrationContext.get().app.event_namespace
    except Exception:  # noqa: BLE001 - no app registered (a unit test): assume connected
        return True
    return namespace is None or client_token in namespace.token_to_sid
