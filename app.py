"""`python app.py`: the AutoGLM-Phone-9B demo page at / and its OpenAI-compatible API at /v1,
in one process. Flags and AUTOGLM_* variables are those of `autoglm_demo.settings`; the
port defaults to 7860 (the Hugging Face Spaces port). With --backend-url the page talks to
that backend instead and no model is loaded here."""

from __future__ import annotations

import uvicorn

from autoglm_demo.cli import configure_logging
from autoglm_demo.server.deadlines import uvicorn_options
from autoglm_demo.settings import parse_settings
from autoglm_demo.ui import build_page_app


def main() -> None:
    settings = parse_settings(port=7860)
    configure_logging(settings.log_level)
    uvicorn.run(
        build_page_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        **uvicorn_options(settings.read_timeout),
    )


if __name__ == "__main__":
    main()
