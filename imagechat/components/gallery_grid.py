"""The gallery's windowed grid and its cards.

`GalleryWindow` is a small hand-written React component (assets/gallery-window.jsx): spacers for the pages
the state dropped, and sentinels that ask for the next or previous page. Every card has the same height
(a square thumbnail box, two lines of prompt, one of facts), so a row's height is known and the spacers
are exact. Cards render the thumbnail only (WebP, lazy, async decoding) with its width/height attributes.
"""

from __future__ import annotations

from pathlib import Path

import reflex as rx

from imagechat.core.gallery_view import GalleryCard, Segment
from imagechat.state.detail import DetailState
from imagechat.state.gallery import GalleryState


class GalleryWindow(rx.Component):
    library = "$/public/gallery-window.jsx"
    tag = "GalleryWindow"

    before: rx.Var[int]
    after: rx.Var[int]
    window_key: rx.Var[int]
    has_more: rx.Var[bool]
    has_previous: rx.Var[bool]
    ready: rx.Var[bool]  # the state has its first page: until then the early cards (gallery_first.js) show

    on_near_end: rx.EventHandler[lambda key: [key]]
    on_near_start: rx.EventHandler[lambda key: [key]]


class MemoCard(rx.Component):
    """A card that React renders again only when `version` changes (assets/gallery-window.jsx)."""
    library = "$/public/gallery-window.jsx"
    tag = "MemoCard"

    version: rx.Var[str]


def early_first_page_script() -> rx.Component:
    """For the head of every page: on a full load of /gallery, fetch the first cards at once (gallery_first.js).

    Inline, not a file: an external script in the head is fetched only after the build's modules, too late."""
    code = (Path(__file__).with_name("gallery_first.js")).read_text(encoding="utf-8")
    return rx.el.script(custom_attrs={"dangerouslySetInnerHTML": {"__html": code}})


def _checked(card: GalleryCard):
    return rx.cond(GalleryState.all_matching, ~GalleryState.excluded.contains(card.id),
                   GalleryState.selected.contains(card.id))


def _segment(segment: Segment) -> rx.Component:
    return rx.cond(segment.hit, rx.el.mark(segment.text), rx.el.span(segment.text))


def _card_menu(card: GalleryCard, in_album) -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(rx.el.button(_glyph("more"), class_name="gallery-icon-button gallery-more",
                                     aria_label="More actions", type="button")),
        rx.menu.content(
            rx.menu.item(rx.icon("tag", size=14), "Tags…", on_click=GalleryState.open_tags(card.id),
                         class_name="card-tags"),
            rx.menu.item(rx.icon("folder-plus", size=14), "Add to album…",
                         on_click=GalleryState.open_album_picker(card.id), class_name="card-album"),
            rx.cond(in_album, rx.menu.item(rx.icon("image", size=14), "Use as album cover",
                                           on_click=GalleryState.set_cover(card.id), class_name="card-cover")),
            rx.cond(in_album, rx.menu.item(rx.icon("folder-minus", size=14), "Remove from this album",
                                           on_click=GalleryState.remove_from_album(card.id))),
            rx.menu.separator(),
            rx.menu.item(rx.icon("trash-2", size=14), "Delete", color="red",
                         on_click=GalleryState.delete(card.id), class_name="card-delete"),
        ),
        # Not modal: a modal menu hands focus back to its trigger as it closes, and the dialog it just opened
        # (tags, album picker) takes that for a focus outside itself and closes again.
        modal=False,
    )


def _glyph(name: str) -> rx.Component:
    """A card's icon drawn by CSS (assets/gallery-grid.css), not an SVG component: sixty cards mount at once when
    a page arrives, and icon components were the largest share of that work."""
    return rx.el.span(class_name="gallery-glyph " + name, aria_hidden="true")


def gallery_card(card: GalleryCard) -> rx.Component:
    checked = _checked(card)
    in_album = GalleryState.f_album != ""
    # Everything the card draws, so MemoCard renders it again exactly when it would look different.
    version = card.to_string() + rx.cond(checked, "|1", "|0") + rx.cond(in_album, "|1", "|0")
    return MemoCard.create(_card_body(card, checked, in_album), version=version,
                           # Keyed by image, not by position: dropping a page above removes its nodes (and the
                           # spacer grows by as much) instead of rewriting every card in place, which made Chrome's
                           # scroll anchoring follow the content down and fetch page after page.
                           key=card.id)


def _card_body(card: GalleryCard, checked, in_album) -> rx.Component:
    return rx.el.div(
        rx.el.button(
            # width/height as attributes (Reflex would make them CSS): the box's ratio before the bytes arrive.
            rx.el.img(src=card.thumb, alt=card.prompt, custom_attrs={"width": card.width, "height": card.height},
                      loading="lazy", decoding="async", draggable=False),
            class_name="gallery-open", type="button", aria_label="Open image: " + card.prompt,
            on_click=DetailState.open(card.id),
        ),
        rx.el.label(
            rx.el.input(type="checkbox", checked=checked, read_only=True, class_name="gallery-check",
                        aria_label="Select image: " + card.prompt,
                        on_click=lambda e: GalleryState.toggle_select(card.id, e["shift_key"])),
            class_name="gallery-check-box",
        ),
        rx.el.button(
            _glyph("star"),
            class_name=rx.cond(card.favorite, "gallery-icon-button gallery-star on",
                               "gallery-icon-button gallery-star"),
            type="button", aria_pressed=rx.cond(card.favorite, "true", "false"),
            aria_label=rx.cond(card.favorite, "Remove from favourites", "Add to favourites"),
            on_click=GalleryState.toggle_favorite(card.id),
        ),
        rx.el.div(
            rx.el.p(rx.cond(card.segments.length() > 0, rx.foreach(card.segments, _segment), card.prompt),
                    class_name="gallery-prompt", title=card.prompt),
            rx.el.div(
                rx.el.span(rx.cond(card.style != "", card.style + " · ", ""), card.meta, class_name="gallery-meta"),
                _card_menu(card, in_album),
                class_name="gallery-facts",
            ),
            rx.el.div(rx.foreach(card.tags, lambda t: rx.el.span(t, class_name="gallery-tag")),
                      class_name="gallery-tags"),
            class_name="gallery-card-text",
        ),
        role="listitem",
        id="img-" + card.id,
        class_name=rx.cond(checked, "gallery-item selected", "gallery-item"),
    )


def gallery_grid() -> rx.Component:
    return rx.box(
        GalleryWindow.create(
            rx.foreach(GalleryState.cards, gallery_card),
            before=GalleryState.before,
            after=GalleryState.after,
            window_key=GalleryState.window_key,
            has_more=GalleryState.has_more,
            has_previous=GalleryState.before > 0,
            ready=GalleryState.total >= 0,
            on_near_end=GalleryState.load_next,
            on_near_start=GalleryState.load_previous,
            id="gallery-window",
        ),
        rx.cond(GalleryState.has_more,
                rx.el.p("Loading more images…", class_name="gallery-more-note", id="gallery-loading"),
                rx.cond(GalleryState.total > 0,
                        rx.el.p("That is every image.", class_name="gallery-more-note", id="gallery-end"))),
    )
