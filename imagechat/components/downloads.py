"""The download menu: PNG, JPEG or WebP, at the original size or with a shorter long side.

One compact Radix dropdown usable wherever an image is shown (chat, gallery card, detail view). Each
choice is a plain browser download of core.urls.download_url (the route names the file and embeds the
prompt and parameters): nothing goes through the server-side state.
"""

from __future__ import annotations

import reflex as rx

from imagechat.core.urls import DOWNLOAD_SIZES, download_url

FORMATS = (("PNG", "png", "lossless"), ("JPEG", "jpeg", "smallest"), ("WebP", "webp", "small, sharp"))
SIZES = ((None, "Original size"), *((n, f"{n} px long side") for n in DOWNLOAD_SIZES))


def _item(image_id, ext: str, name: str, size: int | None, text: str) -> rx.Component:
    return rx.dropdown_menu.item(
        rx.text(text, size="2"),
        # on_select also fires for Enter/Space, so the menu works from the keyboard.
        on_select=rx.download(url=download_url(image_id, ext, size), filename=""),
        class_name=f"download-item download-{ext}-{size or 'original'}",
        aria_label=f"Download {name}, {text.lower()}",
        # At least 44 px tall for a finger on a phone (and never squeezed when the menu must scroll);
        # the desktop keeps Radix's compact rows.
        min_height=rx.breakpoints(initial="44px", sm="32px"),
        flex_shrink="0",
    )


def _group(image_id, name: str, ext: str, hint: str) -> list[rx.Component]:
    return [
        rx.text(rx.text.strong(name), " · ", hint, size="1", color_scheme="gray", high_contrast=False,
                padding="6px 12px 2px", flex_shrink="0", aria_hidden="true"),
        *[_item(image_id, ext, name, size, text) for size, text in SIZES],
    ]


def download_menu(image_id, *, label: str = "Download", icon_only: bool = False, size: str = "1",
                  variant: str = "soft") -> rx.Component:
    """`image_id`: a string or a Var. `icon_only` for tight spots (a gallery card); it keeps an aria-label."""
    trigger = (
        rx.icon_button(rx.icon("download", size=14), size=size, variant=variant, aria_label=label,
                       title=label, class_name="download-menu-trigger")
        if icon_only else
        rx.button(rx.icon("download", size=14), label, rx.icon("chevron-down", size=12), size=size,
                  variant=variant, class_name="download-menu-trigger")
    )
    groups = []
    for n, (name, ext, hint) in enumerate(FORMATS):
        if n:
            groups.append(rx.dropdown_menu.separator())
        groups.extend(_group(image_id, name, ext, hint))
    return rx.dropdown_menu.root(
        rx.dropdown_menu.trigger(trigger),
        # Solid, not the theme's translucent panel: the menu usually opens over the image itself.
        rx.dropdown_menu.content(*groups, size="2", align="start", class_name="download-menu",
                                 background_color="var(--color-panel-solid)",
                                 max_height="min(80vh, 560px)", overflow_y="auto"),
        modal=False,  # no focus trap / scroll lock around a simple menu inside a scrolling chat
    )
