"""The history: every generation job, newest first, with its reason when it failed, Retry and Cancel."""

import reflex as rx

from imagechat.components.header import header
from imagechat.core import history
from imagechat.core.urls import gallery_image_url, thumb_url
from imagechat.state.history import ALL, HistoryRow, HistoryState

STATUS_LABELS = (("All statuses", ALL), ("Queued", "queued"), ("Running", "running"), ("Succeeded", "succeeded"),
                 ("Failed", "failed"), ("Cancelled", "cancelled"))


def _status_badge(row: HistoryRow) -> rx.Component:
    return rx.match(
        row.status,
        ("succeeded", rx.badge(rx.icon("circle-check", size=14), "Succeeded", color_scheme="green", variant="soft")),
        ("failed", rx.badge(rx.icon("circle-x", size=14), "Failed", color_scheme="red", variant="soft")),
        ("cancelled", rx.badge(rx.icon("circle-slash", size=14), "Cancelled", color_scheme="gray", variant="soft")),
        ("running", rx.badge(rx.icon("loader", size=14), "Running", color_scheme="blue", variant="soft")),
        rx.badge(rx.icon("clock", size=14), "Queued", color_scheme="amber", variant="soft"),
    )


def _fact(icon: str, text, title: str) -> rx.Component:
    return rx.flex(rx.icon(icon, size=13, color="var(--gray-10)"), rx.text(text, size="1", color_scheme="gray"),
                   gap="4px", align="center", title=title)


def _facts(row: HistoryRow) -> rx.Component:
    return rx.flex(
        _fact("cpu", row.engine + rx.cond(row.model != "", " · " + row.model, ""), "Engine and model"),
        rx.cond(row.size != "", _fact("ratio", row.size, "Size")),
        rx.cond(row.style != "", _fact("palette", row.style, "Style")),
        _fact("images", row.n.to_string() + rx.cond(row.n == 1, " image", " images"), "Images asked for"),
        rx.cond(row.kind == "edit", _fact("pencil", "change of an image", "Kind")),
        _fact("coins", row.cost, "Cost (and what was reserved)"),
        rx.cond(row.duration != "", _fact("timer", row.duration, "Duration")),
        _fact("repeat", row.attempts.to_string() + rx.cond(row.attempts == 1, " attempt", " attempts"), "Attempts"),
        column_gap="14px", row_gap="4px", wrap="wrap", class_name="job-facts",
    )


def _thumb(image_id) -> rx.Component:
    return rx.link(
        rx.image(src=thumb_url(image_id), alt="Image from this job", width="72px", height="72px",
                 object_fit="cover", loading="lazy", border_radius="8px", display="block"),
        href=gallery_image_url(image_id), class_name="job-thumb", aria_label="Open this image in the gallery",
    )


TOUCH = rx.breakpoints(initial="44px", sm="32px")  # touch targets of at least 44 px on a phone


def _actions(row: HistoryRow) -> rx.Component:
    return rx.flex(
        rx.cond(row.chat_href != "",
                rx.link(rx.button(rx.icon("message-circle", size=14), "Open in chat", size="2", variant="soft",
                                  min_height=TOUCH),
                        href=row.chat_href, class_name="job-chat-link")),
        rx.cond(row.retryable,
                rx.button(rx.icon("rotate-ccw", size=14), "Retry", size="2", class_name="job-retry", min_height=TOUCH,
                          on_click=HistoryState.retry(row.id))),
        rx.cond(row.active,
                rx.button(rx.icon("square", size=14), "Cancel", size="2", variant="soft", color_scheme="red",
                          min_height=TOUCH, class_name="job-cancel", on_click=HistoryState.cancel(row.id))),
        gap="8px", wrap="wrap", align="center",
    )


