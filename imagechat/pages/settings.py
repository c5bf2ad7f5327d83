"""Settings: API keys for the OpenAI-compatible API. Create one (shown once, with Copy), see each key's prefix,
name, creation and last use, and revoke it."""

import reflex as rx

from imagechat.components.confirm import danger_confirm
from imagechat.components.header import header
from imagechat.state.api_keys import ApiKeyState, KeyRow

_TOUCH = rx.breakpoints(initial="44px", sm="36px")


def _fact(label: str, value) -> rx.Component:
    return rx.text(rx.text.span(label + " ", color_scheme="gray"), value, size="1", white_space="nowrap")


def _row(row: KeyRow) -> rx.Component:
    return rx.card(
        rx.flex(
            rx.flex(
                rx.flex(
                    rx.icon("key-round", size=16, color="var(--gray-11)", flex_shrink="0"),
                    rx.text(row.name, weight="medium", size="2", overflow_wrap="anywhere", class_name="key-name"),
                    rx.cond(row.active,
                            rx.badge("Active", color_scheme="green", variant="soft", high_contrast=True),
                            rx.badge("Revoked", color_scheme="red", variant="soft", high_contrast=True)),
                    spacing="2", align="center", wrap="wrap",
                ),
                rx.code(row.prefix, size="2", variant="ghost", class_name="key-prefix"),
                rx.flex(
                    _fact("Created", row.created), _fact("Last used", row.last_used),
                    rx.cond(~row.active, _fact("Revoked", row.revoked)),
                    spacing="3", wrap="wrap",
                ),
                direction="column", spacing="2", flex="1", min_width="0",
            ),
            rx.cond(
                row.active,
                rx.button(rx.icon("key-square", size=16), "Revoke", color_scheme="red", variant="soft", size="2",
                          min_height=_TOUCH, on_click=ApiKeyState.ask_revoke(row.id), class_name="key-revoke",
                          aria_label="Revoke the key " + row.name),
            ),
            spacing="3", align="start", justify="between", wrap="wrap",
        ),
        class_name="key-row",
        id="key-" + row.id.to_string(),
        custom_attrs={"data-active": rx.cond(row.active, "true", "false")},
        width="100%",
    )


def _create() -> rx.Component:
    return rx.el.form(
        rx.flex(
            rx.el.label("Name of the new key", html_for="key-name-input", class_name="rt-Text rt-r-size-2"),
            rx.flex(
                rx.input(id="key-name-input", value=ApiKeyState.new_name, on_change=ApiKeyState.set_new_name,
                         placeholder="e.g. laptop script", max_length=64, size="3", flex="1 1 220px", min_width="0"),
                rx.button(rx.icon("plus", size=16), "Create key", type="submit", size="3", id="create-key",
                          min_height="44px"),
                spacing="2", wrap="wrap", width="100%",
            ),
            direction="column", spacing="2",
        ),
        on_submit=ApiKeyState.create_key,
        reset_on_submit=False,
    )


def _new_key() -> rx.Component:
    """The key just made: shown once, with Copy."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Your new API key"),
            rx.dialog.description(
                "Copy it now and keep it somewhere safe: it is shown only this once. Anyone who has it can make "
                "images on your account until you revoke it.", size="2"),
            rx.text(ApiKeyState.new_key_name, weight="medium", size="2", margin_top="12px", overflow_wrap="anywhere"),
            rx.flex(
                rx.input(value=ApiKeyState.new_key, read_only=True, id="new-key", aria_label="New API key", size="3",
                         flex="1", min_width="0", font_family="var(--code-font-family)"),
                rx.button(rx.icon("copy", size=16), "Copy", type="button", variant="soft", size="3",
                          min_height="44px", id="copy-key", aria_label="Copy the API key",
                          on_click=[rx.set_clipboard(ApiKeyState.new_key), rx.toast.success("Key copied.")]),
                spacing="2", margin_top="12px", width="100%",
            ),
            rx.flex(
                rx.dialog.close(rx.button("I have copied it", size="3", id="close-new-key",
                                          on_click=ApiKeyState.dismiss_key)),
                justify="end", margin_top="16px",
            ),
            max_width="520px",
        ),
        open=ApiKeyState.new_key != "",
        on_open_change=ApiKeyState.set_key_open,
    )


def _confirm() -> rx.Component:
    return danger_confirm(
        "Revoke this key?",
        rx.text("Programs using “", ApiKeyState.confirm_name, "” are refused from their next request on. This can't "
                "be undone; create a new key if you need one.", overflow_wrap="anywhere"),
        open_=ApiKeyState.confirm_id != 0, on_open_change=ApiKeyState.set_confirm_open, keep="Keep it",
        on_keep=ApiKeyState.cancel_revoke, act="Revoke", act_id="confirm-revoke-key",
        on_act=ApiKeyState.revoke(ApiKeyState.confirm_id))


def _usage() -> rx.Component:
    return rx.box(
        rx.text("Use a key with the official openai SDK, curl or any OpenAI-compatible client:", size="2"),
        rx.el.pre(
            "from openai import OpenAI\n\nclient = OpenAI(base_url=\"" + ApiKeyState.base_url + "\", "
            "api_key=\"ick_...\")\nimage = client.images.generate(model=\"imagechat-offline\", "
            "prompt=\"a lighthouse at dusk\")",
            id="api-example", white_space="pre-wrap", overflow_wrap="anywhere", font_size="13px",
            font_family="var(--code-font-family)", background="var(--gray-a3)", border_radius="8px",
            padding="10px 12px", margin_y="8px",
        ),
        rx.text("Images made this way appear in your gallery and count against your limits and budgets, as in "
                "the chat.", size="2", color_scheme="gray"),
        margin_top="12px",
    )


def settings_page() -> rx.Component:
    return rx.box(
        header(menu=False),
        rx.box(
            rx.heading("Settings", size="6", as_="h2"),
            rx.card(
                rx.heading("API keys", size="4", as_="h3", margin_bottom="4px"),
                rx.text("Keys let programs use this imagechat's OpenAI-compatible API (", rx.code("/v1"), ").",
                        size="2", color_scheme="gray"),
                _usage(),
                rx.box(_create(), margin_top="16px"),
                width="100%", margin_top="12px",
            ),
            rx.cond(ApiKeyState.load_error != "",
                    rx.callout(ApiKeyState.load_error, icon="triangle-alert", color_scheme="red", role="alert",
                               margin_top="12px")),
            rx.cond(
                ApiKeyState.keys.length() > 0,
                rx.flex(rx.foreach(ApiKeyState.keys, _row), direction="column", spacing="3", id="key-list",
                        margin_top="12px"),
                rx.cond(ApiKeyState.loaded & (ApiKeyState.load_error == ""),
                        rx.text("You have no API keys yet.", color_scheme="gray", id="keys-empty", margin_top="12px")),
            ),
            _new_key(),
            _confirm(),
            max_width="900px", margin_x="auto", padding="16px", role="main",
        ),
        min_height="100dvh",
    )
