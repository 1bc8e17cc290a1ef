"""Components that more than one tab builds the same way."""

from __future__ import annotations

import gradio as gr

from autoglm_demo.ui.i18n import label


def message_box(elem_id: str) -> gr.MultimodalTextbox:
    """The question box: text plus any number of screenshots, sent with Enter."""
    return gr.MultimodalTextbox(
        elem_id=elem_id,
        show_label=False,
        placeholder=label("input_placeholder"),
        file_types=["image"],
        file_count="multiple",
        sources=["upload"],
    )
