"""The message box and what sits around it: the options (style chips with previews, shape and size, quality,
count, engine and model), Enhance with its editable before/after, "Surprise me", and suggestions while typing.

Everything is a touch target of at least 44 px and works at 390 px wide; the options open in a popover above
the box. The keyboard moves between the box and the suggestions (assets/composer-keys.js).
"""

import reflex as rx

from imagechat.components.usage import budget_warning
from imagechat.core.style_previews import slug
from imagechat.core.styles import STYLES
from imagechat.core.urls import style_preview_url
from imagechat.state.chat import ChatState, EngineItem, SuggestionItem

TOUCH = "44px"
# (value, label, size, the shape drawn on the chip: width x height in px; None = a ruler icon)
ASPECT_CHOICES = (("square", "Square", "1024×1024", (16, 16)), ("wide", "Wide", "1792×1024", (22, 13)),
                  ("tall", "Tall", "1024×1792", (13, 22)), ("custom", "Custom", "W×H", None))
QUALITY_CHOICES = (("auto", "Auto"), ("low", "Low"), ("medium", "Medium"), ("high", "High"))


def _pressed(selected) -> dict:
    return {"variant": rx.cond(selected, "solid", "surface"), "color_scheme": rx.cond(selected, "iris", "gray"),
            "aria_pressed": rx.cond(selected, "true", "false")}


def _section(title: str, *children, **props) -> rx.Component:
    return rx.flex(rx.text(title, size="2", weight="medium", color_scheme="gray", as_="div"), *children,
                   direction="column", spacing="2", width="100%", **props)


def _style_chip(style: str) -> rx.Component:
    label = style.capitalize() if style else "No style"
    picture = (rx.image(src=style_preview_url(slug(style)), alt="", width="32px", height="32px",
                        border_radius="6px", flex_shrink="0", loading="lazy", class_name="style-preview")
               if style else rx.center(rx.icon("circle-off", size=18), width="32px", height="32px",
                                       border_radius="6px", background="var(--gray-a3)", flex_shrink="0"))
    return rx.button(
        picture,
        rx.text(label, size="2", truncate=True),
        on_click=ChatState.pick_style(style),
        type="button",
        size="2",
        min_height=TOUCH,
        height="auto",
        padding="5px 10px 5px 6px",
        justify_content="flex-start",
        gap="8px",
        width="100%",
        id="style-chip-" + (slug(style) if style else "none"),
        class_name="style-chip",
        **_pressed(ChatState.opt_style == style),
    )


def _segment(label, selected, on_click, **props) -> rx.Component:
    return rx.button(label, on_click=on_click, type="button", size="2", min_height=TOUCH, flex="1 1 0",
                     min_width="0", padding_x="8px", **_pressed(selected), **props)


def _aspect(value: str, label: str, size_text: str, shape: tuple[int, int] | None) -> rx.Component:
    drawn = (rx.box(width=f"{shape[0]}px", height=f"{shape[1]}px", border="2px solid currentColor",
                    border_radius="3px", flex_shrink="0") if shape else rx.icon("ruler", size=18, flex_shrink="0"))
    return rx.button(
        rx.center(drawn, width="22px", height="24px", flex_shrink="0"),
        rx.flex(rx.text(label, size="2"), rx.text(size_text, size="1", opacity="0.75"), direction="column",
                align="start", spacing="0"),
        on_click=ChatState.pick_aspect(value),
        type="button", size="2", min_height=TOUCH, height="auto", padding_y="4px", padding_x="8px",
        justify_content="flex-start", gap="6px", width="100%",
        id=f"aspect-{value}", class_name="aspect-chip",
        **_pressed(ChatState.opt_aspect == value),
    )


