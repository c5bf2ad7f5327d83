"""The message list: bubbles, live job progress, finished images with their actions, before/after."""

import reflex as rx

from imagechat.core.urls import download_url, image_url
from imagechat.state.chat import EXAMPLE_PROMPTS, ChatState
from imagechat.state.views import ChatMessage

FORMATS = (("PNG", "png"), ("JPEG", "jpeg"), ("WebP", "webp"))


def download_links(image_id, label: str = "Download") -> rx.Component:
    """rx.download runs in the browser (no server round trip) and, unlike a router link, really downloads;
    the route's Content-Disposition names the file."""
    return rx.flex(
        rx.icon("download", size=14, color="var(--gray-11)"),
        rx.text(label, size="1", color_scheme="gray"),
        *[rx.button(name, variant="soft", size="1", radius="full", class_name=f"download-{ext}",
                    aria_label=f"{label} as {name}",
                    on_click=rx.download(url=download_url(image_id, ext), filename=""))
          for name, ext in FORMATS],
        gap="1",
        align="center",
        class_name="downloads",
    )


def _image_actions(image_id, prompt) -> rx.Component:
    return rx.flex(
        download_links(image_id),
        rx.button(rx.icon("shuffle", size=14), "Variations", size="1", variant="soft",
                  on_click=ChatState.variations(image_id)),
        rx.button(rx.icon("pencil", size=14), "Reuse prompt", size="1", variant="soft",
                  on_click=ChatState.use_prompt(prompt)),
        rx.link(rx.button(rx.icon("images", size=14), "Open in gallery", size="1", variant="soft"),
                href="/gallery?image=" + image_id, class_name="open-in-gallery"),
        gap="2",
        wrap="wrap",
        margin_top="6px",
    )


def _image(image_id, prompt) -> rx.Component:
    return rx.box(
        rx.el.a(rx.image(src=image_url(image_id), alt=prompt, width="100%", border_radius="12px", loading="lazy",
                         class_name="generated-image", display="block"),
                href=image_url(image_id), target="_blank", rel="noopener noreferrer"),
        _image_actions(image_id, prompt),
        width="100%",
    )


def _figure(label: str, image_id, prompt, class_name: str) -> rx.Component:
    return rx.box(
        rx.badge(label, variant="solid", color_scheme="gray", position="absolute", top="8px", left="8px"),
        rx.image(src=image_url(image_id), alt=label + ": " + prompt, width="100%", border_radius="12px",
                 class_name="generated-image", display="block"),
        rx.box(download_links(image_id, label), margin_top="6px"),
        position="relative",
        class_name=class_name,
        flex="1",
        min_width="0",
    )


def _before_after(msg: ChatMessage) -> rx.Component:
    return rx.flex(
        _figure("Before", msg.before_id, msg.prompt, "before-image"),
        _figure("After", msg.image_ids[0], msg.prompt, "after-image"),
        gap="3",
        direction=rx.breakpoints(initial="column", sm="row"),
        width="100%",
        class_name="before-after",
    )


def _progress(msg: ChatMessage) -> rx.Component:
    return rx.vstack(
        rx.cond(msg.preview_url != "",
                rx.image(src=msg.preview_url, alt="Preview", width="min(320px, 100%)", border_radius="12px",
                         class_name="job-preview", style={"filter": "blur(2px)"})),
        rx.progress(value=msg.percent, max=100, width="100%", class_name="job-progress",
                    aria_label="Progress"),
        rx.flex(
            rx.text(msg.percent.to_string() + "%", size="2", weight="bold", class_name="job-percent"),
            rx.text(msg.stage, size="2", color_scheme="gray", class_name="job-stage"),
            rx.cond((msg.status == "queued") & (msg.queue_position > 1),
                    rx.badge("#" + msg.queue_position.to_string() + " in queue", variant="soft")),
            rx.spacer(),
            rx.button(rx.icon("x", size=14), "Cancel", size="1", variant="soft", color_scheme="red",
                      on_click=ChatState.cancel(msg.job_id), class_name="cancel-button"),
            gap="2",
            align="center",
            width="100%",
            wrap="wrap",
        ),
        width="100%",
        spacing="2",
        margin_top="8px",
        class_name="job-live",
    )


