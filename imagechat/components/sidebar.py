"""Conversation list: a side column on desktop, a drawer on phones."""

import reflex as rx

from imagechat.state.chat import ChatState
from imagechat.state.views import ConversationItem


def _row(conv: ConversationItem) -> rx.Component:
    active = conv.id == ChatState.current_id
    return rx.cond(
        ChatState.renaming_id == conv.id,
        rx.form(
            rx.input(name="title", default_value=conv.title, auto_focus=True, size="2", max_length=80,
                     aria_label="Conversation name", width="100%"),
            on_submit=ChatState.rename, reset_on_submit=True, width="100%",
        ),
        rx.flex(
            rx.button(rx.text(conv.title, white_space="nowrap", overflow="hidden", text_overflow="ellipsis",
                              width="100%", text_align="left"),
                      # A job of this conversation ended while another one was in view (state/session.py).
                      rx.cond(ChatState.unread.contains(conv.id),
                              rx.box(width="8px", height="8px", border_radius="50%", background="var(--accent-9)",
                                     flex_shrink="0", class_name="unread-dot", role="img",
                                     aria_label="New results")),
                      variant=rx.cond(active, "soft", "ghost"), color_scheme="gray",
                      on_click=ChatState.select_conversation(conv.id), flex="1", min_width="0", size="2",
                      overflow="hidden", justify="start", class_name="conversation", title=conv.title),
            rx.dropdown_menu.root(
                rx.dropdown_menu.trigger(rx.icon_button(rx.icon("ellipsis", size=14), variant="ghost", size="1",
                                                        color_scheme="gray", aria_label="Conversation options")),
                rx.dropdown_menu.content(
                    rx.dropdown_menu.item("Rename", on_click=ChatState.start_rename(conv.id)),
                    rx.dropdown_menu.item("Delete", color="red", on_click=ChatState.delete_conversation(conv.id)),
                ),
            ),
            align="center", spacing="1", width="100%",
        ),
    )


def conversation_list() -> rx.Component:
    return rx.vstack(
        rx.button(rx.icon("plus", size=16), "New chat", on_click=ChatState.new_conversation, width="100%",
                  variant="surface", id="new-chat"),
        rx.vstack(rx.foreach(ChatState.conversations, _row), spacing="1", width="100%", id="conversation-list"),
        spacing="3",
        width="100%",
    )


def sidebar() -> rx.Component:
    return rx.box(
        conversation_list(),
        width="260px",
        flex_shrink="0",
        padding="12px",
        border_right="1px solid var(--gray-a4)",
        height="calc(100dvh - 57px)",
        position="sticky",
        top="57px",
        overflow_y="auto",
        display=rx.breakpoints(initial="none", md="block"),
        role="navigation",
        aria_label="Conversations",
    )


def drawer() -> rx.Component:
    return rx.drawer.root(
        rx.drawer.overlay(z_index="20"),
        rx.drawer.portal(
            rx.drawer.content(
                rx.box(conversation_list(), padding="16px", width="80vw", max_width="320px", height="100%",
                       background="var(--color-panel-solid)", overflow_y="auto"),
                height="100%", top="0", left="0", z_index="30", width="auto", aria_label="Conversations",
            )
        ),
        direction="left",
        # vaul leaves focus on the menu button behind the overlay unless told to move it into the drawer;
        # with it inside, the dialog's focus trap keeps Tab in the drawer.
        custom_attrs={"autoFocus": True},
        open=ChatState.drawer_open,
        on_open_change=ChatState.set_drawer,
    )
