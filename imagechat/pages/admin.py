"""Admin (administrators only): spending against the global cap, the queue's health, every user with their
spending, own limits and disable/enable, and the ledger as CSV. Anyone else sees "no such page"."""

import reflex as rx

from imagechat.components.admin_users import disable_dialog, limits_dialog, user_list
from imagechat.components.header import header
from imagechat.core.urls import LEDGER_CSV_ROUTE
from imagechat.state.admin import AdminState, OpsFact


def _global() -> rx.Component:
    return rx.card(
        rx.flex(
            rx.text("This month, all users", size="2", weight="medium", color_scheme="gray"),
            rx.text(AdminState.global_percent.to_string() + "%", size="2", color_scheme="gray"),
            justify="between",
        ),
        rx.flex(rx.text(AdminState.global_spent, size="7", weight="bold", id="admin-global-spent"),
                rx.text("of " + AdminState.global_cap, size="3", color_scheme="gray"),
                align="baseline", spacing="2", margin_top="4px"),
        rx.progress(value=AdminState.global_percent, max=100, size="3", color_scheme=AdminState.global_tone,
                    margin_top="10px", aria_label="Server spending this month"),
        rx.flex(rx.text(AdminState.global_left + " left", size="2", weight="medium"),
                rx.text("GLOBAL_MONTHLY_BUDGET_USD · resets on the 1st (UTC)", size="1", color_scheme="gray"),
                justify="between", wrap="wrap", spacing="2", margin_top="8px"),
        width="100%",
    )


def _fact(fact: OpsFact) -> rx.Component:
    return rx.card(
        rx.text(fact.label, size="1", color_scheme="gray", weight="medium"),
        rx.text(fact.value, size="5", weight="bold", margin_top="2px",
                color=rx.match(fact.tone, ("red", "var(--red-11)"), ("amber", "var(--amber-11)"),
                               ("green", "var(--grass-11)"), "var(--gray-12)")),
        rx.text(fact.hint, size="1", color_scheme="gray", margin_top="2px"),
        class_name="ops-fact", custom_attrs={"data-label": fact.label},
    )


def _shutdown(message: str) -> rx.Component:
    return rx.callout(message, icon="triangle-alert", color_scheme="amber", high_contrast=True, size="1",
                      class_name="admin-shutdown")


def _content() -> rx.Component:
    return rx.flex(
        rx.cond(AdminState.shutdowns.length() > 0,
                rx.flex(rx.foreach(AdminState.shutdowns, _shutdown), direction="column", spacing="2",
                        id="admin-shutdowns", role="status")),
        _global(),
        rx.box(
            rx.heading("Operations", size="4", as_="h3", margin_bottom="8px"),
            rx.grid(rx.foreach(AdminState.ops, _fact), columns=rx.breakpoints(initial="2", sm="3", md="4"),
                    spacing="3", id="admin-ops"),
        ),
        rx.box(rx.heading("Users", size="4", as_="h3", margin_bottom="8px"), user_list()),
        limits_dialog(),
        disable_dialog(),
        direction="column", spacing="5", width="100%",
    )


def _not_found() -> rx.Component:
    return rx.flex(
        rx.heading("There is no such page.", size="5", as_="h2"),
        rx.link(rx.button(rx.icon("message-circle", size=16), "Back to chat", variant="soft"), href="/"),
        direction="column", spacing="4", align="start", padding_y="32px", id="admin-not-found",
    )


def admin_page() -> rx.Component:
    return rx.box(
        header(menu=False),
        rx.box(
            rx.cond(
                AdminState.allowed,
                rx.box(
                    rx.flex(
                        rx.heading("Admin", size="6", as_="h2"),
                        rx.flex(
                            rx.button(rx.icon("refresh-cw", size=16), "Refresh", variant="soft",
                                      on_click=AdminState.refresh, id="admin-refresh"),
                            # A plain browser download (the route names the file); the session cookie goes along.
                            rx.button(rx.icon("download", size=16), "Ledger (CSV)", variant="soft",
                                      on_click=rx.download(url=LEDGER_CSV_ROUTE, filename=""),
                                      id="admin-ledger-csv"),
                            spacing="2", wrap="wrap",
                        ),
                        justify="between", align="center", wrap="wrap", spacing="2", margin_bottom="6px",
                    ),
                    rx.cond(AdminState.load_error != "",
                            rx.callout(AdminState.load_error, icon="triangle-alert", color_scheme="red",
                                       role="alert", margin_bottom="12px")),
                    _content(),
                ),
                rx.cond(AdminState.loaded, _not_found(), rx.center(rx.spinner(size="3"), padding="32px")),
            ),
            max_width="960px", margin_x="auto", padding="16px", role="main",
        ),
        min_height="100dvh",
    )
