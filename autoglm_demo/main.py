"""The composition root: what the process is made of, put together in one place.

`python app.py` serves the page at / and the OpenAI-compatible API at /v1 in one process
(`serve_page`); `python -m autoglm_demo serve` serves the API alone (`serve_api`). Both
start here: logging, the runtimes pool, the server app, and the page app (its parts, the
slowest to import, in `page_assembly`). The page talks to whichever backend through the
OpenAI API, even to the embedded one. `python app.py` serves the API first and mounts the
page once serving, so /health and /v1 answer while Gradio imports.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

import uvicorn
from fastapi import FastAPI
from uvicorn.main import STARTUP_FAILURE

from autoglm_demo.access import Login
from autoglm_demo.engine.admission import Admission
from autoglm_demo.engine.catalogue import VariantSpec, default_precision, variant_specs
from autoglm_demo.engine.engine import Engine
from autoglm_demo.engine.pool import Variant, VariantPool
from autoglm_demo.server.api import create_app
from autoglm_demo.server.deadlines import uvicorn_options
from autoglm_demo.server.limits import MIB, BodyCap, BodySizeLimit
from autoglm_demo.server.page_start import Lifespan, PageStart
from autoglm_demo.server.routes import page_router
from autoglm_demo.settings import Settings
from autoglm_demo.speech.service import Speech

# Every page request but an upload is a small JSON or form body (a message, settings, a
# login); 1 MiB leaves room for a long system prompt and refuses the rest unread.
PAGE_REQUEST_BYTES = MIB
_MULTIPART_SLACK = 64 * 2**10  # part headers and boundaries around the uploaded files


def build_page_app(
    settings: Settings,
    pool: VariantPool | None = None,
    on_failure: Callable[[], None] = lambda: None,
) -> FastAPI:
    """The page at / and (unless a remote backend is used) the API at /v1. The API serves
    at once; the page is mounted from a thread once the app serves (`PageStart`), since
    importing Gradio and building the page take seconds that /health and /v1 do not need.
    `pool`: the embedded backend's variants, if already made; `on_failure`: called if the
    page cannot be built."""
    app = page_host(settings, pool)
    PageStart(partial(mount_page, app, settings), on_failure).install(app)
    return app


def page_host(settings: Settings, pool: VariantPool | None) -> FastAPI:
    """The app the page is mounted on: the embedded API, or (remote backend) a bare app,
    with the page's request guards in front, which must be in place before it serves."""
    page_login(settings.page_auth)  # a bad --page-auth fails before anything is served
    # One recogniser per process, loaded on first use: the embedded API's, or (remote
    # backend) the page's own, needed only if that backend cannot transcribe.
    speech = Speech(settings)
    if settings.backend_url:
        # Remote backend: no engine is created, so no model is loaded here at all.
        app = FastAPI(title="AutoGLM-Phone-9B demo")
        app.state.speech = speech
        app.include_router(page_router)  # /health, for a container's health check
    else:
        app = create_app(settings, pool or build_pool(settings), speech)
    guard_page_requests(app, settings, page_login(settings.page_auth))
    return app


def mount_page(app: FastAPI, settings: Settings) -> Lifespan:
    """Mount the page on an app that has started, and return the lifespan Gradio's mount
    adds (its queue, its clean-up), which the app's own start could not run."""
    # The page's modules (Gradio, the openai SDK, the QA store) are the slowest imports of
    # all: only here, once the API serves.
    from autoglm_demo.page_assembly import mount_page_on

    started = app.router.lifespan_context
    # Gradio wraps the app's lifespan in its own; around a no-op, it is the page's alone.
    app.router.lifespan_context = _no_lifespan
    try:
        mount_page_on(app, settings, app.state.speech, page_login(settings.page_auth))
        return app.router.lifespan_context
    finally:
        app.router.lifespan_context = started


@asynccontextmanager
async def _no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