def _custom_size() -> rx.Component:
    # Not a form: the popover is portaled out of the composer's form in the page, but React still bubbles a
    # submit through it to the composer (which would send the message). Fields report on blur; Apply applies.
    field = {"type": "text", "input_mode": "numeric", "size": "3", "max_length": 5, "width": "96px"}
    return rx.flex(
        rx.input(default_value=ChatState.custom_width, on_blur=ChatState.set_custom_width,
                 aria_label="Width in pixels", id="custom-width", **field),
        rx.text("×", size="3", color_scheme="gray"),
        rx.input(default_value=ChatState.custom_height, on_blur=ChatState.set_custom_height,
                 aria_label="Height in pixels", id="custom-height", **field),
        rx.button("Apply", on_click=ChatState.apply_custom_size, type="button", size="2", variant="soft",
                  min_height=TOUCH, id="custom-apply"),
        spacing="2", align="center", wrap="wrap",
    )


def _engine_chip(item: EngineItem) -> rx.Component:
    default = (ChatState.opt_engine == "") & (ChatState.engines[0].name == item.name)
    chosen = (ChatState.opt_engine == item.name) | default
    return rx.button(item.label, on_click=ChatState.pick_engine(item.name), type="button", size="2",
                     min_height=TOUCH, class_name="engine-chip", **_pressed(chosen))


def _model_chip(model: rx.Var[str]) -> rx.Component:
    chosen = (ChatState.opt_model == model) | ((ChatState.opt_model == "") & (ChatState.models[0] == model))
    return rx.button(model, on_click=ChatState.pick_model(model), type="button", size="2", min_height=TOUCH,
                     class_name="model-chip", **_pressed(chosen))


def _options_panel() -> rx.Component:
    return rx.flex(
        _section("Style", rx.grid(_style_chip(""), *[_style_chip(s) for s in STYLES],
                                  columns=rx.breakpoints(initial="2", sm="3"), spacing="2", width="100%"),
                 role="group", aria_label="Style"),
        _section(
            "Shape and size",
            rx.grid(*[_aspect(*a) for a in ASPECT_CHOICES], columns=rx.breakpoints(initial="2", sm="4"), spacing="2",
                    width="100%"),
            rx.cond(ChatState.opt_aspect == "custom", _custom_size()),
            rx.cond(ChatState.size_hint != "", rx.text(ChatState.size_hint, size="1", color_scheme="amber",
                                                       id="size-hint", role="status")),
            role="group", aria_label="Shape and size",
        ),
        _section("Quality", rx.flex(*[_segment(label, ChatState.opt_quality == q, ChatState.pick_quality(q),
                                               id=f"quality-{q}") for q, label in QUALITY_CHOICES],
                                    spacing="1", width="100%"), role="group", aria_label="Quality"),
        _section("Images", rx.flex(rx.foreach(ChatState.count_choices, lambda n: _segment(
            n.to_string(), ChatState.opt_count == n, ChatState.pick_count(n), id="count-" + n.to_string())),
            spacing="1", width="100%"), role="group", aria_label="Number of images"),
        rx.cond(ChatState.engines.length() > 1, _section(
            "Engine", rx.flex(rx.foreach(ChatState.engines, _engine_chip), spacing="2", wrap="wrap"),
            role="group", aria_label="Engine")),
        rx.cond(ChatState.models.length() > 1, _section(
            "Model", rx.flex(rx.foreach(ChatState.models, _model_chip), spacing="2", wrap="wrap"),
            role="group", aria_label="Model")),
        rx.text("Words in your message win: \u201cwide\u201d, \u201c3 of them\u201d, \u201cin watercolor\u201d or "
                "\u201chigh quality\u201d set that request.", size="1", color_scheme="gray"),
        rx.flex(
            rx.button("Reset", on_click=ChatState.reset_options, type="button", variant="soft", color_scheme="gray",
                      size="2", min_height=TOUCH, id="options-reset"),
            rx.popover.close(rx.button("Done", type="button", size="2", min_height=TOUCH, id="options-done")),
            justify="end", spacing="2", width="100%",
        ),
        direction="column",
        spacing="4",
    )


