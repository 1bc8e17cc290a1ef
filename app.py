"""`python app.py`: the AutoGLM-Phone-9B demo page at / and its OpenAI-compatible API at /v1,
in one process. Flags and AUTOGLM_* variables are those of `autoglm_demo.settings`; the
port defaults to 7860 (the Hugging Face Spaces port). With --backend-url the page talks to
that backend instead and no model is loaded here."""

from __future__ import annotations

from autoglm_demo.main import serve_page
from autoglm_demo.settings import parse_settings


def main() -> None:
    serve_page(parse_settings(port=7860))


if __name__ == "__main__":
    main()
