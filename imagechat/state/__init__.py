"""Reflex states, one per concern. They hold ids, text, URLs and progress numbers: never image bytes."""
