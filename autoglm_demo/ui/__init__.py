"""The Gradio page; `build_page_app` composes it with the embedded API into one app."""

from autoglm_demo.ui.app import build_page_app

__all__ = ["build_page_app"]
