"""The message list: bubbles, live job progress, finished images with their actions, before/after.

Each message is an element with id "msg-<id>" (what core.urls.chat_url links to). Older messages come in
front through the "Show earlier messages" button, which the page script (state/chat.py CHAT_JS) also
presses when the user scrolls near the top; image boxes take their aspect ratio before the picture
arrives, so nothing below or above jumps while images load.
"""

import reflex as rx

from imagechat.components.downloads import download_menu
from imagechat.core.urls import gallery_image_url, image_url
from imagechat.state.chat import (
    EXAMPLE_PROMPTS,
    ChatImage,
    ChatProgress,
    ChatState,
    ChatTurn,
    ChatView,
    JobLive,
    ShownMessage,
)


def _deleted(image: ChatImage) -> rx.Component:
    return rx.center(
        rx.flex(rx.icon("image-off", size=18), rx.text("This image was deleted", size="2"), spacing="2",
                align="center"),
        aspect_ratio=image.aspect,
        width="100%",
        max_height="480px",
        border_radius="12px",
        border="1px dashed var(--gray-a7)",
        color="var(--gray-11)",
        background="var(--gray-a2)",
        class_name="deleted-image",
    )


def _star(image: ChatImage) -> rx.Component:
    return rx.icon_button(
        rx.icon("star", size=14, fill=rx.cond(image.favorite, "currentColor", "none")),
        size="1",
        variant=rx.cond(image.favorite, "solid", "soft"),
        color_scheme=rx.cond(image.favorite, "amber", "gray"),
        aria_label=rx.cond(image.favorite, "Remove from favourites", "Add to favourites"),
        aria_pressed=rx.cond(image.favorite, "true", "false"),
        title=rx.cond(image.favorite, "Remove from favourites", "Add to favourites"),
        on_click=ChatState.toggle_favorite(image.id),
        class_name=rx.cond(image.favorite, "favorite-toggle is-favorite", "favorite-toggle"),
    )


def _album_menu(image: ChatImage) -> rx.Component:
    return rx.dropdown_menu.root(
        rx.dropdown_menu.trigger(
            rx.button(rx.icon("folder-plus", size=14), "Add to album", size="1", variant="soft",
                      class_name="album-menu-trigger")),
        rx.dropdown_menu.content(
            rx.foreach(ChatView.albums, lambda album: rx.dropdown_menu.item(
                album.name, on_select=ChatState.add_to_album(album.id, image.id), class_name="album-choice")),
            rx.cond(ChatView.albums.length() > 0, rx.dropdown_menu.separator()),
            rx.dropdown_menu.item(rx.icon("plus", size=14), "New album…", on_select=ChatState.new_album_for(image.id),
                                  class_name="new-album"),
            size="2", align="start", max_height="min(60vh, 420px)", overflow_y="auto", class_name="album-menu",
        ),
        on_open_change=ChatState.albums_menu,
        modal=False,
    )


def _image_actions(image: ChatImage, prompt, batch) -> rx.Component:
    return rx.flex(
        _star(image),
        rx.cond(batch, rx.button(rx.icon("corner-down-right", size=14), "Continue from this one", size="1",
                                 variant="soft", on_click=ChatState.continue_from(image.id),
                                 class_name="continue-from")),
        download_menu(image.id),
        _album_menu(image),
        rx.button(rx.icon("shuffle", size=14), "Variations", size="1", variant="soft",
                  on_click=ChatState.variations(image.id)),
        rx.button(rx.icon("pencil", size=14), "Reuse prompt", size="1", variant="soft",
                  on_click=ChatState.use_prompt(prompt)),
        rx.link(rx.button(rx.icon("images", size=14), "Open in gallery", size="1", variant="soft", tab_index=-1),
                href=gallery_image_url(image.id), class_name="open-in-gallery"),
        spacing="2",
        wrap="wrap",
        align="center",
        margin_top="6px",
        class_name="image-actions",
    )


