"""The count line and the bulk bar: what is selected, "Select all N matching", and the bulk actions."""

from __future__ import annotations

import reflex as rx

from imagechat.state.gallery import GalleryState


def count_line() -> rx.Component:
    return rx.flex(
        rx.text(GalleryState.count_label, id="gallery-count", weight="medium"),
        rx.cond(GalleryState.total > 0,
                rx.button("Select all " + GalleryState.total_label + " matching", variant="ghost", size="2",
                          on_click=GalleryState.select_all_matching, id="select-all-matching")),
        justify="between", align="center", spacing="2", wrap="wrap", class_name="gallery-count-line",
    )


def _action(label: str, icon: str, handler, id_: str, **props) -> rx.Component:
    return rx.button(rx.icon(icon, size=16), rx.text(label, class_name="gallery-bulk-label"), size="2",
                     variant="soft", on_click=handler, id=id_, aria_label=label, **props)


def bulk_bar() -> rx.Component:
    return rx.cond(
        GalleryState.selection_count > 0,
        rx.flex(
            rx.text(GalleryState.selection_label, id="selection-count", weight="bold"),
            rx.flex(
                _action("Star", "star", GalleryState.bulk_favorite(True), "bulk-star"),
                _action("Unstar", "star-off", GalleryState.bulk_favorite(False), "bulk-unstar"),
                _action("Tag", "tag", GalleryState.open_tags(""), "bulk-tag"),
                _action("Album", "folder-plus", GalleryState.open_album_picker(""), "bulk-album"),
                _action("Download ZIP", "download", GalleryState.download_selection, "bulk-download"),
                _action("Delete", "trash-2", GalleryState.delete(""), "bulk-delete", color_scheme="red"),
                _action("Clear selection", "x", GalleryState.clear_selection, "bulk-clear", color_scheme="gray"),
                spacing="2", wrap="wrap",
            ),
            justify="between", align="center", spacing="2", wrap="wrap",
            class_name="gallery-bulk-bar", id="gallery-bulk-bar", role="toolbar", aria_label="Selected images",
        ),
    )
