"""The small pictures on the composer's style chips: one scene painted by the offline engine in every style.

Made on first use (a few tenths of a second for all eight) and kept in memory; the painter is deterministic,
so every process makes the same bytes and the route can let browsers cache them. Painted at three times the
size and scaled down, so the small picture keeps the style's texture without its noise (pixel art keeps
its hard pixels).
"""

from __future__ import annotations

import hashlib
import io
import threading

from PIL import Image

from imagechat.core.painter import parse_scene, render
from imagechat.core.styles import STYLES

SCENE = "a lighthouse on the sea at sunset"  # reads well at 96 px in every style
SEED = 3
PREVIEW_PX = 96
RENDER_PX = PREVIEW_PX * 3

_lock = threading.Lock()
_made: dict[str, tuple[bytes, str]] = {}


def slug(style: str) -> str:
    return style.replace(" ", "-")


SLUGS = {slug(s): s for s in STYLES}


def preview(name: str) -> tuple[bytes, str] | None:
    """(WebP bytes, ETag) of the preview for a style's slug ("oil-painting"), or None for anything else."""
    style = SLUGS.get(name)
    if style is None:
        return None
    with _lock:  # the first callers wait for one painting instead of painting the same thing at once
        if style not in _made:
            pixels = render(parse_scene(SCENE), style, RENDER_PX, RENDER_PX, SEED).pixels
            scaling = Image.NEAREST if style == "pixel art" else Image.LANCZOS
            small = Image.fromarray(pixels).resize((PREVIEW_PX, PREVIEW_PX), scaling)
            buf = io.BytesIO()
            small.save(buf, "WEBP", quality=82, method=6)
            data = buf.getvalue()
            _made[style] = (data, hashlib.sha256(data).hexdigest()[:24])
        return _made[style]
