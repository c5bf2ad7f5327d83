"""The image detail view: a full-screen dialog (a full-screen sheet on a phone) with the large image, every
fact, its lineage with a before/after compare slider, and the actions.

Include `image_detail()` once in the gallery page (with `share_dialog()`), add `DetailState.load` to the
page's on_load, and open an image with `DetailState.open(image_id)`. Arrow keys, Esc and swipes come from
assets/detail-controls.js, which presses the same buttons a mouse does (#detail-prev, #detail-next).
"""

import reflex as rx

from imagechat.components.compare_slider import compare_slider
from imagechat.components.downloads import download_menu
from imagechat.core.styles import STYLES
from imagechat.core.urls import thumb_url
from imagechat.state.detail import DetailState, LineageCard
from imagechat.state.shares import ShareState

F = DetailState.facts
_ON_DARK = {"background": "rgba(0, 0, 0, 0.7)", "color": "white"}


def _overlay_button(icon: str, label, element_id: str, on_click=None, **props) -> rx.Component:
    if on_click is not None:
        props["on_click"] = on_click
    return rx.icon_button(rx.icon(icon, size=22), id=element_id, aria_label=label, title=label,
                          size="3", radius="full", variant="solid", color_scheme="gray", high_contrast=False,
                          style={**_ON_DARK, "&:disabled": {"opacity": "0.3"}}, width="44px", height="44px",
                          **props)


def _mask_editor() -> rx.Component:
    """The large image with a canvas of its own size over it: assets/mask-editor.js paints on the canvas (pointer
    events: mouse, pen and touch) and exports the painted area as the mask. The frame keeps the image's shape at
    the largest size the stage allows (container units), so canvas pixels map onto image pixels."""
    return rx.box(
        rx.box(
            rx.image(src=F.src, alt=F.prompt, draggable=False, class_name="mask-image", width="100%",
                     height="100%", display="block", style={"user_select": "none", "pointer_events": "none"}),
            # The canvas's own pixel size (attributes; width= as a prop would become CSS).
            rx.el.canvas(id="mask-canvas", custom_attrs={"width": F.width, "height": F.height},
                         class_name="mask-canvas",
                         aria_label="Paint over the part of the image to change", role="img",
                         style={"position": "absolute", "inset": "0", "width": "100%", "height": "100%",
                                "opacity": "0.55", "touch_action": "none", "cursor": "crosshair"}),
            rx.box(class_name="mask-cursor", aria_hidden="true",
                   style={"position": "absolute", "left": "0", "top": "0", "border": "2px solid white",
                          "box_shadow": "0 0 0 1px rgba(0,0,0,0.6)", "border_radius": "50%",
                          "pointer_events": "none", "display": "none", "transform": "translate(-50%, -50%)"}),
            class_name="mask-frame",
            position="relative",
            width=F.frame_width,
            aspect_ratio=F.width.to_string() + " / " + F.height.to_string(),
        ),
        id="mask-editor",
        class_name="mask-editor",
        custom_attrs={"data-upload": F.mask_upload},
        position="absolute",
        inset="0",
        display="flex",
        align_items="center",
        justify_content="center",
        style={"container_type": "size"},
    )


def _stage() -> rx.Component:
    single = rx.image(src=F.src, alt=F.prompt, draggable=False, class_name="detail-image",
                      width="100%", height="100%", object_fit="contain", display="block")
    compare = compare_slider(DetailState.compare_a_src, DetailState.compare_b_src, DetailState.compare_a_label,
                             DetailState.compare_b_label, key=DetailState.compare_a + DetailState.compare_b)
    return rx.box(
        rx.cond(DetailState.masking, _mask_editor(), rx.cond(DetailState.comparing, compare, single)),
        # First of the controls: Radix focuses it when the view opens.
        rx.dialog.close(_overlay_button("x", "Close", "detail-close", position="absolute", right="10px",
                                        top="10px")),
        rx.cond(~DetailState.masking, _browse_controls()),
        id="detail-stage",
        position="relative",
        background="#0d0d12",
        # On a phone the mask editor's stage is only as tall as the image needs, so its tools fit below.
        height=rx.breakpoints(initial=rx.cond(DetailState.masking, F.phone_stage, "56dvh"), md="100%"),
        min_height="0",
        overflow="hidden",
    )


