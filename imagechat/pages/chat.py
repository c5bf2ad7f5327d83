import reflex as rx

from imagechat.components.composer import composer
from imagechat.components.header import header
from imagechat.components.messages import message_list
from imagechat.components.sidebar import drawer, sidebar


def chat_page() -> rx.Component:
    return rx.box(
        header(),
        drawer(),
        rx.flex(
            sidebar(),
            rx.flex(message_list(), composer(), direction="column", flex="1", min_width="0",
                    min_height="calc(100dvh - 57px)", role="main"),
            width="100%",
        ),
        min_height="100dvh",
        width="100%",
        background="radial-gradient(1200px 400px at 50% -120px, var(--accent-a3), transparent)",
    )