def _failed(msg: ChatMessage) -> rx.Component:
    return rx.callout(
        rx.flex(
            rx.text(rx.cond(msg.status == "cancelled", "Cancelled.", msg.error)),
            rx.button(rx.icon("rotate-ccw", size=14), "Retry", size="1", variant="soft",
                      on_click=ChatState.retry(msg.id), class_name="retry-button"),
            gap="3", align="center", wrap="wrap", justify="between", width="100%",
        ),
        icon="triangle-alert",
        color_scheme=rx.cond(msg.status == "cancelled", "gray", "red"),
        role="alert",
        margin_top="8px",
        width="100%",
        class_name="job-failed",
    )


def _job(msg: ChatMessage) -> rx.Component:
    return rx.match(
        msg.status,
        ("queued", _progress(msg)),
        ("running", _progress(msg)),
        ("succeeded", rx.vstack(
            rx.cond((msg.before_id != "") & (msg.image_ids.length() > 0), _before_after(msg),
                    rx.grid(rx.foreach(msg.image_ids, lambda i: _image(i, msg.prompt)),
                            columns=rx.cond(msg.image_ids.length() > 1, "2", "1"), gap="3", width="100%")),
            rx.text("Would you like any variations?", size="2", color_scheme="gray"),
            width="100%", spacing="2", margin_top="8px", class_name="job-done",
        )),
        ("failed", _failed(msg)),
        ("cancelled", _failed(msg)),
        rx.fragment(),
    )


def _bubble(msg: ChatMessage) -> rx.Component:
    is_user = msg.role == "user"
    return rx.flex(
        rx.box(
            rx.cond(is_user, rx.text(msg.text, size="3", white_space="pre-wrap"),
                    # use_raw=False: HTML in a reply is shown as text, never rendered (no rehype-raw).
                    rx.box(rx.markdown(msg.text, use_raw=False, component_map={"a": lambda text, **props: rx.link(
                        text, **props, is_external=True, rel="noopener noreferrer")}), class_name="assistant-text")),
            rx.cond(msg.job_id != "", _job(msg)),
            rx.cond(msg.retryable & (msg.job_id == ""),
                    rx.button(rx.icon("rotate-ccw", size=14), "Retry", size="1", variant="soft", margin_top="6px",
                              on_click=ChatState.retry(msg.id), class_name="retry-button")),
            background=rx.cond(is_user, "var(--accent-9)", "var(--gray-a3)"),
            color=rx.cond(is_user, "var(--accent-contrast)", "var(--gray-12)"),
            padding_x="14px",
            padding_y="10px",
            border_radius="18px",
            max_width=rx.cond(msg.job_id != "", "min(720px, 100%)", "min(560px, 85%)"),
            width=rx.cond(msg.job_id != "", "100%", "auto"),
            overflow_wrap="anywhere",
        ),
        justify=rx.cond(is_user, "end", "start"),
        width="100%",
        class_name=rx.cond(is_user, "chat-message user-message", "chat-message assistant-message"),
    )


def _empty_state() -> rx.Component:
    return rx.vstack(
        rx.center(rx.icon("sparkles", size=28, color="var(--accent-11)"), width="56px", height="56px",
                  border_radius="16px", background="var(--accent-a3)"),
        rx.heading("What should we paint?", size="6", text_align="center"),
        rx.text("Describe a scene and a style. Ask for changes in plain words, like \"make it watercolor\".",
                color_scheme="gray", size="3", text_align="center", max_width="440px"),
        rx.flex(
            *[rx.button(p, variant="surface", color_scheme="gray", radius="full", size="2",
                        on_click=ChatState.use_prompt(p), white_space="normal", height="auto", padding_y="6px")
              for p in EXAMPLE_PROMPTS],
            wrap="wrap", gap="2", justify="center", max_width="560px",
        ),
        align="center",
        spacing="4",
        padding_y="10vh",
        padding_x="8px",
    )


def message_list() -> rx.Component:
    return rx.box(
        rx.cond(
            ChatState.messages.length() > 0,
            rx.vstack(rx.foreach(ChatState.messages, _bubble), spacing="3", width="100%", padding_y="16px"),
            _empty_state(),
        ),
        rx.box(id="chat-end", height="1px"),
        id="message-list",
        width="100%",
        max_width="880px",
        margin_x="auto",
        padding_x="16px",
        flex="1",
    )