def _browse_controls() -> rx.Component:
    """Previous / next and the compare toggle (hidden while a mask is being painted)."""
    return rx.fragment(
        _overlay_button("chevron-left", "Previous image", "detail-prev", DetailState.prev,
                        disabled=~DetailState.has_prev, position="absolute", left="10px", top="50%",
                        transform="translateY(-50%)"),
        _overlay_button("chevron-right", "Next image", "detail-next", DetailState.next,
                        disabled=~DetailState.has_next, position="absolute", right="10px", top="50%",
                        transform="translateY(-50%)"),
        rx.cond(
            DetailState.lineage.length() > 1,
            rx.button(rx.cond(DetailState.comparing, rx.icon("image", size=16), rx.icon("columns-2", size=16)),
                      rx.cond(DetailState.comparing, "One image", "Compare"),
                      on_click=DetailState.toggle_compare, id="detail-compare-toggle", size="2", radius="full",
                      variant="solid", color_scheme="gray", aria_pressed=DetailState.comparing,
                      position="absolute", left="10px", top="10px", min_height="44px", style=_ON_DARK),
        ),
    )


def _fact(label: str, value: rx.Component, **props) -> rx.Component:
    return rx.data_list.item(rx.data_list.label(label, min_width="88px"), rx.data_list.value(value), **props)


def _facts() -> rx.Component:
    return rx.data_list.root(
        _fact("Prompt", rx.text(F.prompt, id="detail-prompt", white_space="pre-wrap", overflow_wrap="anywhere")),
        rx.cond(F.revised_prompt != "",
                _fact("Revised", rx.text(F.revised_prompt, id="detail-revised", overflow_wrap="anywhere",
                                         color_scheme="gray"))),
        _fact("Style", rx.text(rx.cond(F.style != "", F.style, "none"), id="detail-style")),
        _fact("Made by", rx.text(F.kind, id="detail-kind")),
        _fact("Engine", rx.text(F.engine, id="detail-engine")),
        rx.cond(F.model != "", _fact("Model", rx.text(F.model, id="detail-model", overflow_wrap="anywhere"))),
        _fact("Seed", rx.code(rx.cond(F.seed != "", F.seed, "none"), id="detail-seed", variant="ghost")),
        _fact("Size", rx.text(F.size, id="detail-size")),
        _fact("Stored", rx.text(F.stored, id="detail-stored")),
        _fact("Cost", rx.text(F.cost, id="detail-cost")),
        _fact("Created", rx.text(F.created, id="detail-created")),
        _fact("Chat", rx.cond(
            F.chat_href != "",
            rx.link(rx.flex(rx.icon("message-circle", size=14), "Open its message in the chat", align="center",
                            spacing="1", as_="span"),
                    href=F.chat_href, on_click=DetailState.forget, id="detail-chat-link", display="inline-flex",
                    align_items="center", min_height=rx.breakpoints(initial="44px", sm="auto")),
            rx.text("Made outside the chat", color_scheme="gray"),
        ), align="center"),
        rx.cond(F.tags.length() > 0, _fact("Tags", rx.flex(
            rx.foreach(F.tags, lambda t: rx.badge(t, variant="soft", radius="full")), spacing="1", wrap="wrap",
            id="detail-tags"))),
        rx.cond(F.albums.length() > 0, _fact("Albums", rx.flex(
            rx.foreach(F.albums, lambda a: rx.badge(rx.icon("folder", size=12), a, variant="soft",
                                                    color_scheme="gray")),
            spacing="1", wrap="wrap", id="detail-albums"))),
        orientation="horizontal",
        size="2",
        id="detail-facts",
    )


def _restyle_menu() -> rx.Component:
    return rx.dropdown_menu.root(
        rx.dropdown_menu.trigger(rx.button(rx.icon("palette", size=14), "Restyle", rx.icon("chevron-down", size=12),
                                           size="2", variant="soft", id="detail-restyle")),
        rx.dropdown_menu.content(
            *[rx.dropdown_menu.item(style.capitalize(), on_select=DetailState.restyle(style),
                                    id="restyle-" + style.replace(" ", "-"),
                                    min_height=rx.breakpoints(initial="44px", sm="32px"))
              for style in STYLES],
            align="start",
        ),
        modal=False,
    )


