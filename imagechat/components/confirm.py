"""A confirmation for something that can't be undone (revoking a share link, an API key): a red action button
whose colour passes contrast (red-9 under white text is 3.9:1; red-11 is over 4.5:1) and a grey way out."""

import reflex as rx


def danger_confirm(title, description: rx.Component, *, open_, on_open_change, keep: str, act: str, act_id: str,
                   on_act, on_keep=None) -> rx.Component:
    keep_button = rx.button(keep, variant="soft", color_scheme="gray", size="3",
                            **({"on_click": on_keep} if on_keep is not None else {}))
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(description, size="2"),
            rx.flex(
                rx.alert_dialog.cancel(keep_button),
                rx.alert_dialog.action(rx.button(act, color_scheme="red", size="3", id=act_id,
                                                 background="var(--red-11)", _hover={"background": "var(--red-12)"},
                                                 on_click=on_act)),
                spacing="3", justify="end", margin_top="16px",
            ),
            max_width="440px",
        ),
        open=open_,
        on_open_change=on_open_change,
    )