def guard_page_requests(app: FastAPI, settings: Settings, login: Login | None) -> None:
    """Caps on every request body, on login tries, and credentials on the page's API
    routes that Gradio leaves open (MCP), ahead of Gradio's routes.

    Gradio reads a whole body before it checks the login or the input, so without a cap
    anyone could make the server hold 200 MiB per request.
    """
    # The guards' rate-limit library is imported only for a page with a login or a key.
    if settings.page_auth:
        from autoglm_demo.server.login_throttle import LoginThrottle

        app.add_middleware(LoginThrottle)
    if settings.api_key or login:
        from autoglm_demo.server.page_api_guard import PageApiGuard

        app.add_middleware(PageApiGuard, api_key=settings.api_key, login=login)
    app.add_middleware(BodySizeLimit, caps=page_body_caps(settings))  # outermost


def page_body_caps(settings: Settings) -> list[BodyCap]:
    """The largest body per route: uploads get --max-upload-mb (all files of one request
    together), the embedded API --max-request-mb, everything else PAGE_REQUEST_BYTES."""
    caps = [
        BodyCap("/", PAGE_REQUEST_BYTES, advice="Page requests carry no files."),
        BodyCap(
            "/gradio_api/upload",
            settings.max_upload_mb * MIB + _MULTIPART_SLACK,
            advice="Upload fewer or smaller files at once.",
        ),
    ]
    if not settings.backend_url:
        caps.append(BodyCap("/v1", settings.max_request_mb * MIB))
    return caps


def build_api_app(settings: Settings) -> FastAPI:
    return create_app(settings, build_pool(settings))


def build_pool(settings: Settings) -> VariantPool:
    specs = variant_specs(settings)
    admission = Admission(settings.max_concurrent, settings.max_queue)
    first = default_precision(settings, specs)
    names = settings.served_model_name
    variants = [
        Variant(served_names(names, spec.precision, default=spec.precision == first), spec)
        for spec in specs
    ]

    def make_engine(spec: VariantSpec) -> Engine:
        return Engine(
            spec.load,
            default_max_tokens=settings.default_max_tokens,
            sampling_defaults=spec.sampling_defaults,
        )

    return VariantPool(
        variants,
        next(variant for variant in variants if variant.spec.precision == first),
        make_engine,
        admission=admission,
        max_loaded=settings.max_loaded_variants,
        max_bytes=settings.max_variant_memory_mb * 2**20,
    )


def served_names(names: tuple[str, ...], precision: str, *, default: bool) -> tuple[str, ...]:
    """Each variant answers to the names with its precision added (`autoglm-phone-9b-int8`).
    The default variant, loaded at start, also answers to the names as given, so a client
    that asks for `autoglm-phone-9b` is answered at once by what is already loaded."""
    explicit = tuple(f"{name}-{precision}" for name in names)
    return explicit + names if default else explicit


def page_login(page_auth: str | None) -> Login | None:
    """--page-auth USER:PASSWORD as Gradio's (user, password); the password may hold ':'."""
    if not page_auth:
        return None
    user, colon, password = page_auth.partition(":")
    if not (user and colon and password):
        raise SystemExit("--page-auth / AUTOGLM_PAGE_AUTH must look like USER:PASSWORD")
    return user, password


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Alembic announces its plugins and database dialect at INFO on every start of the QA
    # store: detail for `--log-level debug`, not for the console.
    if level != "debug":
        logging.getLogger("alembic").setLevel(logging.WARNING)


def serve_page(settings: Settings) -> None:
    """The page and (unless a remote backend is used) the API, until interrupted. The API
    serves first, while the page's libraries import and the page is built."""
    configure_logging(settings.log_level)
    pool = None
    if not settings.backend_url:
        pool = build_pool(settings)
        pool.start()  # the default variant loads on its thread while the rest imports

    def stop() -> None:
        server.should_exit = True

    app = build_page_app(settings, pool, on_failure=stop)
    server = uvicorn.Server(_server_config(app, settings))
    _serve(server)
    if app.state.page_start.error:
        raise SystemExit(f"The page could not start: {app.state.page_start.error}")


def serve_api(settings: Settings) -> None:
    """The OpenAI-compatible API on its own, until interrupted."""
    configure_logging(settings.log_level)
    _serve(uvicorn.Server(_server_config(build_api_app(settings), settings)))


def _serve(server: uvicorn.Server) -> None:
    """`uvicorn.run` for an app object, with the server at hand (the page may stop it)."""
    server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)


def _server_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        **uvicorn_options(settings.read_timeout),
    )