def _picture(image: ChatImage, alt) -> rx.Component:
    return rx.el.a(
        rx.image(src=image_url(image.id), alt=alt, width="100%", height="auto", border_radius="12px",
                 loading="lazy", decoding="async", class_name="generated-image", display="block",
                 aspect_ratio=image.aspect, background="var(--gray-a3)"),
        href=image_url(image.id), target="_blank", rel="noopener noreferrer",
    )


def _image_label(image: ChatImage) -> rx.Component:
    """What made this image (style · size · quality · model), its seed and what it cost, under it."""
    seed = rx.cond(image.seed != "", rx.el.span(" · seed " + image.seed, class_name="image-seed"))
    cost = rx.cond(image.cost != "", rx.el.span(" · cost " + image.cost, class_name="image-cost"))
    return rx.cond(image.label != "", rx.text(image.label, seed, cost, size="1", color_scheme="gray",
                                              margin_top="4px", class_name="image-options",
                                              overflow_wrap="anywhere"))


def _image(image: ChatImage, prompt, batch=False) -> rx.Component:
    return rx.box(
        rx.cond(image.deleted, _deleted(image),
                rx.fragment(_picture(image, prompt), _image_label(image), _image_actions(image, prompt, batch))),
        width="100%",
        class_name="chat-image",
        data_image_id=image.id,
    )


def _figure(label: str, image: ChatImage, prompt, class_name: str) -> rx.Component:
    return rx.box(
        rx.cond(
            image.deleted, _deleted(image),
            rx.fragment(
                rx.badge(label, variant="solid", color_scheme="gray", position="absolute", top="8px", left="8px",
                         z_index="1"),
                _picture(image, label + ": " + prompt),
                rx.flex(_star(image), download_menu(image.id, label=label), _album_menu(image), spacing="2",
                        wrap="wrap", margin_top="6px"),
            )),
        position="relative",
        class_name=class_name,
        flex="1",
        min_width="0",
        data_image_id=image.id,
    )


def _before_after(msg: ShownMessage) -> rx.Component:
    return rx.flex(
        _figure("Before", msg.before[0], msg.prompt, "before-image"),
        _figure("After", msg.images[0], msg.prompt, "after-image"),
        spacing="3",
        direction=rx.breakpoints(initial="column", sm="row"),
        width="100%",
        class_name="before-after",
    )


def _progress(job_id, live: JobLive) -> rx.Component:
    return rx.vstack(
        rx.cond(live.preview_url != "",
                rx.image(src=live.preview_url, alt="Preview", width="min(320px, 100%)", border_radius="12px",
                         class_name="job-preview", style={"filter": "blur(2px)"})),
        rx.progress(value=live.percent, max=100, width="100%", class_name="job-progress",
                    aria_label="Progress"),
        rx.flex(
            rx.text(live.percent.to_string() + "%", size="2", weight="bold", class_name="job-percent"),
            rx.text(live.stage, size="2", color_scheme="gray", class_name="job-stage"),
            rx.cond((live.status == "queued") & (live.queue_position > 1),
                    rx.badge("#" + live.queue_position.to_string() + " in queue", variant="soft")),
            rx.spacer(),
            rx.button(rx.icon("x", size=14), "Cancel", size="1", variant="soft", color_scheme="red",
                      on_click=ChatState.cancel(job_id), class_name="cancel-button"),
            spacing="2",
            align="center",
            width="100%",
            wrap="wrap",
        ),
        width="100%",
        spacing="2",
        margin_top="8px",
        class_name="job-live",
    )


@rx.memo
def job_progress(job_id: rx.Var[str]) -> rx.Component:
    """A running job's bar: a component of its own that alone follows ChatProgress, so a progress tick
    redraws this bar and not the message list. ChatProgress.live holds every running job the tab shows; the
    guard only covers the instant between two updates."""
    return rx.cond(ChatProgress.live.contains(job_id), _progress(job_id, ChatProgress.live[job_id].to(JobLive)),
                   rx.progress(width="100%", margin_top="8px", class_name="job-progress", aria_label="Progress"))


