"""What a gallery card shows, in one place: the Reflex state renders it and the first-page route
(api/gallery.py) sends it as JSON, so the two draw the same card."""

from __future__ import annotations

import dataclasses

from imagechat.core import gallery, urls

# The first page is smaller: about two screens, so the first render is quick; the sentinel fetches the rest.
# A multiple of every column count of the grid (2, 3, 4: assets/gallery-grid.css), like gallery.PAGE_SIZE.
FIRST_PAGE = 24


@dataclasses.dataclass
class Segment:
    text: str
    hit: bool


@dataclasses.dataclass
class GalleryCard:
    id: str
    thumb: str
    prompt: str
    segments: list[Segment]  # the prompt cut at the search's matches; [] without a search (the prompt as it is)
    style: str
    width: int
    height: int
    meta: str  # "1024x1024 · 2026-11-29"
    favorite: bool
    tags: list[str]


def card_view(card: gallery.Card, text: str) -> GalleryCard:
    """The card of one image; `text` is the search, whose matches in the prompt are marked."""
    # Lean: the grid's whole window is resent on each page appended, so nothing the card does not draw.
    parts = gallery.highlight(card.prompt, text) if text else []
    return GalleryCard(
        id=card.id, thumb=urls.thumb_url(card.id), prompt=card.prompt,
        segments=[Segment(text=t, hit=bool(h)) for t, h in parts],
        style=card.style or "", width=int(card.width), height=int(card.height),
        meta=f"{card.width}x{card.height} · {card.created_at:%Y-%m-%d}",
        favorite=bool(card.favorite), tags=list(card.tags or []),
    )
