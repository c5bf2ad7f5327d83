"""The share dialog: the link to copy, how long it works, and the way to the list of all links.

Embed `share_dialog()` once in a page that offers "Share", and open it with `ShareState.share_image(id)` or
`ShareState.share_album(id)`.
"""

import reflex as rx

from imagechat.state.shares import ShareState

EXPIRY_LABELS = (("never", "Until I revoke it"), ("1", "For 1 day"), ("7", "For 7 days"), ("30", "For 30 days"))


def copy_button(url, *, element_id: str = "", grow: bool = False) -> rx.Component:
    copy = [rx.set_clipboard(url), rx.toast.success("Link copied.")]
    return rx.button(rx.icon("copy", size=16), "Copy", on_click=copy, variant="soft", size="3", min_height="44px",
                     flex=rx.breakpoints(initial="1 1 0", sm="0 0 auto") if grow else "0 0 auto", min_width="0",
                     padding_x=rx.breakpoints(initial="8px", sm="16px"), type="button",
                     aria_label="Copy the link", **({"id": element_id} if element_id else {}))


def share_dialog() -> rx.Component:
    album = ShareState.dialog_kind == "album"
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(rx.cond(album, "Share this album", "Share this image")),
            rx.dialog.description(
                rx.cond(album, "Anyone with this link can see the album's images, without an account.",
                        "Anyone with this link can see this image, without an account."),
                size="2", color_scheme="gray",
            ),
            rx.text(ShareState.dialog_title, weight="medium", size="2", margin_top="12px", trim="both",
                    class_name="share-dialog-title", overflow_wrap="anywhere"),
            rx.flex(
                rx.input(value=ShareState.dialog_url, read_only=True, id="share-url", aria_label="Share link",
                         size="3", flex="1", min_width="0"),
                copy_button(ShareState.dialog_url, element_id="share-copy"),
                gap="8px", margin_top="12px", width="100%",
            ),
            rx.flex(
                rx.el.label("Link works", html_for="share-expiry", class_name="rt-Text rt-r-size-2"),
                rx.select.root(
                    rx.select.trigger(id="share-expiry", aria_label="How long the link works", min_height="40px"),
                    rx.select.content(*[rx.select.item(label, value=value) for value, label in EXPIRY_LABELS]),
                    value=ShareState.dialog_expiry, on_change=ShareState.set_expiry,
                ),
                align="center", gap="12px", margin_top="16px", wrap="wrap",
            ),
            rx.text(ShareState.dialog_expires, size="1", color_scheme="gray", margin_top="6px", id="share-expires"),
            rx.flex(
                rx.link("All shared links", href="/shares", size="2", id="share-all-links"),
                rx.dialog.close(rx.button("Done", size="3", min_height="44px")),
                justify="between", align="center", margin_top="20px", gap="12px",
            ),
            max_width="520px",
            id="share-dialog",
        ),
        open=ShareState.dialog_open,
        on_open_change=ShareState.set_dialog_open,
    )