def _actions() -> rx.Component:
    starred = F.favorite
    return rx.flex(
        rx.icon_button(
            rx.icon("star", size=18, fill=rx.cond(starred, "currentColor", "none")),
            on_click=DetailState.toggle_favorite, id="detail-favorite", size="2",
            variant=rx.cond(starred, "solid", "soft"), color_scheme=rx.cond(starred, "amber", "gray"),
            aria_pressed=starred, aria_label=rx.cond(starred, "Remove from favourites", "Add to favourites"),
            title=rx.cond(starred, "Remove from favourites", "Add to favourites"),
        ),
        rx.button(rx.icon("pencil", size=14), "Reuse settings", size="2", variant="soft",
                  on_click=DetailState.reuse_settings, id="detail-reuse"),
        rx.button(rx.icon("shuffle", size=14), "Variations", size="2", variant="soft",
                  on_click=DetailState.variations, id="detail-variations"),
        _restyle_menu(),
        rx.button(rx.icon("brush", size=14), "Edit with a mask", size="2", variant="soft",
                  on_click=DetailState.start_mask, id="detail-mask"),
        download_menu(F.id, size="2"),
        rx.button(rx.icon("share-2", size=14), "Share", size="2", variant="soft",
                  on_click=ShareState.share_image(F.id), id="detail-share"),
        rx.button(rx.icon("trash-2", size=14), "Delete", size="2", variant="soft", color_scheme="red",
                  on_click=DetailState.delete, id="detail-delete"),
        spacing="2",
        wrap="wrap",
        class_name="detail-actions",
        style={"& button": {"min_height": rx.breakpoints(initial="44px", sm="32px")},
               "& button.rt-IconButton": {"min_width": rx.breakpoints(initial="44px", sm="32px")}},
    )


def _lineage_card(card: LineageCard) -> rx.Component:
    is_self = card.relation == "self"
    return rx.el.button(
        rx.box(
            rx.image(src=thumb_url(card.id), alt=card.label, loading="lazy", width="100%", height="100%",
                     object_fit="cover", display="block"),
            rx.badge(card.number, variant="solid", color_scheme="gray", high_contrast=True, position="absolute",
                     top="4px", left="4px", size="1"),
            position="relative", width="80px", height="80px", border_radius="8px", overflow="hidden",
            outline=rx.cond(is_self, "3px solid var(--accent-9)", "1px solid var(--gray-a5)"),
            outline_offset=rx.cond(is_self, "1px", "0"),
        ),
        rx.text(rx.cond(card.relation == "descendant", "\u21b3 ", ""), card.caption, size="1",
                color_scheme=rx.cond(is_self, "violet", "gray"), weight=rx.cond(is_self, "bold", "regular"),
                width="80px", overflow="hidden", text_overflow="ellipsis", white_space="nowrap",
                margin_top="4px", text_align="left"),
        on_click=DetailState.open(card.id),
        type="button",
        aria_label="Open " + card.label,
        aria_current=rx.cond(is_self, "true", "false"),
        class_name="lineage-card lineage-" + card.relation,
        style={"background": "none", "border": "none", "padding": "0", "cursor": "pointer", "color": "inherit",
               "font": "inherit", "border_radius": "8px",
               "&:focus-visible": {"outline": "3px solid var(--focus-8)", "outline_offset": "3px"}},
    )


def _pick(slot: str, value, on_change) -> rx.Component:
    return rx.flex(
        rx.badge(slot, variant="solid", color_scheme="gray", high_contrast=True),
        rx.select.root(
            rx.select.trigger(aria_label=f"Image {slot} of the comparison", id=f"compare-{slot.lower()}",
                              min_height="44px", flex="1", min_width="0"),
            rx.select.content(rx.foreach(DetailState.lineage, lambda c: rx.select.item(c.label, value=c.id))),
            value=value, on_change=on_change,
        ),
        # One under the other on a phone, side by side from sm up.
        align="center", spacing="2", min_width="0", flex=rx.breakpoints(initial="1 1 100%", sm="1 1 0"),
    )


def _lineage() -> rx.Component:
    return rx.cond(
        DetailState.lineage.length() > 1,
        rx.box(
            rx.heading("Lineage", size="3", as_="h2"),
            rx.text("Where this image came from (root first) and what was made from it. Pick any two to compare.",
                    size="1", color_scheme="gray", margin_bottom="8px"),
            rx.flex(rx.foreach(DetailState.lineage, _lineage_card), spacing="3", wrap="wrap", id="detail-lineage"),
            rx.flex(
                _pick("A", DetailState.compare_a, DetailState.set_compare_a),
                _pick("B", DetailState.compare_b, DetailState.set_compare_b),
                spacing="2", wrap="wrap", margin_top="12px", width="100%",
            ),
            margin_top="20px",
        ),
    )


