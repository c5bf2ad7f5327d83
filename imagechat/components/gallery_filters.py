"""Search box and filters of the gallery. Each control sends its value to GalleryState, which puts the
validated view in the URL; the controls show what the URL says. On a phone the filters are a sheet."""

from __future__ import annotations

import reflex as rx

from imagechat.state.gallery import AlbumItem, GalleryState


def search_box() -> rx.Component:
    # Uncontrolled (default_value), so a reply never moves the caret while typing; `key` remounts it when
    # the URL changes the text (back button, bookmark, "Clear").
    return rx.form(
        rx.flex(
            rx.input(
                rx.input.slot(rx.icon("search", size=16)),
                name="q", default_value=GalleryState.search_text, key=GalleryState.search_key,
                placeholder="Search prompts, tags, albums", aria_label="Search images",
                on_change=GalleryState.search.debounce(250), flex="1", size="3", id="gallery-search",
                max_length=200, auto_complete="off",
            ),
            rx.button("Search", type="submit", size="3", variant="soft"),
            spacing="2", width="100%",
        ),
        on_submit=GalleryState.search, flex="1", min_width="0",
    )


def _select(label: str, key: str, value, options, any_label: str) -> rx.Component:
    return rx.el.label(
        rx.el.span(label, class_name="gallery-filter-label"),
        rx.el.select(
            rx.el.option(any_label, value=""),
            rx.foreach(options, lambda o: rx.el.option(o, value=o)),
            value=value, on_change=lambda v: GalleryState.apply_filter(key, v),
            id=f"filter-{key}", class_name="gallery-select",
        ),
        class_name="gallery-filter",
    )


def _fixed_select(label: str, key: str, value, options: list[tuple[str, str]]) -> rx.Component:
    return rx.el.label(
        rx.el.span(label, class_name="gallery-filter-label"),
        rx.el.select(*[rx.el.option(text, value=v) for v, text in options], value=value,
                     on_change=lambda v: GalleryState.apply_filter(key, v), id=f"filter-{key}",
                     class_name="gallery-select"),
        class_name="gallery-filter",
    )


def _album_option(album: AlbumItem) -> rx.Component:
    return rx.el.option(album.name, value=album.id.to_string())


def _date(label: str, key: str, value) -> rx.Component:
    return rx.el.label(
        rx.el.span(label, class_name="gallery-filter-label"),
        rx.el.input(type="date", value=value, on_change=lambda v: GalleryState.apply_filter(key, v),
                    id=f"filter-{key}", class_name="gallery-select"),
        class_name="gallery-filter",
    )


def _toggle(label: str, icon: str, key: str, on) -> rx.Component:
    return rx.button(
        rx.icon(icon, size=16), label,
        variant=rx.cond(on, "solid", "soft"), color_scheme=rx.cond(on, "amber", "gray"), size="3",
        aria_pressed=rx.cond(on, "true", "false"), on_click=GalleryState.apply_filter(key, ~on), id=f"filter-{key}",
        class_name="gallery-toggle",
    )


def filters_panel() -> rx.Component:
    return rx.box(
        rx.flex(
            rx.heading("Filters", size="3", as_="h2"),
            rx.icon_button(rx.icon("x", size=18), variant="ghost", color_scheme="gray", aria_label="Close filters",
                           on_click=GalleryState.toggle_filters, size="3"),
            class_name="gallery-sheet-head", justify="between", align="center",
        ),
        rx.el.div(
            _toggle("Favourites", "star", "fav", GalleryState.f_fav),
            _toggle("Has edits", "git-branch", "edits", GalleryState.f_edits),
            _select("Style", "style", GalleryState.f_style, GalleryState.styles, "Any style"),
            _select("Engine", "engine", GalleryState.f_engine, GalleryState.engines, "Any engine"),
            _select("Model", "model", GalleryState.f_model, GalleryState.models, "Any model"),
            _fixed_select("Shape", "aspect", GalleryState.f_aspect,
                          [("", "Any shape"), ("square", "Square"), ("wide", "Wide"), ("tall", "Tall")]),
            _select("Size", "size", GalleryState.f_size, GalleryState.sizes, "Any size"),
            rx.el.label(
                rx.el.span("Album", class_name="gallery-filter-label"),
                rx.el.select(rx.el.option("Any album", value=""), rx.foreach(GalleryState.albums, _album_option),
                             value=GalleryState.f_album, on_change=lambda v: GalleryState.apply_filter("album", v),
                             id="filter-album", class_name="gallery-select"),
                class_name="gallery-filter",
            ),
            _select("Tag", "tag", GalleryState.f_tag, GalleryState.tag_names, "Any tag"),
            _date("From", "from", GalleryState.f_from),
            _date("To", "to", GalleryState.f_to),
            _fixed_select("Sort", "sort", GalleryState.f_sort,
                          [("newest", "Newest first"), ("oldest", "Oldest first")]),
            rx.cond(GalleryState.filtered,
                    rx.button(rx.icon("x", size=16), "Clear", variant="ghost", size="3",
                              on_click=GalleryState.clear_filters, id="filter-clear")),
            class_name="gallery-filter-row",
        ),
        id="gallery-filters",
        class_name=rx.cond(GalleryState.filters_open, "gallery-filters open", "gallery-filters"),
        aria_label="Filters", role="region",
    )


def toolbar() -> rx.Component:
    return rx.flex(
        search_box(),
        rx.button(rx.icon("sliders-horizontal", size=16), "Filters", variant="soft", size="3",
                  on_click=GalleryState.toggle_filters, class_name="gallery-filters-button",
                  id="gallery-filters-button"),
        spacing="2", align="center", width="100%",
    )
