"""Albums: the panel (create, rename, delete, click to filter; the cover is shown) and the
"Add to album" dialog used from a card's menu and from the bulk bar."""

from __future__ import annotations

import reflex as rx

from imagechat.state.gallery import AlbumItem, GalleryState


def _cover(album: AlbumItem) -> rx.Component:
    return rx.cond(
        album.cover != "",
        rx.el.img(src=album.cover, alt="", class_name="album-cover", loading="lazy", decoding="async"),
        rx.el.div(rx.icon("images", size=18), class_name="album-cover empty"),
    )


def _rename_form(album: AlbumItem) -> rx.Component:
    return rx.form(
        rx.el.input(type="hidden", name="album_id", value=album.id.to_string()),
        rx.input(name="name", default_value=album.name, aria_label="Album name", size="2", auto_focus=True,
                 max_length=200, flex="1"),
        rx.button("Save", type="submit", size="2"),
        on_submit=GalleryState.rename_album, display="flex", gap="6px", width="100%",
    )


def _album_row(album: AlbumItem) -> rx.Component:
    active = GalleryState.f_album == album.id.to_string()
    return rx.cond(
        GalleryState.renaming_album == album.id,
        rx.el.li(_rename_form(album), class_name="album-row"),
        rx.el.li(
            rx.el.button(
                _cover(album),
                rx.el.span(album.name, class_name="album-name"),
                rx.el.span(album.count, class_name="album-count"),
                class_name=rx.cond(active, "album-open active", "album-open"), type="button",
                aria_pressed=rx.cond(active, "true", "false"),
                on_click=GalleryState.apply_filter("album", rx.cond(active, "", album.id.to_string())),
            ),
            rx.menu.root(
                rx.menu.trigger(rx.el.button(rx.icon("ellipsis", size=16), class_name="gallery-icon-button",
                                             type="button", aria_label="Album options: " + album.name)),
                rx.menu.content(
                    rx.menu.item("Rename", on_click=GalleryState.start_rename_album(album.id)),
                    rx.menu.item("Delete album", color="red", on_click=GalleryState.delete_album(album.id)),
                ),
                modal=False,  # see gallery_grid._card_menu
            ),
            class_name="album-row",
        ),
    )


def _create_form(id_: str) -> rx.Component:
    return rx.form(
        rx.input(name="name", placeholder="New album name", aria_label="New album name", size="2", flex="1",
                 max_length=200, id=id_ + "-name", required=True),
        rx.button(rx.icon("plus", size=14), "Create", type="submit", size="2", id=id_ + "-submit"),
        on_submit=GalleryState.create_album, reset_on_submit=True, display="flex", gap="6px", width="100%",
    )


def albums_panel() -> rx.Component:
    return rx.el.nav(
        rx.heading("Albums", size="3", as_="h2", margin_bottom="8px"),
        rx.el.ul(rx.foreach(GalleryState.albums, _album_row), class_name="album-list"),
        _create_form("album-create"),
        class_name="gallery-albums", id="gallery-albums", aria_label="Albums",
    )


def album_picker() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Add to album"),
            rx.dialog.description(
                rx.cond(GalleryState.album_targets.length() == 1, "One image",
                        GalleryState.album_targets.length().to_string() + " images"),
                size="2", color_scheme="gray"),
            rx.el.ul(
                rx.foreach(GalleryState.albums, lambda a: rx.el.li(rx.button(
                    a.name, variant="soft", size="3", width="100%", justify="start",
                    on_click=GalleryState.add_to_album(a.id), class_name="album-pick"))),
                class_name="album-pick-list",
            ),
            _create_form("album-picker-create"),
            rx.flex(rx.dialog.close(rx.button("Close", variant="soft", color_scheme="gray")), justify="end",
                    margin_top="12px"),
            max_width="420px",
        ),
        open=GalleryState.album_dialog_open,
        on_open_change=GalleryState.album_dialog_changed,
    )
