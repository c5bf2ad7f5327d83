"""The tag editor: one image's tags (remove) or a selection's (add only), with autocomplete from the user's
own tags, most used first."""

from __future__ import annotations

import reflex as rx

from imagechat.state.gallery import GalleryState


def _current(tag) -> rx.Component:
    return rx.badge(
        tag,
        rx.el.button(rx.icon("x", size=12), type="button", aria_label="Remove tag " + tag,
                     on_click=GalleryState.remove_tag(tag), class_name="tag-remove"),
        size="2", variant="soft", class_name="tag-current",
    )


def _suggestion(tag) -> rx.Component:
    return rx.button("+ " + tag, size="1", variant="outline", type="button", on_click=GalleryState.add_tag(tag),
                     class_name="tag-suggestion")


def tag_editor() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Tags"),
            rx.dialog.description(
                rx.cond(GalleryState.tag_targets.length() == 1, "One image",
                        GalleryState.tag_targets.length().to_string() + " images: add a tag to all of them"),
                size="2", color_scheme="gray"),
            rx.flex(rx.foreach(GalleryState.tag_current, _current), spacing="2", wrap="wrap", margin_y="10px",
                    id="tag-current"),
            rx.form(
                rx.input(name="tag", placeholder="Add a tag", aria_label="New tag", size="3", flex="1",
                         max_length=100, auto_complete="off", id="tag-input", auto_focus=True,
                         on_change=GalleryState.suggest_tags.debounce(150)),
                rx.button("Add", type="submit", size="3", id="tag-add"),
                on_submit=GalleryState.add_tag, reset_on_submit=True, display="flex", gap="8px",
            ),
            rx.flex(rx.foreach(GalleryState.tag_suggestions, _suggestion), spacing="2", wrap="wrap", margin_top="10px",
                    id="tag-suggestions"),
            rx.flex(rx.dialog.close(rx.button("Done", variant="soft", color_scheme="gray")), justify="end",
                    margin_top="14px"),
            max_width="440px",
        ),
        open=GalleryState.tag_dialog_open,
        on_open_change=GalleryState.tag_dialog_changed,
    )
