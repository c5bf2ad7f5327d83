"""Log-in and sign-up throttling: the `limits` library's moving window on Redis (as for image requests in
core/limits.py), counted per client address and per username, separately for log-in and sign-up.

Every attempt counts, successful or not, and the check runs before any password hashing: a throttled
attempt costs two Redis round trips and no argon2. An IPv6 client is counted per /64 network, the block
one household or server usually gets, so walking through its addresses gains nothing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from functools import lru_cache
from typing import Literal

import limits
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from imagechat.core.errors import RateLimited, ServiceUnavailable
from imagechat.models import utcnow
from imagechat.settings import get_settings

Action = Literal["login", "signup", "share"]

THROTTLED = {
    "login": "Too many log-in attempts. Wait {wait} and try again.",
    "signup": "Too many sign-up attempts. Wait {wait} and try again.",
    "share": "Too many requests for shared links from your network. Wait {wait} and try again.",
}
UNAVAILABLE = "Log-in is unavailable right now: the server can't reach Redis. Try again in a minute."


class Throttled(RateLimited):
    """code: "login_throttled" or "signup_throttled"; retry_after_s: whole seconds to wait."""


@lru_cache
def _limiter(redis_url: str, namespace: str) -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(RedisStorage(redis_url, key_prefix=f"{namespace}:auth-rl", wrap_exceptions=True))


def address_key(address: str) -> str:
    """The counted unit of a client address: itself for IPv4, its /64 network for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _username_key(username: str) -> str:
    # Hashed: any text may be typed as a username, and it becomes part of a Redis key.
    return hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]


def wait_text(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{math.ceil(seconds / 60)} min"


def message(action: Action, wait_s: int) -> str:
    return THROTTLED[action].format(wait=wait_text(wait_s))


def check(action: Action, *, address: str | None, username: str | None) -> None:
    """Count one attempt, or raise Throttled saying how long to wait (ServiceUnavailable without Redis)."""
    settings = get_settings()
    per_address = {"login": settings.login_limit_per_address, "signup": settings.signup_limit_per_address,
                   "share": settings.share_limit_per_address}[action]
    checks = []
    if address:
        checks.append((limits.parse(per_address), "address", address_key(address)))
    if username and username.strip():
        checks.append((limits.parse(settings.auth_limit_per_username), "username", _username_key(username)))
    limiter = _limiter(settings.redis_url, settings.redis_namespace)
    for item, kind, ident in checks:
        try:
            if limiter.hit(item, action, kind, ident):
                continue
            reset_at, _remaining = limiter.get_window_stats(item, action, kind, ident)
        except StorageError:
            raise ServiceUnavailable(UNAVAILABLE) from None
        wait = max(1, math.ceil(reset_at - utcnow().timestamp()))
        raise Throttled(message(action, wait), retry_after_s=wait, code=f"{action}_throttled")
