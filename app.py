"""`python app.py`: the AutoGLM-Phone-9B demo page at / and its OpenAI-compatible API at /v1,
in one process. Flags and AUTOGLM_* variables are those of `autoglm_demo.settings`; the
port defaults to 7860 (the Hugging Face Spaces port). With --backend-url the page talks to
that backend instead and no model is loaded here."""

from __future__ import annotations

from autoglm_demo.settings import parse_settings


def main() -> None:
    settings = parse_settings(port=7860)
    # Imported only once the flags are read: `--help` and a bad flag answer at once, without
    # loading the web stack (the model runtimes load later still, with their variant).
    import uvicorn

    from autoglm_demo.cli import build_pool, configure_logging
    from autoglm_demo.server.deadlines import uvicorn_options

    configure_logging(settings.log_level)
    pool = None
    if not settings.backend_url:
        pool = build_pool(settings)
        pool.start()  # the default variant loads on its thread while the page's libraries import
    from autoglm_demo.ui import build_page_app

    uvicorn.run(
        build_page_app(settings, pool),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        **uvicorn_options(settings.read_timeout),
    )


if __name__ == "__main__":
    main()