def _row(row: HistoryRow) -> rx.Component:
    return rx.card(
        rx.flex(
            rx.flex(_status_badge(row), rx.text(row.created, size="1", color_scheme="gray", class_name="job-created"),
                    gap="8px", align="center", wrap="wrap"),
            _actions(row),
            justify="between", align="center", gap="8px", wrap="wrap",
        ),
        rx.text(row.prompt, size="3", weight="medium", margin_top="8px", class_name="job-prompt",
                style={"overflow_wrap": "anywhere"}),
        rx.cond(row.reason != "",
                rx.callout(row.reason, icon=rx.cond(row.status == "failed", "triangle-alert", "info"),
                           color_scheme=rx.cond(row.status == "failed", "red", "gray"), size="1",
                           margin_top="8px", class_name="job-reason")),
        rx.cond(row.active,
                rx.flex(rx.progress(value=row.percent, max=100, width="100%", max_width="320px"),
                        rx.text(row.stage, size="1", color_scheme="gray", class_name="job-stage"),
                        gap="8px", align="center", margin_top="8px", wrap="wrap")),
        rx.box(_facts(row), margin_top="8px"),
        rx.cond(row.image_ids.length() > 0,
                rx.flex(rx.foreach(row.image_ids, _thumb), gap="8px", wrap="wrap", margin_top="10px",
                        class_name="job-images")),
        id="job-" + row.id,
        class_name="job-row job-" + row.status,
        width="100%",
    )


def _filters() -> rx.Component:
    return rx.flex(
        rx.input(
            rx.input.slot(rx.icon("search", size=16)),
            value=HistoryState.text, on_change=HistoryState.set_search, debounce_timeout=300,
            placeholder="Search prompts, e.g. lake sunset", aria_label="Search jobs", max_length=history.QUERY_CHARS,
            id="history-search", size="3", flex_grow="1", min_width="0",
        ),
        rx.select.root(
            rx.select.trigger(aria_label="Status", id="history-status", min_width="150px"),
            rx.select.content(*[rx.select.item(label, value=value) for label, value in STATUS_LABELS]),
            value=HistoryState.status, on_change=HistoryState.set_status, size="3",
        ),
        gap="8px", width="100%", margin_y="16px", align=rx.breakpoints(initial="stretch", sm="center"),
        direction=rx.breakpoints(initial="column", sm="row"),
    )


def _empty() -> rx.Component:
    return rx.cond(
        HistoryState.loaded,
        rx.callout(
            rx.cond((HistoryState.text != "") | (HistoryState.status != ALL),
                    "No job matches this search. Try other words or another status.",
                    "No generation jobs yet. Describe an image in the chat and it will show up here."),
            icon="info", color_scheme="gray", id="history-empty",
        ),
        rx.center(rx.spinner(size="3"), padding="32px"),
    )


def history_page() -> rx.Component:
    return rx.box(
        header(menu=False),
        rx.box(
            rx.flex(
                rx.heading("History", size="6"),
                rx.flex(
                    rx.link(rx.button(rx.icon("images", size=16), "Gallery", variant="soft"), href="/gallery"),
                    rx.link(rx.button(rx.icon("message-circle", size=16), "Back to chat", variant="soft"), href="/"),
                    gap="8px",
                ),
                justify="between", align="center", wrap="wrap", gap="8px",
            ),
            _filters(),
            rx.cond(HistoryState.rows.length() > 0,
                    rx.vstack(
                        rx.text(HistoryState.total.to_string() + rx.cond(HistoryState.total == 1, " job", " jobs"),
                                size="2", color_scheme="gray", id="history-count"),
                        rx.foreach(HistoryState.rows, _row),
                        rx.cond(HistoryState.has_more,
                                rx.center(rx.button("Load more", variant="soft", size="3", id="history-more",
                                                    min_height=TOUCH, on_click=HistoryState.load_more,
                                                    loading=HistoryState.loading),
                                          width="100%", padding_y="8px")),
                        spacing="3", width="100%", id="history-list",
                    ),
                    _empty()),
            max_width="960px", margin_x="auto", padding="16px", role="main",
        ),
        min_height="100dvh",
    )
