"""The gallery: every image of the user, searchable by prompt."""

import reflex as rx

from imagechat.components.header import header
from imagechat.components.messages import download_links
from imagechat.core.urls import image_url, thumb_url
from imagechat.state.gallery import GalleryState
from imagechat.state.views import GalleryItem


def _card(item: GalleryItem) -> rx.Component:
    selected = item.id == GalleryState.selected
    return rx.card(
        rx.el.a(rx.image(src=thumb_url(item.id), alt=item.prompt, width="100%",
                         loading="lazy", border_radius="8px", display="block"),
                href=image_url(item.id), target="_blank", rel="noopener noreferrer"),
        rx.text(item.prompt, size="2", margin_top="6px", class_name="gallery-prompt"),
        rx.flex(
            rx.cond(item.style != "", rx.badge(item.style, variant="soft")),
            rx.badge(item.engine, variant="soft", color_scheme="gray"),
            rx.text(item.size + " · " + item.created, size="1", color_scheme="gray"),
            gap="1", wrap="wrap", align="center", margin_top="4px",
        ),
        rx.box(download_links(item.id), margin_top="6px"),
        id="img-" + item.id,
        class_name="gallery-item",
        style=rx.cond(selected, {"outline": "3px solid var(--accent-9)"}, {}),
    )


def gallery_page() -> rx.Component:
    return rx.box(
        header(menu=False),
        rx.box(
            rx.flex(
                rx.heading("Your images", size="6"),
                rx.link(rx.button(rx.icon("message-circle", size=16), "Back to chat", variant="soft"), href="/"),
                justify="between", align="center", wrap="wrap", gap="2",
            ),
            rx.form(
                rx.flex(
                    rx.input(name="q", placeholder="Search prompts, e.g. lake sunset", default_value=GalleryState.query,
                             aria_label="Search images", flex="1", size="3"),
                    rx.button("Search", type="submit", size="3"),
                    gap="2",
                ),
                on_submit=GalleryState.search, margin_y="16px",
            ),
            rx.cond(
                GalleryState.items.length() > 0,
                rx.grid(rx.foreach(GalleryState.items, _card),
                        columns=rx.breakpoints(initial="1", xs="2", md="3", lg="4"), gap="3", width="100%"),
                rx.text("No images yet. Describe one in the chat.", color_scheme="gray", id="gallery-empty"),
            ),
            max_width="1200px", margin_x="auto", padding="16px", role="main",
        ),
        min_height="100dvh",
    )
