import reflex as rx

from imagechat.components.composer import composer
from imagechat.components.header import header
from imagechat.components.messages import message_list


def chat_page() -> rx.Component:
    return rx.flex(
        header(),
        message_list(),
        composer(),
        direction="column",
        min_height="100dvh",
        width="100%",
        background="radial-gradient(1200px 400px at 50% -120px, var(--accent-a3), transparent)",
    )
