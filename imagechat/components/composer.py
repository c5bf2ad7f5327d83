import reflex as rx

from imagechat.state.chat import ChatState


def composer() -> rx.Component:
    return rx.box(
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
                    flex="1",
                    max_height="200px",
                    resize="none",
                ),
                rx.icon_button(
                    rx.icon("arrow-up", size=20),
                    type="submit",
                    id="send-button",
                    aria_label="Send",
                    size="3",
                    radius="full",
                    margin_bottom="2px",
                    disabled=ChatState.draft.strip() == "",
                ),
                align="end",
                gap="2",
                padding="6px",
                padding_left="8px",
                class_name="composer-shell",
                border="1px solid var(--gray-a5)",
                border_radius="24px",
                background="var(--color-panel-solid)",
                box_shadow="0 8px 24px -12px var(--gray-a7)",
            ),
            on_submit=ChatState.send,
            reset_on_submit=False,
            width="100%",
        ),
        rx.text(
            "Images are generated on this server. Nothing leaves it unless an online engine is configured.",
            size="1",
            color_scheme="gray",
            text_align="center",
            margin_top="6px",
        ),
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
