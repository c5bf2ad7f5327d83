"""Log in / sign up: one card, two tabs."""

import reflex as rx

from imagechat.components.header import engine_badge
from imagechat.state.auth import AuthState


def _form(kind: str) -> rx.Component:
    sign_up = kind == "signup"
    return rx.form(
        rx.vstack(
            rx.text("Username", as_="label", html_for=f"{kind}-username", size="2", weight="medium"),
            rx.input(id=f"{kind}-username", name="username", placeholder="e.g. ada", auto_complete="username",
                     size="3", width="100%", required=True, max_length=32),
            rx.text("Password", as_="label", html_for=f"{kind}-password", size="2", weight="medium"),
            rx.input(id=f"{kind}-password", name="password", type="password", size="3", width="100%",
                     auto_complete="new-password" if sign_up else "current-password", required=True),
            *([rx.text("At least 10 characters; mix letters with digits or symbols.", size="1",
                        color_scheme="gray")] if sign_up else []),
            rx.button("Create account" if sign_up else "Log in", type="submit", size="3", width="100%",
                      loading=AuthState.busy, id=f"{kind}-submit"),
            spacing="2",
            width="100%",
        ),
        on_submit=AuthState.sign_up if sign_up else AuthState.log_in,
        reset_on_submit=False,
        width="100%",
    )


def login_page() -> rx.Component:
    return rx.center(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.center(rx.icon("image", size=18, color="white"), width="32px", height="32px",
                              border_radius="10px",
                              background="linear-gradient(135deg, var(--violet-9), var(--crimson-9))"),
                    rx.heading("imagechat", size="6", as_="h1"),
                    align="center",
                    spacing="2",
                ),
                rx.text("Turn descriptions into pictures, on your own server.", color_scheme="gray", size="2"),
                engine_badge(),
                rx.tabs.root(
                    rx.tabs.list(rx.tabs.trigger("Log in", value="login"), rx.tabs.trigger("Sign up", value="signup")),
                    rx.tabs.content(_form("login"), value="login", padding_top="16px"),
                    rx.tabs.content(_form("signup"), value="signup", padding_top="16px"),
                    default_value="login",
                    width="100%",
                ),
                rx.cond(AuthState.auth_error != "",
                        rx.callout(AuthState.auth_error, icon="circle-alert", color_scheme="red", role="alert",
                                   width="100%", id="auth-error")),
                spacing="4",
                width="100%",
            ),
            size="4",
            width="min(420px, 100%)",
        ),
        min_height="100dvh",
        padding="16px",
        background="radial-gradient(1200px 400px at 50% -120px, var(--accent-a4), transparent)",
    )
