"""The public side of share links: a server-rendered page and the shared images' bytes, no account needed.

- GET /s/{token}: one image, or an album as a grid (newest first), with Open Graph / Twitter card tags so
  chat apps show a preview. No script; the style is inline (the CSP allows inline styles, never scripts).
- GET /s/{token}/images/{image_id}/{full|thumb.webp|preview.jpg|download}: bytes of the shared image or of an
  image in the shared album only; any other id gets the same 404.

Every user string goes through html.escape. Unknown, malformed, revoked and expired tokens all get the same
404 page (no oracle). Responses are `Cache-Control: no-cache` with an ETag: a browser or proxy may keep a copy
but must ask again before using it, so a revocation takes effect on the very next request, and asking again
costs a 304 when nothing changed.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from imagechat.api.auth import client_address
from imagechat.core import sharing, throttle, urls
from imagechat.core.errors import ImagechatError, NotFound, RateLimited
from imagechat.core.sharing import Shared, SharedImage

SHARE_IMAGE_ROUTE = urls.SHARE_ROUTE + "/images/{image_id}/{variant}"
_VARIANTS = {"full": "full", "thumb.webp": "thumb", "preview.jpg": "preview", "download": "full"}
_EXTENSIONS = {"image/webp": "webp", "image/png": "png", "image/jpeg": "jpg"}
_REVALIDATE = "no-cache"
_COMMON = {"X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
DESCRIPTION_CHARS = 200


def _origin(request: Request) -> str:
    return sharing.public_origin(f"{request.url.scheme}://{request.headers.get('host', '')}")


def _image_path(token: str, image_id: str, variant: str) -> str:
    return SHARE_IMAGE_ROUTE.format(token=token, image_id=image_id, variant=variant)


def _date(value: datetime) -> str:
    return f"{value:%d %b %Y}".lstrip("0")


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _etag_matches(request: Request, etag: str) -> bool:
    wanted = request.headers.get("if-none-match", "")
    return any(part.strip().removeprefix("W/") == etag for part in wanted.split(","))


# ---------------------------------------------------------------- the page

STYLE = """
:root{color-scheme:light dark;--bg:#f7f7fb;--card:#fff;--text:#1b1b22;--muted:#5d5d6e;--line:#e3e3ec;
--accent:#6e56cf;--accent-text:#fff;--shadow:0 1px 3px rgba(20,20,40,.08),0 8px 24px rgba(20,20,40,.06)}
@media (prefers-color-scheme:dark){:root{--bg:#111117;--card:#1b1b24;--text:#ececf3;--muted:#a3a3b8;
--line:#2c2c3a;--accent:#9e8cfc;--accent-text:#111117;--shadow:0 1px 3px rgba(0,0,0,.4)}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--text);line-height:1.5;
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
a{color:var(--accent)}
header{display:flex;align-items:center;gap:10px;padding:12px 20px;border-bottom:1px solid var(--line)}
.logo{width:28px;height:28px;border-radius:8px;flex:none;background:linear-gradient(135deg,#6e56cf,#e93d82)}
header span{font-weight:650}header small{color:var(--muted);margin-left:auto;font-size:14px}
main{max-width:1200px;margin:0 auto;padding:20px}
.single{display:grid;gap:20px;grid-template-columns:minmax(0,1fr) 340px;align-items:start}
.frame{background:var(--card);border-radius:14px;box-shadow:var(--shadow);padding:10px;text-align:center}
.frame img{display:block;margin:0 auto;max-width:100%;height:auto;max-height:78vh;width:auto;border-radius:8px}
.facts{background:var(--card);border-radius:14px;box-shadow:var(--shadow);padding:18px 20px}
.facts h1{font-size:20px;line-height:1.35;margin:0 0 12px;overflow-wrap:anywhere}
.facts p{margin:0 0 12px;color:var(--muted);overflow-wrap:anywhere}
dl{display:grid;grid-template-columns:auto 1fr;gap:6px 14px;margin:0 0 16px}dt{color:var(--muted)}dd{margin:0}
.button{display:inline-flex;align-items:center;justify-content:center;min-height:44px;padding:0 18px;
border-radius:10px;background:var(--accent);color:var(--accent-text);text-decoration:none;font-weight:600}
.button.quiet{background:transparent;color:var(--accent);border:1px solid var(--line);min-height:36px;
padding:0 12px;font-size:14px;font-weight:500}
.album-head{display:flex;flex-wrap:wrap;align-items:baseline;gap:6px 14px;margin:4px 0 18px}
.album-head h1{margin:0;font-size:26px;overflow-wrap:anywhere}.album-head p{margin:0;color:var(--muted)}
.grid{display:grid;gap:14px;grid-template-columns:repeat(auto-fill,minmax(230px,1fr))}
.card{background:var(--card);border-radius:12px;box-shadow:var(--shadow);overflow:hidden;display:flex;
flex-direction:column}
.card .thumb{display:block;aspect-ratio:1/1;background:var(--line)}
.card img{display:block;width:100%;height:100%;object-fit:cover}
.card .body{padding:10px 12px 12px;display:flex;flex-direction:column;gap:6px;flex:1}
.card .prompt{margin:0;font-size:14px;display:-webkit-box;-webkit-line-clamp:3;-webkit-box-orient:vertical;
overflow:hidden;overflow-wrap:anywhere}
.card .meta{margin:0;font-size:12px;color:var(--muted)}.card .button{align-self:flex-start;margin-top:auto}
.note{color:var(--muted);margin:18px 0 0}
footer{max-width:1200px;margin:0 auto;padding:8px 20px 28px;color:var(--muted);font-size:14px}
.missing{max-width:520px;margin:12vh auto;text-align:center;padding:0 20px}
.missing h1{font-size:24px;margin:0 0 8px}.missing p{color:var(--muted);margin:0}
@media (max-width:820px){.single{grid-template-columns:minmax(0,1fr)}.frame img{max-height:none}}
@media (max-width:520px){main{padding:12px}header{padding:10px 12px}
.grid{gap:10px;grid-template-columns:repeat(2,minmax(0,1fr))}
.card .body{padding:8px}.card .button{width:100%}.album-head h1{font-size:22px}}
"""


def _document(title: str, head_extra: str, body: str) -> str:
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta name=\"robots\" content=\"noindex\"><meta name=\"referrer\" content=\"no-referrer\">"
        f"<title>{escape(title)}</title>{head_extra}<style>{STYLE}</style></head><body>"
        "<header><div class=\"logo\" aria-hidden=\"true\"></div><span>imagechat</span>"
        "<small>Shared from imagechat</small></header>"
        f"{body}</body></html>\n"
    )


def _meta_tags(shared: Shared, origin: str, token: str) -> str:
    page = origin + urls.share_url(token)
    if shared.kind == "image":
        image = shared.images[0]
        title = _clip(image.prompt, 90) or "An image"
        facts = [image.style, f"{image.width}×{image.height}"]
        description = " · ".join(f for f in facts if f) + " · Shared from imagechat"
    else:
        title = _clip(shared.title, 90) or "An album"
        count = f"{shared.total} image" + ("" if shared.total == 1 else "s")
        description = f"An album of {count} · Shared from imagechat"
    tags = [("og:type", "website"), ("og:site_name", "imagechat"), ("og:title", title),
            ("og:description", _clip(description, DESCRIPTION_CHARS)), ("og:url", page)]
    twitter = [("twitter:card", "summary_large_image" if shared.cover else "summary"),
               ("twitter:title", title), ("twitter:description", _clip(description, DESCRIPTION_CHARS))]
    if shared.cover:
        cover = shared.cover
        image_url = origin + _image_path(token, cover.id, "preview.jpg")
        width, height = sharing.preview_size(cover.width, cover.height)
        alt = _clip(cover.prompt, DESCRIPTION_CHARS)
        tags += [("og:image", image_url), ("og:image:type", "image/jpeg"), ("og:image:width", str(width)),
                 ("og:image:height", str(height)), ("og:image:alt", alt)]
        twitter += [("twitter:image", image_url), ("twitter:image:alt", alt)]
    out = [f'<meta property="{name}" content="{escape(value)}">' for name, value in tags]
    out += [f'<meta name="{name}" content="{escape(value)}">' for name, value in twitter]
    out.append(f'<link rel="canonical" href="{escape(page)}">')
    return "".join(out)


def _facts(image: SharedImage) -> str:
    rows = [("Style", image.style), ("Size", f"{image.width} × {image.height}"),
            ("Created", _date(image.created_at))]
    return "<dl>" + "".join(f"<dt>{name}</dt><dd>{escape(value)}</dd>" for name, value in rows if value) + "</dl>"


def _single(shared: Shared, token: str) -> str:
    image = shared.images[0]
    full = escape(_image_path(token, image.id, "full"))
    revised = image.revised_prompt if image.revised_prompt and image.revised_prompt != image.prompt else ""
    return (
        "<main><div class=\"single\">"
        f"<div class=\"frame\"><a href=\"{full}\"><img src=\"{full}\" width=\"{image.width}\" "
        f"height=\"{image.height}\" alt=\"{escape(_clip(image.prompt, 300))}\"></a></div>"
        "<section class=\"facts\">"
        f"<h1>{escape(image.prompt)}</h1>"
        + (f"<p>{escape(revised)}</p>" if revised else "")
        + _facts(image)
        + f"<a class=\"button\" href=\"{escape(_image_path(token, image.id, 'download'))}\" download>Download</a>"
        "</section></div></main>"
    )


def _card(image: SharedImage, token: str) -> str:
    full = escape(_image_path(token, image.id, "full"))
    thumb = escape(_image_path(token, image.id, "thumb.webp"))
    meta = " · ".join(part for part in (image.style, f"{image.width}×{image.height}", _date(image.created_at)) if part)
    return (
        "<article class=\"card\">"
        f"<a class=\"thumb\" href=\"{full}\"><img src=\"{thumb}\" loading=\"lazy\" decoding=\"async\" "
        f"width=\"320\" height=\"320\" alt=\"{escape(_clip(image.prompt, 300))}\"></a>"
        f"<div class=\"body\"><p class=\"prompt\">{escape(image.prompt)}</p>"
        f"<p class=\"meta\">{escape(meta)}</p>"
        f"<a class=\"button quiet\" href=\"{escape(_image_path(token, image.id, 'download'))}\" download>Download</a>"
        "</div></article>"
    )


def _album(shared: Shared, token: str) -> str:
    count = f"{shared.total} image" + ("" if shared.total == 1 else "s")
    body = (f"<main><div class=\"album-head\"><h1>{escape(shared.title)}</h1><p>Album · {count}</p></div>")
    if not shared.images:
        body += "<p class=\"note\">This album is empty right now.</p>"
    else:
        body += "<div class=\"grid\">" + "".join(_card(image, token) for image in shared.images) + "</div>"
        if shared.total > len(shared.images):
            body += (f"<p class=\"note\">Showing the newest {len(shared.images)} of {shared.total} images.</p>")
    return body + "</main>"


def render_page(shared: Shared, token: str, origin: str) -> str:
    title = (_clip(shared.title, 70) or "Shared image") + " · Shared from imagechat"
    body = _single(shared, token) if shared.kind == "image" else _album(shared, token)
    expires = f" This link stops working on {_date(shared.expires_at)}." if shared.expires_at else ""
    footer = f"<footer>Shared from imagechat. View only.{escape(expires)}</footer>"
    return _document(title, _meta_tags(shared, origin, token), body + footer)


NOT_FOUND_PAGE = _document(
    "Link not available · imagechat", "",
    "<main class=\"missing\"><h1>This link isn't available</h1>"
    "<p>It may have expired, or the person who shared it turned it off. Ask them for a new link.</p></main>",
)


def _not_found() -> Response:
    return HTMLResponse(NOT_FOUND_PAGE, status_code=404, headers={"Cache-Control": "no-store", **_COMMON})


def _unavailable() -> Response:
    return HTMLResponse(_document("Try again soon · imagechat", "", "<main class=\"missing\"><h1>Not available "
                                  "right now</h1><p>Please try again in a minute.</p></main>"),
                        status_code=503, headers={"Cache-Control": "no-store", "Retry-After": "30", **_COMMON})


def _throttled(request: Request) -> Response | None:
    """The 429 for a client address over SHARE_LIMIT_PER_ADDRESS; None to go on. Without Redis a public view
    goes on (it reads nothing private and is cheap)."""
    try:
        throttle.check("share", address=client_address(request), username=None)
    except RateLimited as exc:
        return HTMLResponse(_document("Slow down · imagechat", "", "<main class=\"missing\"><h1>Too many requests"
                                      f"</h1><p>{escape(exc.user_message)}</p></main>"), status_code=429,
                            headers={"Cache-Control": "no-store", "Retry-After": str(exc.retry_after_s), **_COMMON})
    except ImagechatError:
        pass
    return None


# ---------------------------------------------------------------- routes


def page(request: Request) -> Response:
    token = request.path_params["token"]
    if (refused := _throttled(request)) is not None:
        return refused
    try:
        viewer = throttle.address_key(client_address(request) or "")
        shared = sharing.resolve(token, count_view=request.method == "GET" and sharing.first_view(token, viewer))
    except NotFound:
        return _not_found()
    except ImagechatError:
        return _unavailable()
    html = render_page(shared, token, _origin(request))
    etag = '"' + hashlib.sha256(html.encode()).hexdigest()[:32] + '"'
    headers = {"Cache-Control": _REVALIDATE, "ETag": etag, **_COMMON}
    if _etag_matches(request, etag):
        return Response(status_code=304, headers=headers)
    return HTMLResponse(html, headers=headers)


def _filename(image: SharedImage) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", image.prompt.lower()).strip("-")[:48].rstrip("-") or "image"
    return f"{slug}-{image.id[:8]}.{_EXTENSIONS.get(image.mime, 'img')}"


def image(request: Request) -> Response:
    token, variant = request.path_params["token"], _VARIANTS.get(request.path_params["variant"])
    if variant is None:
        return _not_found()
    if (refused := _throttled(request)) is not None:
        return refused
    try:
        meta = sharing.shared_image(token, request.path_params["image_id"])
        etag = f'"{meta.sha256}-{variant}"'
        headers = {"Cache-Control": _REVALIDATE, "ETag": etag, **_COMMON}
        if request.path_params["variant"] == "download":
            headers["Content-Disposition"] = f'attachment; filename="{_filename(meta)}"'
        if _etag_matches(request, etag):
            return Response(status_code=304, headers=headers)  # checked the link, never loaded the bytes
        data, mime = sharing.image_bytes(meta, variant)
    except NotFound:
        return _not_found()
    except ImagechatError:
        return _unavailable()
    return Response(data, media_type=mime, headers=headers)


routes = [
    Route(urls.SHARE_ROUTE, page, methods=["GET", "HEAD"]),
    Route(SHARE_IMAGE_ROUTE, image, methods=["GET", "HEAD"]),
]