def _failed(msg: ShownMessage) -> rx.Component:
    return rx.callout(
        rx.flex(
            rx.text(rx.cond(msg.status == "cancelled", "Cancelled.", msg.error)),
            rx.button(rx.icon("rotate-ccw", size=14), "Retry", size="1", variant="soft",
                      on_click=ChatState.retry(msg.id), class_name="retry-button"),
            spacing="3", align="center", wrap="wrap", justify="between", width="100%",
        ),
        icon="triangle-alert",
        color_scheme=rx.cond(msg.status == "cancelled", "gray", "red"),
        role="alert",
        margin_top="8px",
        width="100%",
        class_name="job-failed",
    )


def _request_options(msg: ShownMessage) -> rx.Component:
    """What the request asked for (the composer's options with what the words said): on the reply of each job."""
    return rx.cond(msg.options != "", rx.flex(
        rx.icon("sliders-horizontal", size=12, flex_shrink="0"),
        rx.text(msg.options, size="1"),
        spacing="1", align="center", margin_top="6px", color="var(--gray-11)", class_name="request-options",
    ))


def _from_library(msg: ShownMessage) -> rx.Component:
    """An answer from the library (core/cache.py): free, and a way to pay for a new one after all."""
    return rx.flex(
        rx.badge(rx.icon("library", size=12), "From your library · $0.00", color_scheme="green", variant="soft",
                 size="2", class_name="from-library"),
        rx.button(rx.icon("sparkles", size=14), "Generate a new one anyway", size="1", variant="soft",
                  on_click=ChatState.generate_anyway(msg.id), class_name="generate-anyway"),
        spacing="2", align="center", wrap="wrap",
    )


def _job(msg: ShownMessage) -> rx.Component:
    return rx.match(
        msg.status,
        ("queued", job_progress(job_id=msg.job_id)),
        ("running", job_progress(job_id=msg.job_id)),
        ("succeeded", rx.vstack(
            rx.cond((msg.before.length() > 0) & (msg.images.length() > 0), _before_after(msg),
                    rx.grid(rx.foreach(msg.images, lambda i: _image(i, msg.prompt, msg.images.length() > 1)),
                            columns=rx.cond(msg.images.length() > 1, rx.breakpoints(initial="1", sm="2"), "1"),
                            spacing="3", width="100%", class_name="image-batch")),
            rx.cond(msg.from_library, _from_library(msg),
                    rx.text("Would you like any variations?", size="2", color_scheme="gray")),
            width="100%", spacing="2", margin_top="8px", class_name="job-done",
        )),
        ("failed", _failed(msg)),
        ("cancelled", _failed(msg)),
        rx.fragment(),
    )


def _reply_text(text) -> rx.Component:
    # use_raw=False: HTML in a reply is shown as text, never rendered (no rehype-raw).
    return rx.box(rx.markdown(text, use_raw=False, component_map={"a": lambda text, **props: rx.link(
        text, **props, is_external=True, rel="noopener noreferrer")}), class_name="assistant-text")


def _examples(msg: ShownMessage) -> rx.Component:
    """The prompts a reply offers (the help reply's examples): a list; a click puts one in the message box."""
    return rx.el.ul(
        rx.foreach(msg.examples, lambda example: rx.el.li(rx.button(
            rx.icon("corner-down-left", size=14, flex_shrink="0"),
            rx.text(example, text_align="left"),
            on_click=ChatState.use_prompt(example),
            variant="surface", color_scheme="gray", size="2", height="auto", min_height="44px", padding_y="6px",
            white_space="normal", justify_content="flex-start", gap="8px", width="100%", class_name="reply-example",
            title="Put this in the message box",
        ))),
        class_name="reply-examples",
        style={"list_style": "none", "padding": "0", "margin": "8px 0", "display": "flex",
               "flex_direction": "column", "gap": "6px"},
    )


