"""The Gradio page; `build_page_app` composes it with the embedded API into one app."""

from __future__ import annotations

from typing import Any

__all__ = ["build_page_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use rather than here: autoglm_demo.qa builds on the page's
    # conversation modules, and the page on autoglm_demo.qa, so loading the whole page
    # whenever any ui module is imported would make the two import each other in a circle.
    if name == "build_page_app":
        from autoglm_demo.ui.app import build_page_app

        return build_page_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
