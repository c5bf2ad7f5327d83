"""Shared links: every link the user handed out, with its URL, expiry, views and status, and Revoke."""

import reflex as rx

from imagechat.components.confirm import danger_confirm
from imagechat.components.header import header
from imagechat.components.share_dialog import copy_button, share_dialog
from imagechat.state.shares import ShareRow, ShareState

_GROW = rx.breakpoints(initial="1 1 0", sm="0 0 auto")
_PAD = rx.breakpoints(initial="8px", sm="16px")


def _badge(icon: str, text: str, color: str) -> rx.Component:
    # high_contrast: the soft badges' default text is under 4.5:1 on its own background at this size.
    return rx.badge(rx.icon(icon, size=13), text, color_scheme=color, variant="soft", high_contrast=True)


def _status_badge(row: ShareRow) -> rx.Component:
    return rx.match(
        row.status,
        ("active", _badge("link", "Active", "green")),
        ("expired", _badge("clock", "Expired", "amber")),
        ("unavailable", _badge("image-off", "Image deleted", "gray")),
        _badge("link-2-off", "Revoked", "red"),
    )


def _fact(label: str, value) -> rx.Component:
    return rx.text(rx.text.span(label + " ", color_scheme="gray"), value, size="1", white_space="nowrap")


def _thumb(row: ShareRow) -> rx.Component:
    box = {"width": "72px", "height": "72px", "border_radius": "10px", "flex_shrink": "0"}
    return rx.el.a(
        rx.cond(
            row.thumb != "",
            rx.image(src=row.thumb, alt="", object_fit="cover", loading="lazy", **box),
            rx.center(rx.icon("images", size=24, color="var(--gray-9)"), background="var(--gray-a3)", **box),
        ),
        href=row.href, aria_label="Open in the gallery: " + row.title, tab_index=-1,
    )


def _row(row: ShareRow) -> rx.Component:
    return rx.card(
        rx.flex(
            _thumb(row),
            rx.flex(
                rx.flex(
                    rx.link(row.title, href=row.href, weight="medium", size="2", class_name="share-title",
                            overflow_wrap="anywhere"),
                    gap="8px", align="center",
                ),
                rx.flex(_status_badge(row), rx.badge(row.what, variant="surface", color_scheme="gray"),
                        gap="8px", wrap="wrap"),
                rx.flex(
                    _fact("Created", row.created), _fact("Expires", row.expires),
                    _fact("Views", row.views.to_string()), _fact("Last viewed", row.last_viewed),
                    gap="12px", row_gap="4px", wrap="wrap",
                ),
                direction="column", gap="8px", flex="1", min_width="0",
            ),
            gap="12px", align="start",
        ),
        rx.cond(
            row.revocable,
            rx.flex(
                rx.input(value=row.url, read_only=True, aria_label="Share link: " + row.title, size="3",
                         flex="1 1 260px", min_width="0", class_name="share-url"),
                # On a phone the buttons share one full-width line under the link.
                rx.flex(
                    rx.cond(row.status == "active", rx.fragment(
                        copy_button(row.url, grow=True),
                        rx.button(rx.icon("clock", size=16), "Expiry", variant="soft", color_scheme="gray",
                                  size="3", min_height="44px", flex=_GROW, min_width="0", padding_x=_PAD,
                                  on_click=ShareState.edit_link(row.id),
                                  class_name="share-edit", aria_label="Expiry of the link to " + row.title),
                    )),
                    rx.button(rx.icon("link-2-off", size=16), "Revoke", color_scheme="red", variant="soft", size="3",
                              min_height="44px", flex=_GROW, min_width="0", padding_x=_PAD,
                              on_click=ShareState.ask_revoke(row.id),
                              class_name="share-revoke", aria_label="Revoke the link to " + row.title),
                    gap="8px", flex=rx.breakpoints(initial="1 1 100%", sm="0 0 auto"),
                ),
                gap="8px", margin_top="12px", wrap="wrap",
            ),
        ),
        class_name="share-row",
        id="share-" + row.id.to_string(),
        custom_attrs={"data-kind": row.kind, "data-status": row.status},
        width="100%",
    )


def _confirm() -> rx.Component:
    return danger_confirm(
        "Revoke this link?",
        rx.text("“", ShareState.confirm_title, "” will no longer open for anyone who has the link. You can share it "
                "again later, with a new link.", overflow_wrap="anywhere"),
        open_=ShareState.confirm_id != 0, on_open_change=ShareState.set_confirm_open, keep="Keep it",
        on_keep=ShareState.cancel_revoke, act="Revoke", act_id="confirm-revoke",
        on_act=ShareState.revoke(ShareState.confirm_id))


def shares_page() -> rx.Component:
    return rx.box(
        header(menu=False),
        rx.box(
            rx.flex(
                rx.heading("Shared links", size="6", as_="h2"),
                rx.link(rx.button(rx.icon("images", size=16), "Gallery", variant="soft", size="3"), href="/gallery"),
                justify="between", align="center", wrap="wrap", gap="8px",
            ),
            rx.text("Anyone with an active link can see what it shares, without an account. Revoke a link and it "
                    "stops working at once.", color_scheme="gray", size="2", margin_top="6px", margin_bottom="16px"),
            rx.cond(ShareState.load_error != "",
                    rx.callout(ShareState.load_error, icon="triangle-alert", color_scheme="red", role="alert",
                               margin_bottom="12px")),
            rx.cond(
                ShareState.links.length() > 0,
                rx.flex(rx.foreach(ShareState.links, _row), direction="column", gap="12px", id="share-list"),
                rx.cond(
                    ShareState.loaded & (ShareState.load_error == ""),
                    rx.text("You haven't shared anything yet. Open an image or an album in the gallery and choose "
                            "Share.", color_scheme="gray", id="shares-empty"),
                ),
            ),
            _confirm(),
            share_dialog(),
            max_width="900px", margin_x="auto", padding="16px", role="main",
        ),
        min_height="100dvh",
    )
