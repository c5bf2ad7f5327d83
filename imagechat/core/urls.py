"""Every URL the app links to is built here; the API routes are mounted on the same patterns.

The functions work on plain strings and on Reflex Vars alike (components call them with Vars), so they only
concatenate; values are validated where they come in, not here.
"""

from __future__ import annotations

IMAGE_ROUTE = "/api/images/{image_id}/{variant}"
STYLE_PREVIEW_ROUTE = "/api/style-previews/{name}.webp"  # the composer's style chips (core/style_previews.py)
PREVIEW_ROUTE = "/api/jobs/{job_id}/preview.webp"
MASK_ROUTE = "/api/images/{image_id}/masks"  # POST: a painted edit mask (api/masks.py)
EXPORT_ROUTE = "/api/exports/{ticket}.zip"
SHARE_ROUTE = "/s/{token}"
LEDGER_CSV_ROUTE = "/api/admin/ledger.csv"  # administrators only
GALLERY_FIRST_ROUTE = "/api/gallery/first"
DOWNLOAD_FORMATS = ("png", "jpeg", "webp")
# Long side in pixels of the smaller downloads; the original size is always offered too.
DOWNLOAD_SIZES = (1024, 512)


def image_url(image_id: str, variant: str = "full") -> str:
    """variant: "full", "thumb.webp" or "download.<png|jpeg|webp>"."""
    return IMAGE_ROUTE.format(image_id=image_id, variant=variant)


def style_preview_url(slug: str) -> str:
    return STYLE_PREVIEW_ROUTE.format(name=slug)


def thumb_url(image_id: str) -> str:
    return image_url(image_id, "thumb.webp")


def download_url(image_id: str, fmt: str, size=None) -> str:
    """size: None for the original, else the long side in pixels (one of DOWNLOAD_SIZES)."""
    url = image_url(image_id, f"download.{fmt}")
    return url if size is None else f"{url}?size={size}"


def mask_url(image_id: str) -> str:
    return MASK_ROUTE.format(image_id=image_id)


def preview_url(job_id: str, version: int) -> str:
    """A new version per preview, so the browser fetches each one."""
    return PREVIEW_ROUTE.format(job_id=job_id) + f"?v={version}"


def export_url(ticket: str) -> str:
    return EXPORT_ROUTE.format(ticket=ticket)


def share_url(token: str) -> str:
    return SHARE_ROUTE.format(token=token)


def chat_url(conversation_id=None, message_id=None) -> str:
    """The chat, opened on a conversation (?c=) and scrolled to one of its messages (?m=)."""
    if conversation_id is None:
        return "/"
    url = f"/?c={conversation_id}"
    return url if message_id is None else f"{url}&m={message_id}"


def gallery_image_url(image_id: str) -> str:
    """The gallery with one image open in its detail view."""
    return "/gallery?image=" + image_id
