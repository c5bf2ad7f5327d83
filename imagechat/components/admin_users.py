"""The admin page's user list, the dialog that edits a user's own limits and the disable confirmation."""

import reflex as rx

from imagechat.core import admin
from imagechat.state.admin import AdminState, AdminUserRow

TOUCH = rx.breakpoints(initial="44px", sm="32px")


def _figure(label: str, value, **props) -> rx.Component:
    return rx.flex(rx.text(label, size="1", color_scheme="gray"), rx.text(value, size="2", weight="medium", **props),
                   direction="column", min_width="72px")


def _limit(value, own) -> rx.Component:
    return rx.text(value, rx.cond(own, rx.text.span(" (own)", color_scheme="violet", weight="medium"),
                                  rx.text.span(" (default)", color_scheme="gray")), size="1", white_space="nowrap")


def _user(row: AdminUserRow) -> rx.Component:
    return rx.card(
        rx.flex(
            rx.flex(
                rx.text(row.username, weight="bold", size="3", class_name="admin-username", overflow_wrap="anywhere"),
                rx.cond(row.is_admin, rx.badge("admin", color_scheme="violet", variant="soft", high_contrast=True)),
                rx.cond(row.disabled, rx.badge(rx.icon("ban", size=12), "disabled", color_scheme="red",
                                               variant="soft", high_contrast=True, class_name="admin-disabled")),
                spacing="2", align="center", wrap="wrap", min_width="0",
            ),
            rx.flex(
                rx.button(rx.icon("sliders-horizontal", size=14), "Limits", size="2", variant="soft",
                          min_height=TOUCH, class_name="admin-edit", on_click=AdminState.edit_limits(row.id),
                          aria_label="Limits of " + row.username),
                rx.cond(row.disabled,
                        rx.button(rx.icon("circle-check", size=14), "Enable", size="2", variant="soft",
                                  color_scheme="green", high_contrast=True, min_height=TOUCH, class_name="admin-enable",
                                  on_click=AdminState.enable(row.id), aria_label="Enable " + row.username),
                        rx.cond(~row.is_me,
                                rx.button(rx.icon("ban", size=14), "Disable", size="2", variant="soft",
                                          color_scheme="red", min_height=TOUCH, class_name="admin-disable",
                                          on_click=AdminState.ask_disable(row.id),
                                          aria_label="Disable " + row.username))),
                spacing="2",
            ),
            justify="between", align="center", spacing="2", wrap="wrap",
        ),
        rx.flex(
            _figure("Today", row.today, class_name="admin-today"),
            _figure("This month", row.month, class_name="admin-month"),
            _figure("Jobs this month", row.jobs.to_string()),
            rx.flex(
                rx.text("Limits", size="1", color_scheme="gray"),
                rx.flex(_limit(row.daily + " a day", row.own_daily), _limit(row.monthly + " a month", row.own_monthly),
                        _limit(row.rate, row.own_rate), column_gap="12px", row_gap="2px", wrap="wrap",
                        class_name="admin-limits"),
                direction="column",
            ),
            column_gap="20px", row_gap="8px", wrap="wrap", margin_top="10px",
        ),
        rx.progress(value=row.month_percent, max=100, size="1", color_scheme=row.tone, margin_top="10px",
                    aria_label="This month: " + row.month + " of " + row.monthly,
                    title="This month: " + row.month + " of " + row.monthly),
        class_name="admin-user",
        id="admin-user-" + row.username,
        width="100%",
    )


def user_list() -> rx.Component:
    return rx.box(
        rx.flex(
            rx.input(
                rx.input.slot(rx.icon("search", size=16)),
                value=AdminState.search, on_change=AdminState.set_search, debounce_timeout=300,
                placeholder="Find a user", aria_label="Find a user", max_length=admin.SEARCH_CHARS,
                id="admin-search", size="3", flex="1", min_width="0",
            ),
            rx.text(AdminState.total_users.to_string() + rx.cond(AdminState.total_users == 1, " user", " users"),
                    size="2", color_scheme="gray", white_space="nowrap", id="admin-user-count"),
            spacing="3", align="center", margin_bottom="12px",
        ),
        rx.flex(rx.foreach(AdminState.users, _user), direction="column", spacing="3", id="admin-users"),
        rx.cond(AdminState.total_users > AdminState.users.length(),
                rx.text("Showing the " + AdminState.users.length().to_string() + " who spent most this month. "
                        "Search for a name to find the others.", size="1", color_scheme="gray", margin_top="8px")),
    )


def _field(label: str, name: str, value, placeholder: str, hint: str) -> rx.Component:
    return rx.flex(
        rx.el.label(label, html_for="limit-" + name, style={"font_size": "var(--font-size-2)",
                                                          "font_weight": "500"}),
        rx.input(id="limit-" + name, name=name, default_value=value, placeholder=placeholder, size="3",
                 max_length=64, auto_complete="off"),
        rx.text(hint, size="1", color_scheme="gray"),
        direction="column", spacing="1",
    )


def limits_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Limits of " + AdminState.edit_username),
            rx.dialog.description("Leave a field empty for the server's default. " + AdminState.defaults, size="2"),
            rx.form(
                rx.flex(
                    _field("Daily budget (USD)", "daily", AdminState.edit_daily, "default", "e.g. 5 or 2.50"),
                    _field("Monthly budget (USD)", "monthly", AdminState.edit_monthly, "default", "e.g. 50"),
                    _field("Image rate limit", "rate", AdminState.edit_rate, "default",
                           "requests per time, e.g. 10/minute or 100/day"),
                    rx.cond(AdminState.edit_error != "",
                            rx.callout(AdminState.edit_error, icon="triangle-alert", color_scheme="red", size="1",
                                       role="alert", id="limits-error")),
                    rx.flex(
                        rx.dialog.close(rx.button("Cancel", type="button", variant="soft", color_scheme="gray",
                                                  size="3")),
                        rx.button("Save", type="submit", size="3", id="limits-save"),
                        spacing="3", justify="end",
                    ),
                    direction="column", spacing="4", margin_top="16px",
                ),
                on_submit=AdminState.save_limits, reset_on_submit=False,
                # A new user in the dialog: new fields, so their default values are the new user's.
                key=AdminState.edit_username,
            ),
            max_width="440px", id="limits-dialog",
        ),
        open=AdminState.edit_open,
        on_open_change=AdminState.set_edit_open,
    )


def disable_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Disable " + AdminState.confirm_username + "?"),
            rx.alert_dialog.description(
                "They are logged out everywhere at once and can't log in until you enable them again. Their "
                "images and history stay.", size="2"),
            rx.flex(
                rx.alert_dialog.cancel(rx.button("Keep", variant="soft", color_scheme="gray", size="3")),
                rx.alert_dialog.action(rx.button("Disable", color_scheme="red", size="3", id="confirm-disable",
                                                 background="var(--red-11)", _hover={"background": "var(--red-12)"},
                                                 on_click=AdminState.disable)),
                spacing="3", justify="end", margin_top="16px",
            ),
            max_width="440px",
        ),
        open=AdminState.confirm_username != "",
        on_open_change=AdminState.set_confirm_open,
    )
