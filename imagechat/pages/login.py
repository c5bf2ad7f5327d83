"""Log in / sign up: one card, two tabs. Both forms are plain HTML forms posted by the browser itself to
api/auth.py, which sets the HttpOnly session cookie; a refusal comes back as /login?error=<code>."""

import reflex as rx
from reflex_components_core.el.elements.base import BaseHTML

from imagechat.api.auth import LOGIN_ROUTE, SIGNUP_ROUTE
from imagechat.components.header import engine_badge
from imagechat.core.auth import MIN_PASSWORD_CHARS
from imagechat.state.auth import AuthState


class PostForm(BaseHTML):
    """`<form method="post" action=...>` without Reflex's submit handler (which always prevents the
    browser's own submission): the password never enters the websocket, and the form works even before
    the page's scripts have loaded."""

    tag = "form"
    action: rx.Var[str]
    method: rx.Var[str]


def _label(text: str, for_id: str) -> rx.Component:
    return rx.el.label(rx.text(text, as_="span", size="2", weight="medium"), html_for=for_id)


def _form(kind: str) -> rx.Component:
    sign_up = kind == "signup"
    invite = [
        _label("Invite code", "signup-invite"),
        rx.input(id="signup-invite", name="invite", placeholder="e.g. 3f2a-9c4e-71b0-d5e8", size="3",
                 width="100%", auto_complete="off", required=True, max_length=40),
    ]
    return PostForm.create(
        rx.vstack(
            _label("Username", f"{kind}-username"),
            # Keyed by the name sent back after a refusal, so the field shows it (it is not a controlled input).
            rx.input(id=f"{kind}-username", name="username", placeholder="e.g. ada", auto_complete="username",
                     size="3", width="100%", required=True, max_length=32, key=AuthState.prefill_username,
                     default_value=AuthState.prefill_username),
            _label("Password", f"{kind}-password"),
            rx.input(id=f"{kind}-password", name="password", type="password", size="3", width="100%",
                     auto_complete="new-password" if sign_up else "current-password", required=True,
                     max_length=256, **({"aria_describedby": "signup-password-hint"} if sign_up else {})),
            *([rx.text(f"At least {MIN_PASSWORD_CHARS} characters; mix letters with digits or symbols.", size="1",
                       color_scheme="gray", id="signup-password-hint"),
               rx.cond(AuthState.signup_mode == "invite", rx.fragment(*invite))] if sign_up else []),
            rx.button("Create account" if sign_up else "Log in", type="submit", size="3", width="100%",
                      id=f"{kind}-submit"),
            spacing="2",
            width="100%",
        ),
        action=SIGNUP_ROUTE if sign_up else LOGIN_ROUTE,
        method="post",
        id=f"{kind}-form",
        width="100%",
    )


def _signup() -> rx.Component:
    return rx.cond(
        AuthState.signup_mode == "closed",
        rx.callout("Sign-up is closed on this server. Ask its administrator for an account.", icon="info",
                   color_scheme="gray", width="100%", id="signup-closed"),
        _form("signup"),
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
                    rx.tabs.content(_signup(), value="signup", padding_top="16px"),
                    # Uncontrolled, so switching tabs needs no round trip to the server; keyed by the tab a
                    # refusal sent the browser back to, so that tab is the one shown.
                    default_value=AuthState.tab,
                    key=AuthState.tab,
                    on_change=AuthState.tab_changed,
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
        role="main",
    )
