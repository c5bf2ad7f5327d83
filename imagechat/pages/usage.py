"""Usage: what the signed-in user spent today and this month against their budgets, by engine and model, per
day over the last 30 days, what answers from their library saved, and their recent jobs."""

import reflex as rx

from imagechat.components.header import header
from imagechat.components.usage import budget_card, day_chart
from imagechat.state.usage import ModelRow, RecentJob, UsageState

TOUCH = rx.breakpoints(initial="44px", sm="32px")


def _section(title: str, *children, **props) -> rx.Component:
    return rx.card(rx.heading(title, size="3", as_="h3", margin_bottom="12px"), *children, width="100%", **props)


def _model(row: ModelRow) -> rx.Component:
    return rx.box(
        rx.flex(
            rx.flex(
                rx.badge(row.engine, variant="soft", color_scheme="gray", high_contrast=True),
                rx.text(row.model, size="2", overflow_wrap="anywhere"),
                spacing="2", align="center", min_width="0",
            ),
            rx.flex(
                rx.text(row.requests.to_string() + rx.cond(row.requests == 1, " request", " requests"), size="1",
                        color_scheme="gray", white_space="nowrap"),
                rx.text(row.usd, size="2", weight="medium", white_space="nowrap"),
                spacing="3", align="center",
            ),
            justify="between", align="center", spacing="2",
        ),
        rx.progress(value=row.share, max=100, size="1", margin_top="6px", aria_hidden="true"),
        class_name="model-row",
    )


def _status(status) -> rx.Component:
    return rx.match(
        status,
        ("succeeded", rx.badge("Succeeded", color_scheme="green", variant="soft", high_contrast=True)),
        ("failed", rx.badge("Failed", color_scheme="red", variant="soft", high_contrast=True)),
        ("cancelled", rx.badge("Cancelled", color_scheme="gray", variant="soft", high_contrast=True)),
        ("running", rx.badge("Running", color_scheme="blue", variant="soft", high_contrast=True)),
        rx.badge("Queued", color_scheme="amber", variant="soft", high_contrast=True),
    )


def _recent(job: RecentJob) -> rx.Component:
    return rx.flex(
        rx.flex(
            rx.link(job.prompt, href=job.href, size="2", weight="medium", class_name="recent-prompt",
                    overflow="hidden", text_overflow="ellipsis", white_space="nowrap", display="block"),
            rx.flex(_status(job.status), rx.text(job.created + " · " + job.engine, size="1", color_scheme="gray"),
                    spacing="2", align="center", wrap="wrap"),
            direction="column", spacing="1", min_width="0", flex="1",
        ),
        rx.text(job.cost, size="2", weight="medium", white_space="nowrap"),
        justify="between", align="center", spacing="3", padding_y="8px",
        border_top="1px solid var(--gray-a4)", class_name="recent-job",
    )


def _saved() -> rx.Component:
    return rx.card(
        rx.flex(
            rx.icon("piggy-bank", size=20, color="var(--grass-11)"),
            rx.text("Saved by answers from your library: ", rx.text.span(UsageState.saved, weight="bold",
                                                                          id="usage-saved"),
                    " this month", size="2"),
            spacing="2", align="center", wrap="wrap",
        ),
        rx.text(UsageState.saved_total + " in all, from " + UsageState.cached_answers.to_string()
                + rx.cond(UsageState.cached_answers == 1, " answer", " answers")
                + ". Asking again for the same image gives you the one you have, at no cost.",
                size="1", color_scheme="gray", margin_top="4px"),
        width="100%", id="usage-saved-card",
    )


def _content() -> rx.Component:
    return rx.flex(
        rx.cond(UsageState.warning != "",
                rx.callout(UsageState.warning, icon="wallet", color_scheme="amber", role="status",
                           high_contrast=True, id="usage-warning")),
        rx.grid(rx.foreach(UsageState.budgets, budget_card), columns=rx.breakpoints(initial="1", sm="2"),
                spacing="3", width="100%", id="usage-budgets"),
        _saved(),
        _section("Last 30 days",
                 rx.text(UsageState.days_total + " spent", size="2", color_scheme="gray", margin_bottom="8px"),
                 day_chart(UsageState.days, UsageState.days_total)),
        _section("This month by engine and model",
                 rx.cond(UsageState.by_model.length() > 0,
                         rx.flex(rx.foreach(UsageState.by_model, _model), direction="column", spacing="3",
                                 id="usage-models"),
                         rx.text("Nothing yet this month.", size="2", color_scheme="gray")),
                 rx.flex(rx.text("Total", size="2", weight="medium"),
                         rx.text(UsageState.month_total, size="2", weight="bold", id="usage-month-total"),
                         justify="between", margin_top="12px", padding_top="8px",
                         border_top="1px solid var(--gray-a4)")),
        _section("Recent jobs",
                 rx.cond(UsageState.recent.length() > 0,
                         rx.box(rx.foreach(UsageState.recent, _recent), id="usage-recent"),
                         rx.text("No jobs yet. Describe an image in the chat.", size="2", color_scheme="gray")),
                 rx.link(rx.button(rx.icon("history", size=14), "All jobs in History", variant="soft", size="2",
                                   min_height=TOUCH), href="/history", margin_top="8px", display="inline-block")),
        direction="column", spacing="4", width="100%",
    )


def usage_page() -> rx.Component:
    return rx.box(
        header(menu=False),
        rx.box(
            rx.flex(
                rx.heading("Usage", size="6", as_="h2"),
                rx.link(rx.button(rx.icon("message-circle", size=16), "Back to chat", variant="soft"), href="/"),
                justify="between", align="center", wrap="wrap", spacing="2", margin_bottom="6px",
            ),
            rx.text("What your images cost, against your budgets. Amounts of images still being made are what "
                    "was reserved for them.", size="2", color_scheme="gray", margin_bottom="16px"),
            rx.cond(
                UsageState.load_error != "",
                rx.callout(UsageState.load_error, icon="triangle-alert", color_scheme="red", role="alert"),
                rx.cond(UsageState.loaded, _content(), rx.center(rx.spinner(size="3"), padding="32px")),
            ),
            max_width="880px", margin_x="auto", padding="16px", role="main",
        ),
        min_height="100dvh",
    )
