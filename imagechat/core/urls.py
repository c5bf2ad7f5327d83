"""Every URL of an image or a preview is built here; the API routes are mounted on the same paths."""

from __future__ import annotations

IMAGE_ROUTE = "/api/images/{image_id}/{variant}"
PREVIEW_ROUTE = "/api/jobs/{job_id}/preview.webp"
DOWNLOAD_FORMATS = ("png", "jpeg", "webp")


def image_url(image_id: str, variant: str = "full") -> str:
    """variant: "full", "thumb.webp" or "download.<png|jpeg|webp>"."""
    return IMAGE_ROUTE.format(image_id=image_id, variant=variant)


def thumb_url(image_id: str) -> str:
    return image_url(image_id, "thumb.webp")


def download_url(image_id: str, fmt: str) -> str:
    return image_url(image_id, f"download.{fmt}")


def preview_url(job_id: str, version: int) -> str:
    """A new version per preview, so the browser fetches each one."""
    return PREVIEW_ROUTE.format(job_id=job_id) + f"?v={version}"
