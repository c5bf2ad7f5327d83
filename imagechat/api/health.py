"""Health and metrics for load balancers, orchestrators and Prometheus.

- GET /healthz: 200 {"status": "ok"} while the process serves HTTP. Touches nothing else (liveness).
- GET /readyz: 200 {"status": "ready", "checks": {...}} when PostgreSQL, Redis and at least one worker answer,
  else 503 {"status": "not ready", "checks": {...}} saying which failed (core/health.py: short deadlines, no
  hosts, URLs or driver messages).
- GET /metrics: Prometheus text (core/metrics.py) for an administrator's session, or for a client on this machine
  (127.0.0.1 or ::1 as api.auth.client_address sees it: the connection's own address, or X-Forwarded-For only
  from the TRUSTED_PROXY_HOPS proxies; with no trusted proxy, a request carrying proxy headers is not local)
  while METRICS_ALLOW_LOCALHOST is true. Anyone else gets 404, as for a
  path that does not exist.

None of them may be cached (Cache-Control: no-store). In `reflex run --env prod` they are on the app's one port.
"""

from __future__ import annotations

import ipaddress

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from imagechat.api.auth import client_address
from imagechat.api.images import owner_id
from imagechat.core import admin, health, metrics
from imagechat.core.errors import ServiceUnavailable
from imagechat.settings import get_settings

HEALTHZ_ROUTE, READYZ_ROUTE, METRICS_ROUTE = "/healthz", "/readyz", "/metrics"
NO_STORE = {"Cache-Control": "no-store"}


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


async def readyz(request: Request) -> Response:
    result = await health.readiness()
    if result.ready:
        return JSONResponse({"status": "ready", "checks": result.checks}, headers=NO_STORE)
    return JSONResponse({"status": "not ready", "checks": result.checks}, status_code=503,
                        headers={**NO_STORE, "Retry-After": "5"})


def is_local(address: str | None) -> bool:
    """127.0.0.0/8, ::1, or an IPv4-mapped loopback address; a name or nothing is not."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


# Headers a reverse proxy adds. With TRUSTED_PROXY_HOPS=0 and a proxy on this machine, the connection comes from
# 127.0.0.1 for every visitor: a request that went through a proxy is never taken for a local one.
_PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


def from_this_machine(request: Request) -> bool:
    if not get_settings().trusted_proxy_hops and any(h in request.headers for h in _PROXY_HEADERS):
        return False
    return is_local(client_address(request))


def may_read_metrics(request: Request) -> bool:
    if get_settings().metrics_allow_localhost and from_this_machine(request):
        return True
    user = owner_id(request)
    return user is not None and admin.is_admin(user)


def metrics_page(request: Request) -> Response:
    """A plain function: Starlette runs it on a worker thread (the checks and queries are synchronous)."""
    try:
        allowed = may_read_metrics(request)
    except ServiceUnavailable as exc:
        return PlainTextResponse(exc.user_message, status_code=503, headers={**NO_STORE, "Retry-After": "60"})
    if not allowed:
        return PlainTextResponse("Not found.", status_code=404, headers=NO_STORE)
    body, content_type = metrics.render(request.headers.get("accept"))
    return Response(body, headers={**NO_STORE, "Content-Type": content_type})


routes = [Route(HEALTHZ_ROUTE, healthz), Route(READYZ_ROUTE, readyz), Route(METRICS_ROUTE, metrics_page)]