def _tool(icon: str, label: str, element_id: str, **props) -> rx.Component:
    """A mask editor tool: a plain button assets/mask-editor.js handles in the browser (no round trip)."""
    return rx.button(rx.icon(icon, size=16), label, id=element_id, type="button", size="2", min_height="44px",
                     variant="soft", color_scheme="gray", width="100%", padding_x="6px",
                     style={"&[aria-pressed='true']": {"background": "var(--violet-9)", "color": "white"}}, **props)


def _mask_tools() -> rx.Component:
    return rx.flex(
        rx.flex(
            rx.el.label("Brush size", html_for="mask-brush", style={"font_size": "var(--font-size-2)",
                                                                    "white_space": "nowrap"}),
            rx.el.input(id="mask-brush", type="range", min="1", max="30", default_value="8", step="1",
                        aria_label="Brush size",
                        style={"flex": "1", "min_width": "0", "height": "44px", "accent_color": "var(--accent-9)"}),
            align="center", spacing="3", width="100%",
        ),
        # Undo and Clear are enabled by the script once there is something to undo (not a React prop, which
        # a re-render would put back).
        rx.grid(
            _tool("paintbrush", "Paint", "mask-paint", aria_pressed="true"),
            _tool("eraser", "Erase", "mask-erase", aria_pressed="false"),
            _tool("undo-2", "Undo", "mask-undo"),
            _tool("trash", "Clear", "mask-clear"),
            columns="4", spacing="2", width="100%", class_name="mask-tools",
        ),
        rx.flex(
            rx.el.label("What should change there?", html_for="mask-prompt",
                        style={"font_size": "var(--font-size-2)", "font_weight": "500"}),
            rx.input(id="mask-prompt", placeholder="add a boat here", max_length=1000, size="3",
                     auto_complete="off", width="100%", height="46px"),  # the field inside: 44 px
            direction="column", spacing="1", width="100%",
        ),
        rx.text(id="mask-status", role="status", aria_live="polite", size="2",
                style={"color": "var(--gray-11)", "&[data-kind='error']": {"color": "var(--red-11)"},
                       "&:empty": {"display": "none"}}),
        rx.flex(
            rx.button(rx.icon("wand-sparkles", size=16), "Apply", id="mask-apply", size="3", min_height="44px",
                      on_click=rx.call_script("window.imagechatMask.apply()", callback=DetailState.apply_mask)),
            rx.button("Cancel", id="mask-cancel", size="3", variant="soft", color_scheme="gray", min_height="44px",
                      on_click=DetailState.cancel_mask),
            spacing="2",
        ),
        direction="column",
        spacing="3",
        id="mask-tools",
    )


def _panel() -> rx.Component:
    return rx.box(
        rx.dialog.title(rx.cond(DetailState.masking, "Edit with a mask", "Image details"), size="4",
                        margin_bottom="2px"),
        rx.cond(
            DetailState.masking,
            rx.dialog.description("Paint over the part of the image to change, then say what should be there. "
                                  "Only the painted area changes.", size="2", color_scheme="gray",
                                  margin_bottom="12px"),
            rx.dialog.description(F.size + " \u00b7 " + F.created, size="1", color_scheme="gray",
                                  margin_bottom="12px"),
        ),
        rx.cond(
            DetailState.masking,
            _mask_tools(),
            rx.fragment(
                _actions(),
                rx.separator(size="4", margin_y="16px"),
                _facts(),
                _lineage(),
            ),
        ),
        padding="20px",
        overflow_y=rx.breakpoints(initial="visible", md="auto"),
        min_height="0",
        id="detail-panel",
    )


def image_detail() -> rx.Component:
    return rx.fragment(
        rx.script(src="/detail-controls.js"),
        rx.script(src="/mask-editor.js"),
        rx.dialog.root(
            rx.dialog.content(
                rx.grid(
                    _stage(),
                    _panel(),
                    grid_template_columns=rx.breakpoints(initial="minmax(0, 1fr)", md="minmax(0, 1fr) 400px"),
                    height=rx.breakpoints(initial="auto", md="100%"),
                ),
                id="image-detail",
                class_name="image-detail",
                padding="0",
                max_width="none",
                width=rx.breakpoints(initial="100vw", md="min(1400px, 96vw)"),
                height=rx.breakpoints(initial="100dvh", md="94dvh"),
                border_radius=rx.breakpoints(initial="0", md="var(--radius-5)"),
                overflow=rx.breakpoints(initial="auto", md="hidden"),
            ),
            open=F.id != "",
            on_open_change=DetailState.dismiss,
        ),
    )
