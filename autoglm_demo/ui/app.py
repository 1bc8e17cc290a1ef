"""One FastAPI app: the OpenAI-compatible API at /v1 (unless a remote backend is used)
and the page at /, which talks to whichever backend through the OpenAI API."""

from __future__ import annotations

import atexit
from pathlib import Path

import gradio as gr
from fastapi import FastAPI

import autoglm_demo
from autoglm_demo.cli import build_pool
from autoglm_demo.client import BackendClient
from autoglm_demo.qa.recorder import Recorder
from autoglm_demo.qa.store import QaStore, QaStoreError, default_url
from autoglm_demo.server.app import create_app
from autoglm_demo.server.limits import MIB, BodyCap, BodySizeLimit
from autoglm_demo.server.login_throttle import LoginThrottle, login_note
from autoglm_demo.settings import Settings
from autoglm_demo.speech.service import Speech
from autoglm_demo.ui.i18n import I18N
from autoglm_demo.ui.layout import CSS, build_demo
from autoglm_demo.ui.uploads import (
    check_file_access,
    end_sessions_when_closed,
    never_served,
    private_upload_dir,
)
from autoglm_demo.ui.voice import VoiceInput

_ANY_INTERFACE = {"0.0.0.0", "::", ""}

# Every page request but an upload is a small JSON or form body (a message, settings, a
# login); 1 MiB leaves room for a long system prompt and refuses the rest unread.
PAGE_REQUEST_BYTES = MIB
_MULTIPART_SLACK = 64 * 2**10  # part headers and boundaries around the uploaded files


def embedded_api_url(settings: Settings) -> str:
    """Where this process's own /v1 is reachable from inside the process."""
    host = "127.0.0.1" if settings.host in _ANY_INTERFACE else settings.host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}/v1"


def build_page_app(settings: Settings) -> FastAPI:
    recorder = open_recorder(settings)  # first: a bad --qa-db fails before any model loads
    # One recogniser per process, loaded on first use: the embedded API's, or (remote
    # backend) the page's own, needed only if that backend cannot transcribe.
    speech = Speech(settings)
    if settings.backend_url:
        # Remote backend: no engine is created, so no model is loaded here at all.
        app = FastAPI(title="AutoGLM-Phone-9B demo")
    else:
        app = create_app(settings, build_pool(settings), speech)
    # One key setting: the embedded /v1 requires it, and a remote backend gets it.
    client = BackendClient(settings.backend_url or embedded_api_url(settings), settings.api_key)
    private_upload_dir()  # before the page is built: Gradio reads it then
    demo = build_demo(client, settings, VoiceInput(client, speech), recorder)
    end_sessions_when_closed(demo)
    mount_page(app, demo, settings)
    guard_page_requests(app, settings)
    return app


def mount_page(app: FastAPI, demo: gr.Blocks, settings: Settings) -> None:
    """The page at /, with Gradio's file checks on: uploads in, nothing else out."""
    gr.mount_gradio_app(
        app, demo, path="/", i18n=I18N, css=CSS, theme=gr.themes.Soft(), footer_links=["api"],
        auth=page_login(settings.page_auth),
        auth_message=login_note() if settings.page_auth else None,
        # An unexpected exception's text (a refused path lists the blocked folders) goes to
        # the log, not to the browser; gr.Error and gr.Warning messages are still shown.
        show_error=False,
        max_file_size=settings.max_upload_mb * MIB,
        blocked_paths=never_served(
            Path(autoglm_demo.__file__).parent, Path.cwd(), settings.cache_dir
        ),
    )
    check_file_access(demo)


def guard_page_requests(app: FastAPI, settings: Settings) -> None:
    """Caps on every request body, and on login tries, ahead of Gradio's routes.

    Gradio reads a whole body before it checks the login or the input, so without a cap
    anyone could make the server hold 200 MiB per request.
    """
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
