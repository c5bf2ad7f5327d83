import reflex as rx

from imagechat.state.chat import EXAMPLE_PROMPTS, ChatMessage, ChatState


def _bubble(msg: ChatMessage) -> rx.Component:
    is_user = msg.role == "user"
    return rx.flex(
        rx.box(
            rx.text(msg.text, size="3", white_space="pre-wrap"),
            rx.cond(
                msg.image_url != "",
                rx.image(src=msg.image_url, alt=msg.text, width="100%", border_radius="12px", margin_top="8px",
                         loading="lazy"),
            ),
            background=rx.cond(is_user, "var(--accent-9)", "var(--gray-a3)"),
            color=rx.cond(is_user, "var(--accent-contrast)", "var(--gray-12)"),
            padding_x="14px",
            padding_y="10px",
            border_radius="18px",
            max_width="min(560px, 85%)",
        ),
        justify=rx.cond(is_user, "end", "start"),
        width="100%",
        class_name="chat-message",
    )


def _empty_state() -> rx.Component:
    return rx.vstack(
        rx.center(
            rx.icon("sparkles", size=28, color="var(--accent-11)"),
            width="56px",
            height="56px",
            border_radius="16px",
            background="var(--accent-a3)",
        ),
        rx.heading("What should we paint?", size="6", text_align="center"),
        rx.text(
            "Describe a scene and a style. Ask for changes in plain words, like \"make it watercolor\".",
            color_scheme="gray",
            size="3",
            text_align="center",
            max_width="440px",
        ),
        rx.flex(
            *[
                rx.button(
                    p,
                    variant="surface",
                    color_scheme="gray",
                    radius="full",
                    size="2",
                    on_click=ChatState.use_example(p),
                    white_space="normal",
                    height="auto",
                    padding_y="6px",
                )
                for p in EXAMPLE_PROMPTS
            ],
            wrap="wrap",
            gap="2",
            justify="center",
            max_width="560px",
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
        id="message-list",
        width="100%",
        max_width="880px",
        margin_x="auto",
        padding_x="16px",
        flex="1",
    )
