"""The composition root: what the process is made of, put together in one place.

`python app.py` serves the page at / and the OpenAI-compatible API at /v1 in one process
(`serve_page`); `python -m autoglm_demo serve` serves the API alone (`serve_api`). Both
start here: logging, the runtimes pool, the server app, the page app, the QA recorder and
the page's login. The page talks to whichever backend through the OpenAI API, even to the
embedded one.
"""

from __future__ import annotations

import atexit
import logging

import uvicorn
from fastapi import FastAPI

from autoglm_demo.access import Login
from autoglm_demo.client import BackendClient
from autoglm_demo.engine.admission import Admission
from autoglm_demo.engine.catalogue import VariantSpec, default_precision, variant_specs
from autoglm_demo.engine.engine import Engine
from autoglm_demo.engine.pool import Variant, VariantPool
from autoglm_demo.inprocess import StreamingASGITransport
from autoglm_demo.qa.recorder import Recorder
from autoglm_demo.qa.store import QaStore, QaStoreError, default_url
from autoglm_demo.server.api import create_app
from autoglm_demo.server.deadlines import uvicorn_options
from autoglm_demo.server.limits import MIB, BodyCap, BodySizeLimit
from autoglm_demo.server.login_throttle import LoginThrottle, login_note
from autoglm_demo.server.page_api_guard import PageApiGuard
from autoglm_demo.settings import Settings
from autoglm_demo.speech.service import Speech
from autoglm_demo.ui.voice import VoiceInput

_ANY_INTERFACE = {"0.0.0.0", "::", ""}

# Every page request but an upload is a small JSON or form body (a message, settings, a
# login); 1 MiB leaves room for a long system prompt and refuses the rest unread.
PAGE_REQUEST_BYTES = MIB
_MULTIPART_SLACK = 64 * 2**10  # part headers and boundaries around the uploaded files


def local_url(settings: Settings) -> str:
    """Where this process is reachable from inside the process."""
    host = "127.0.0.1" if settings.host in _ANY_INTERFACE else settings.host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def embedded_api_url(settings: Settings) -> str:
    return local_url(settings) + "/v1"


def build_page_app(settings: Settings, pool: VariantPool | None = None) -> FastAPI:
    """`pool`: the embedded backend's variants, when the caller has already started loading
    them (`serve_page` does, so that the model loads while the page's libraries import)."""
    # Gradio is the slowest import of all: only here, after the model began loading.
    from autoglm_demo.ui.page import mount_page

    recorder = open_recorder(settings)  # first: a bad --qa-db fails before the page is built
    login = page_login(settings.page_auth)
    # One recogniser per process, loaded on first use: the embedded API's, or (remote
    # backend) the page's own, needed only if that backend cannot transcribe.
    speech = Speech(settings)
    if settings.backend_url:
        # Remote backend: no engine is created, so no model is loaded here at all.
        app = FastAPI(title="AutoGLM-Phone-9B demo")
    else:
        app = create_app(settings, pool or build_pool(settings), speech)
    # One key setting: the embedded /v1 requires it, and a remote backend gets it. The
    # embedded one is called in-process: the same requests, without a loopback socket.
    client = BackendClient(
        settings.backend_url or embedded_api_url(settings),
        settings.api_key,
        transport=None if settings.backend_url else StreamingASGITransport(app),
    )
    note = login_note() if settings.page_auth else None
    voice = VoiceInput(client, speech)
    mount_page(app, client, settings, voice, recorder, login, note, local_url(settings))
    guard_page_requests(app, settings, login)
    return app


def guard_page_requests(app: FastAPI, settings: Settings, login: Login | None) -> None:
    """Caps on every request body, on login tries, and credentials on the page's API
    routes that Gradio leaves open (MCP), ahead of Gradio's routes.

    Gradio reads a whole body before it checks the login or the input, so without a cap
    anyone could make the server hold 200 MiB per request.
    """
    app.add_middleware(PageApiGuard, api_key=settings.api_key, login=login)
    if settings.page_auth:
        app.add_middleware(LoginThrottle)
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


def open_recorder(settings: Settings) -> Recorder:
    """The QA store (migrated to the current schema) and its writer, flushed at exit."""
    try:
        store = QaStore(settings.qa_db or default_url(settings.cache_dir))
    except QaStoreError as error:
        raise SystemExit(str(error)) from None
    recorder = Recorder(store, store_media=settings.qa_store_media)
    atexit.register(recorder.close)
    return recorder


def page_login(page_auth: str | None) -> tuple[str, str] | None:
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


def serve_page(settings: Settings) -> None:
    """The page and (unless a remote backend is used) the API, until interrupted."""
    configure_logging(settings.log_level)
    pool = None
    if not settings.backend_url:
        pool = build_pool(settings)
        pool.start()  # the default variant loads on its thread while the page's libraries import
    _run(build_page_app(settings, pool), settings)


def serve_api(settings: Settings) -> None:
    """The OpenAI-compatible API on its own, until interrupted."""
    configure_logging(settings.log_level)
    _run(build_api_app(settings), settings)


def _run(app: FastAPI, settings: Settings) -> None:
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        **uvicorn_options(settings.read_timeout),
    )
