"""`python app.py`: the AutoGLM-Phone-9B demo page at / and its OpenAI-compatible API at /v1,
in one process. Flags and AUTOGLM_* variables are those of `autoglm_demo.settings`; the
port defaults to 7860 (the Hugging Face Spaces port). With --backend-url the page talks to
that backend instead and no model is loaded here."""

from __future__ import annotations

from autoglm_demo.settings import parse_settings


def main() -> None:
    settings = parse_settings(port=7860)
    # Imported only once the flags are read: `--help` and a bad flag answer at once, without
    # loading the web stack.
    from autoglm_demo.main import serve_page

    serve_page(settings)


if __name__ == "__main__":
    main()
