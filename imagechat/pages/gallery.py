"""The gallery: every image of the user, with search, filters, albums, bulk actions and the detail view.

The layout: search and filters on top (a sheet on a phone), the count and the bulk bar, then the albums
panel beside the windowed grid (components/gallery_*.py). The detail view (?image=<id>) is drawn once here.
"""

import reflex as rx

from imagechat.components.gallery_albums import album_picker, albums_panel
from imagechat.components.gallery_bulk import bulk_bar, count_line
from imagechat.components.gallery_filters import filters_panel, toolbar
from imagechat.components.gallery_grid import gallery_grid
from imagechat.components.gallery_tags import tag_editor
from imagechat.components.header import header
from imagechat.components.image_detail import image_detail
from imagechat.components.share_dialog import share_dialog
from imagechat.state.gallery import GalleryState


def _empty() -> rx.Component:
    return rx.box(
        rx.cond(
            GalleryState.filtered,
            rx.text("No image matches. Try fewer words or clear the filters.", color_scheme="gray"),
            rx.text("No images yet. Describe one in the chat.", color_scheme="gray"),
        ),
        id="gallery-empty", padding_y="32px", text_align="center",
    )


def gallery_page() -> rx.Component:
    return rx.box(
        header(menu=False),
        rx.box(
            rx.flex(
                rx.heading("Your images", size="6", as_="h2"),
                rx.link(rx.button(rx.icon("message-circle", size=16), "Back to chat", variant="soft"), href="/"),
                justify="between", align="center", wrap="wrap", spacing="2", margin_bottom="12px",
            ),
            toolbar(),
            filters_panel(),
            rx.box(count_line(), bulk_bar(), class_name="gallery-status"),
            rx.el.div(
                albums_panel(),
                rx.box(
                    rx.cond(GalleryState.total == 0, _empty(), gallery_grid()),
                    class_name="gallery-main",
                ),
                class_name="gallery-layout",
            ),
            max_width="1400px", margin_x="auto", padding="16px", role="main",
        ),
        tag_editor(),
        album_picker(),
        image_detail(),
        share_dialog(),
        min_height="100dvh",
    )
