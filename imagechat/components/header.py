import reflex as rx

from imagechat.state.auth import AuthState
from imagechat.state.chat import ChatState
from imagechat.state.engine import EngineState
from imagechat.state.session import SessionState


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


def header(menu: bool = True) -> rx.Component:
    return rx.box(
        rx.flex(
            rx.hstack(
                *([rx.icon_button(rx.icon("menu", size=18), variant="ghost", color_scheme="gray",
                                  aria_label="Conversations", on_click=ChatState.set_drawer(True),
                                  display=rx.breakpoints(initial="flex", md="none"), id="menu-button")]
                  if menu else []),
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
            rx.hstack(
                engine_badge(),
                rx.cond(SessionState.username != "", rx.menu.root(
                    rx.menu.trigger(rx.button(
                        rx.icon("circle-user", size=16),
                        # On a phone the name would push the header to a third line: icon only.
                        rx.text(SessionState.username, display=rx.breakpoints(initial="none", sm="inline")),
                        variant="ghost", color_scheme="gray", size="2", id="user-menu",
                        aria_label="Account: " + SessionState.username)),
                    rx.menu.content(
                        rx.menu.item("Chat", on_click=rx.redirect("/")),
                        rx.menu.item("Gallery", on_click=rx.redirect("/gallery"), id="menu-gallery"),
                        rx.menu.item("History", on_click=rx.redirect("/history"), id="menu-history"),
                        rx.menu.item("Shared links", on_click=rx.redirect("/shares"), id="menu-shares"),
                        rx.menu.item("Usage", on_click=rx.redirect("/usage"), id="menu-usage"),
                        rx.menu.item("Settings and API keys", on_click=rx.redirect("/settings"),
                                     id="menu-settings"),
                        # Runs in the browser, on the click itself (browsers ask for permission only then).
                        rx.menu.item(rx.icon("bell", size=14), "Notify me when images finish",
                                     on_click=rx.call_script("window.__icAskNotify && window.__icAskNotify()"),
                                     id="menu-notify"),
                        rx.cond(SessionState.is_admin,
                                rx.menu.item("Admin", on_click=rx.redirect("/admin"), id="menu-admin")),
                        rx.menu.separator(),
                        rx.menu.item("Log out", on_click=AuthState.log_out, id="log-out"),
                    ),
                )),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            justify="between",
            align="center",
            spacing="2",
            wrap="wrap",
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
        role="banner",
    )
