import reflex as rx

from imagechat.state.engine import EngineState


def engine_badge() -> rx.Component:
    return rx.badge(
        rx.icon("cpu", size=14),
        EngineState.label,
        color_scheme=rx.cond(EngineState.engine == "offline", "gray", "green"),
        variant="soft",
        radius="full",
        size="2",
        id="engine-badge",
        white_space="normal",
        text_align="left",
    )


def header() -> rx.Component:
    return rx.box(
        rx.flex(
            rx.hstack(
                rx.center(
                    rx.icon("image", size=18, color="white"),
                    width="32px",
                    height="32px",
                    border_radius="10px",
                    background="linear-gradient(135deg, var(--violet-9), var(--crimson-9))",
                    flex_shrink="0",
                ),
                rx.heading("imagechat", size="5", weight="bold", as_="h1", id="app-title"),
                align="center",
                spacing="2",
            ),
            engine_badge(),
            justify="between",
            align="center",
            gap="2",
            wrap="wrap",
            max_width="880px",
            margin_x="auto",
            padding_x="16px",
            padding_y="10px",
        ),
        position="sticky",
        top="0",
        z_index="10",
        background="color-mix(in srgb, var(--color-background) 85%, transparent)",
        backdrop_filter="blur(10px)",
        border_bottom="1px solid var(--gray-a4)",
        width="100%",
    )
