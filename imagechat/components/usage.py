"""Pieces of the usage and admin pages: a budget bar, the daily chart (plain boxes, no chart library), and the
budget warning the chat shows above the composer."""

import reflex as rx

from imagechat.state.usage import BudgetBar, BudgetState, DayBar

CHART_PX = 140
# Read by screen readers, not drawn.
SCREEN_READER_ONLY = {"position": "absolute", "width": "1px", "height": "1px", "overflow": "hidden",
                      "clip": "rect(0 0 0 0)", "white_space": "nowrap", "margin": "-1px", "padding": "0"}


def budget_card(bar: BudgetBar) -> rx.Component:
    return rx.card(
        rx.flex(
            rx.text(bar.label, size="2", weight="medium", color_scheme="gray"),
            rx.text(bar.percent.to_string() + "%", size="2", color_scheme="gray"),
            justify="between", align="center",
        ),
        rx.flex(
            rx.text(bar.spent, size="7", weight="bold", class_name="budget-spent"),
            rx.text("of " + bar.cap, size="3", color_scheme="gray", class_name="budget-cap"),
            align="baseline", spacing="2", margin_top="4px",
        ),
        rx.progress(value=bar.percent, max=100, color_scheme=bar.tone, size="3", margin_top="10px",
                    aria_label=bar.label + ": " + bar.spent + " of " + bar.cap),
        rx.flex(
            rx.text(bar.left + " left", size="2", weight="medium", class_name="budget-left"),
            rx.text(bar.resets, size="1", color_scheme="gray"),
            justify="between", align="center", wrap="wrap", spacing="2", margin_top="8px",
        ),
        class_name="budget-card",
        custom_attrs={"data-tone": bar.tone},
        width="100%",
    )


def _day(bar: DayBar) -> rx.Component:
    return rx.flex(
        rx.box(
            height=rx.cond(bar.height > 0, "max(2px, " + bar.height.to_string() + "%)", "2px"),
            width="100%",
            border_radius="3px 3px 0 0",
            background=rx.cond(bar.height > 0, rx.cond(bar.today, "var(--accent-10)", "var(--accent-8)"),
                               "var(--gray-a4)"),
        ),
        title=bar.label + ": " + bar.usd,
        direction="column", justify="end", flex="1", min_width="0", height="100%", class_name="day-bar",
    )


def day_chart(days, total) -> rx.Component:
    """Spending per day, oldest on the left; each bar names its day and amount on hover. For screen readers
    the same figures are a list."""
    return rx.box(
        rx.flex(rx.foreach(days, _day), align="end", spacing="1", height=f"{CHART_PX}px", width="100%",
                aria_hidden="true", padding_x="2px", border_bottom="1px solid var(--gray-a6)"),
        rx.flex(
            rx.text(rx.cond(days.length() > 0, days[0].label, ""), size="1", color_scheme="gray"),
            rx.text("Today", size="1", color_scheme="gray"),
            justify="between", margin_top="4px",
        ),
        rx.el.ul(rx.foreach(days, lambda d: rx.el.li(d.label + ": " + d.usd)), style=SCREEN_READER_ONLY),
        id="usage-chart", aria_label="Spending per day over the last 30 days, " + total + " in all",
        role="figure",
    )


def budget_warning() -> rx.Component:
    """Above the chat's composer at 80% of the daily or monthly budget (BudgetState)."""
    return rx.cond(
        BudgetState.warning != "",
        rx.callout(
            rx.flex(
                rx.text(BudgetState.warning),
                rx.link("See your usage", href="/usage", weight="medium", white_space="nowrap"),
                spacing="2", wrap="wrap", align="baseline",
            ),
            icon="wallet", color_scheme="amber", size="1", role="status", id="budget-warning", high_contrast=True,
            # Solid, not Radix's translucent soft fill: messages scroll underneath the composer.
            background="var(--amber-3)", margin_bottom="6px",
        ),
    )