def _options_button() -> rx.Component:
    return rx.popover.root(
        rx.popover.trigger(
            rx.button(
                rx.icon("sliders-horizontal", size=16),
                rx.text(rx.cond(ChatState.options_summary != "", ChatState.options_summary, "Options"), truncate=True,
                        size="2"),
                type="button", variant="soft", color_scheme="gray", radius="full", size="2", min_height=TOUCH,
                max_width=rx.breakpoints(initial="170px", sm="340px"), id="options-button",
                aria_label=rx.cond(ChatState.options_summary != "", "Options: " + ChatState.options_summary,
                                   "Options"),
            ),
        ),
        rx.popover.content(
            _options_panel(),
            side="top",
            align="start",
            width="min(580px, calc(100vw - 24px))",
            max_width="calc(100vw - 24px)",  # Radix Themes caps a popover at 480 px otherwise
            max_height="min(72dvh, 640px)",
            overflow_y="auto",
            id="composer-options",
            aria_label="Options for the next images",
        ),
        open=ChatState.options_open,
        on_open_change=ChatState.set_options_open,
        modal=False,
    )


def _tool(icon: str, label: str, **props) -> rx.Component:
    return rx.button(rx.icon(icon, size=16), rx.text(label, display=rx.breakpoints(initial="none", sm="inline")),
                     type="button", variant="soft", color_scheme="gray", radius="full", size="2", min_height=TOUCH,
                     min_width=TOUCH, aria_label=label, title=label, **props)


def _suggestion(item: SuggestionItem) -> rx.Component:
    return rx.button(
        rx.icon(rx.cond(item.kind == "recent", "history", "sparkles"), size=14, flex_shrink="0"),
        rx.text(item.text, truncate=True, size="2"),
        on_click=ChatState.use_suggestion(item.text),
        type="button", variant="ghost", color_scheme="gray", size="2", width="100%", min_height=TOUCH,
        justify_content="flex-start", gap="8px", margin="0", class_name="prompt-suggestion",
        title=rx.cond(item.kind == "recent", "From your earlier prompts", "A starter idea"),
    )


def _suggestions() -> rx.Component:
    return rx.cond(
        (ChatState.suggestions.length() > 0) & ~ChatState.enhance_open,
        rx.box(
            rx.flex(
                rx.text("Suggestions (\u2193 to choose)", size="1", color_scheme="gray"),
                rx.icon_button(rx.icon("x", size=14), on_click=ChatState.hide_suggestions, type="button",
                               variant="ghost", color_scheme="gray", size="1", aria_label="Hide suggestions",
                               id="hide-suggestions"),
                justify="between", align="center", padding_x="8px",
            ),
            rx.flex(rx.foreach(ChatState.suggestions, _suggestion), direction="column", spacing="0",
                    role="group", aria_label="Suggestions"),
            id="prompt-suggestions",
            width="100%",
            border_top="1px solid var(--gray-a4)",
            padding_top="4px",
        ),
    )


