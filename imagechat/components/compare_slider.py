"""A before/after compare slider: two images stacked in one box, A revealed left of a draggable divider.

The divider's position is a CSS variable (--pos) that assets/detail-controls.js moves on pointer drags and on
the arrow keys of the handle (role="slider"), in the browser alone: no server round trip per pixel. Both
images are contained in the same box, so different sizes still line up edge to edge. `key` remounts the
slider (back to the middle) when the pair changes.
"""

import reflex as rx

_LAYER = {"position": "absolute", "inset": "0", "width": "100%", "height": "100%", "object_fit": "contain",
          "user_select": "none", "pointer_events": "none"}


def _tag(text, side: str) -> rx.Component:
    # At the bottom: the top corners belong to the view's own buttons.
    return rx.badge(text, variant="solid", color_scheme="gray", high_contrast=True, position="absolute",
                    bottom="10px", **{side: "10px"}, max_width="45%", overflow="hidden", text_overflow="ellipsis",
                    white_space="nowrap", pointer_events="none", class_name=f"compare-tag-{side}")


def compare_slider(a_src, b_src, a_label, b_label, key) -> rx.Component:
    return rx.box(
        rx.image(src=b_src, alt=b_label, draggable=False, class_name="compare-b", style=_LAYER),
        rx.image(src=a_src, alt=a_label, draggable=False, class_name="compare-a",
                 style={**_LAYER, "clip_path": "inset(0 calc(100% - var(--pos, 50%)) 0 0)"}),
        _tag("A · " + a_label, "left"),
        _tag("B · " + b_label, "right"),
        rx.el.div(
            rx.box(width="2px", height="100%", background="white", box_shadow="0 0 0 1px rgba(0,0,0,.35)",
                   margin_x="auto"),
            rx.center(rx.icon("move-horizontal", size=18, color="var(--gray-12)"), position="absolute", top="50%",
                      left="50%", transform="translate(-50%, -50%)", width="40px", height="40px",
                      border_radius="999px", background="white", box_shadow="0 2px 10px rgba(0,0,0,.35)"),
            role="slider",
            tab_index=0,
            aria_label="Compare A and B: move left to show more of B, right to show more of A",
            aria_valuemin=0,
            aria_valuemax=100,
            aria_valuenow=50,
            aria_valuetext="50% A, 50% B",
            aria_orientation="horizontal",
            class_name="compare-handle",
            style={"position": "absolute", "top": "0", "bottom": "0", "left": "var(--pos, 50%)", "width": "44px",
                   "transform": "translateX(-50%)", "cursor": "ew-resize", "outline": "none",
                   "&:focus-visible": {"outline": "3px solid var(--focus-8)", "outline_offset": "-3px"}},
        ),
        key=key,
        class_name="compare-slider",
        position="relative",
        width="100%",
        height="100%",
        overflow="hidden",
        cursor="ew-resize",
        style={"--pos": "50%", "touch_action": "none", "user_select": "none"},
    )