def _bubble(msg: ShownMessage) -> rx.Component:
    is_user = msg.role == "user"
    return rx.flex(
        rx.box(
            rx.cond(is_user, rx.text(msg.text, size="3", white_space="pre-wrap"),
                    rx.cond(msg.examples.length() > 0, rx.fragment(
                        _reply_text(msg.text), _examples(msg), _reply_text(msg.text_after)), _reply_text(msg.text))),
            rx.cond(msg.job_id != "", rx.fragment(_request_options(msg), _job(msg))),
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
            class_name="bubble",
        ),
        justify=rx.cond(is_user, "end", "start"),
        width="100%",
        id="msg-" + msg.id.to_string(),
        key=msg.id,  # a stable React key: a page put in front does not redraw the messages already shown
        scroll_margin_top="72px",
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
            wrap="wrap", spacing="2", justify="center", max_width="560px",
        ),
        align="center",
        spacing="4",
        padding_y="10vh",
        padding_x="8px",
    )


def _load_older() -> rx.Component:
    return rx.center(
        rx.button(
            rx.cond(ChatView.loading_older, rx.spinner(size="1"), rx.icon("chevrons-up", size=14)),
            "Show earlier messages",
            on_click=ChatState.load_older,
            disabled=ChatView.loading_older,
            id="load-older",
            variant="soft",
            color_scheme="gray",
            size="2",
            radius="full",
        ),
        padding_top="16px",
    )


def album_dialog() -> rx.Component:
    """Name a new album for the image whose menu asked for it (ChatState.new_album_for)."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("New album"),
            rx.dialog.description("The image goes into it at once. You can rename it later in the gallery.",
                                  size="2", color_scheme="gray"),
            rx.form(
                rx.flex(
                    rx.input(name="name", placeholder="Album name", max_length=100, auto_focus=True,
                             aria_label="Album name", id="new-album-name", required=True, width="100%"),
                    rx.flex(
                        rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray", type="button")),
                        rx.button("Create and add", type="submit", id="new-album-submit"),
                        spacing="2", justify="end",
                    ),
                    direction="column", spacing="3", margin_top="12px",
                ),
                on_submit=ChatState.create_album_with_image,
                reset_on_submit=True,
            ),
            max_width="420px",
        ),
        open=ChatState.album_dialog_open,
        on_open_change=ChatState.set_album_dialog,
    )


def _pending_bubble(msg: ShownMessage) -> rx.Component:
    """The turn in flight (ChatTurn): plain text until the saved messages take its place."""
    is_user = msg.role == "user"
    return rx.flex(
        rx.box(
            rx.cond(is_user, rx.text(msg.text, size="3", white_space="pre-wrap"),
                    rx.box(rx.markdown(msg.text, use_raw=False), class_name="assistant-text")),
            background=rx.cond(is_user, "var(--accent-9)", "var(--gray-a3)"),
            color=rx.cond(is_user, "var(--accent-contrast)", "var(--gray-12)"),
            padding_x="14px", padding_y="10px", border_radius="18px", max_width="min(560px, 85%)",
            overflow_wrap="anywhere", class_name="bubble",
        ),
        justify=rx.cond(is_user, "end", "start"),
        width="100%",
        id="msg-" + msg.id.to_string(),
        key=msg.id,
        class_name=rx.cond(is_user, "chat-message user-message pending-message",
                           "chat-message assistant-message pending-message"),
    )


def message_list() -> rx.Component:
    # Three lists, each a component of its own following only its state: a turn redraws the small pending
    # list while it runs, and the saved messages once when it ends.
    nothing = (ChatView.messages.length() == 0) & (ChatView.older.length() == 0) & (ChatTurn.pending.length() == 0)
    return rx.box(
        rx.cond(ChatView.has_older, _load_older()),
        rx.cond(nothing, _empty_state()),
        rx.vstack(rx.foreach(ChatView.older, _bubble), rx.foreach(ChatView.messages, _bubble),
                  rx.foreach(ChatTurn.pending, _pending_bubble), spacing="3", width="100%", padding_y="8px"),
        rx.box(id="chat-end", height="1px"),
        album_dialog(),
        id="message-list",
        width="100%",
        max_width="880px",
        margin_x="auto",
        padding_x="16px",
        flex="1",
        # The page script keeps the reading position itself when older messages come in front.
        style={"overflow_anchor": "none"},
    )