def _enhance_panel() -> rx.Component:
    return rx.cond(
        ChatState.enhance_open,
        rx.box(
            rx.flex(
                rx.flex(rx.icon("wand-sparkles", size=16), rx.text("Enhanced prompt", weight="medium", size="2"),
                        spacing="2", align="center"),
                rx.badge(ChatState.enhance_source, variant="soft", color_scheme="gray", id="enhance-source"),
                justify="between", align="center", wrap="wrap", spacing="2",
            ),
            rx.text("Before", size="1", color_scheme="gray", margin_top="8px", as_="div"),
            rx.text(ChatState.enhance_before, size="2", color_scheme="gray", id="enhance-before",
                    white_space="pre-wrap", overflow_wrap="anywhere"),
            rx.el.label("After (edit it if you like)", html_for="enhance-after", class_name="rt-Text rt-r-size-1",
                        style={"color": "var(--gray-11)", "display": "block", "margin_top": "8px"}),
            rx.text_area(value=ChatState.enhance_after, on_change=ChatState.set_enhance_after, id="enhance-after",
                         rows="3", max_height="40dvh", size="2", width="100%", resize="vertical",
                         class_name="enhance-after"),
            rx.cond(ChatState.enhance_note != "", rx.text(ChatState.enhance_note, size="1", color_scheme="amber",
                                                          role="status", id="enhance-note", margin_top="4px")),
            rx.flex(
                rx.button("Discard", on_click=ChatState.discard_enhance, type="button", variant="soft",
                          color_scheme="gray", size="2", min_height=TOUCH, id="enhance-discard"),
                rx.button(rx.icon("check", size=16), "Use it", on_click=ChatState.accept_enhance, type="button",
                          size="2", min_height=TOUCH, id="enhance-accept"),
                justify="end", spacing="2", margin_top="8px",
            ),
            id="enhance-panel",
            role="region",
            aria_label="Enhanced prompt",
            padding="12px",
            margin_bottom="8px",
            border="1px solid var(--accent-a6)",
            border_radius="16px",
            background="var(--color-panel-solid)",
            box_shadow="0 8px 24px -12px var(--gray-a7)",
        ),
    )


def _toolbar() -> rx.Component:
    return rx.flex(
        _options_button(),
        _tool("wand-sparkles", "Enhance", on_click=ChatState.enhance, id="enhance-button",
              loading=ChatState.enhancing, disabled=ChatState.draft.strip() == ""),
        _tool("dices", "Surprise me", on_click=ChatState.surprise, id="surprise-button"),
        rx.spacer(),
        rx.icon_button(
            rx.icon("arrow-up", size=20),
            type="submit",
            id="send-button",
            aria_label="Send",
            size="3",
            radius="full",
            disabled=ChatState.draft.strip() == "",
        ),
        align="center",
        spacing="2",
        width="100%",
    )


def composer() -> rx.Component:
    return rx.box(
        budget_warning(),  # at 80% of a budget (state/usage.py BudgetState)
        _enhance_panel(),
        rx.form(
            rx.flex(
                rx.text_area(
                    placeholder="Describe an image...",
                    value=ChatState.draft,
                    on_change=ChatState.set_draft,
                    name="prompt",
                    id="prompt-input",
                    aria_label="Prompt",
                    rows="1",
                    auto_height=True,
                    enter_key_submit=True,
                    size="3",
                    variant="surface",
                    class_name="composer-input",
                    width="100%",
                    max_height="200px",
                    resize="none",
                ),
                _suggestions(),
                _toolbar(),
                direction="column",
                spacing="1",
                padding="6px",
                padding_left="8px",
                class_name="composer-shell",
                border="1px solid var(--gray-a5)",
                border_radius="24px",
                background="var(--color-panel-solid)",
                box_shadow="0 8px 24px -12px var(--gray-a7)",
            ),
            on_submit=ChatState.send,
            id="composer",
            reset_on_submit=False,
            width="100%",
        ),
        rx.cond(ChatState.notice != "", rx.callout(ChatState.notice, icon="info", color_scheme="amber", size="1",
                                                    role="alert", margin_top="6px", id="composer-notice")),
        rx.text(
            ChatState.cost_line,  # the estimate before sending (core/costs.estimate); the actual cost is per image
            size="1",
            color_scheme="gray",
            text_align="center",
            margin_top="6px",
            id="cost-estimate",
        ),
        rx.script(src="/composer-keys.js"),
        position="sticky",
        bottom="0",
        width="100%",
        max_width="880px",
        margin_x="auto",
        padding_x="16px",
        padding_top="8px",
        padding_bottom="max(12px, env(safe-area-inset-bottom))",
        background="linear-gradient(to top, var(--color-background) 70%, transparent)",
    )
