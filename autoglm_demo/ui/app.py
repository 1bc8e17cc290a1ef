"""One FastAPI app: the OpenAI-compatible API at /v1 (unless a remote backend is used)
and the page at /, which talks to whichever backend through the OpenAI API."""

from __future__ import annotations

import atexit

import gradio as gr
from fastapi import FastAPI

from autoglm_demo.cli import build_pool
from autoglm_demo.client import BackendClient
from autoglm_demo.inprocess import StreamingASGITransport
from autoglm_demo.qa.recorder import Recorder
from autoglm_demo.qa.store import QaStore, QaStoreError, default_url
from autoglm_demo.server.app import create_app
from autoglm_demo.settings import Settings
from autoglm_demo.speech.service import Speech
from autoglm_demo.ui.i18n import I18N
from autoglm_demo.ui.layout import CSS, build_demo
from autoglm_demo.ui.uploads import private_upload_dir
from autoglm_demo.ui.voice import VoiceInput

_ANY_INTERFACE = {"0.0.0.0", "::", ""}


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
    # One key setting: the embedded /v1 requires it, and a remote backend gets it. The
    # embedded one is called in-process: the same requests, without a loopback socket.
    client = BackendClient(
        settings.backend_url or embedded_api_url(settings),
        settings.api_key,
        transport=None if settings.backend_url else StreamingASGITransport(app),
    )
    private_upload_dir()  # before the page is built: Gradio reads it then
    demo = build_demo(client, settings, VoiceInput(client, speech), recorder)
    return gr.mount_gradio_app(
        app, demo, path="/", i18n=I18N, css=CSS, theme=gr.themes.Soft(), footer_links=["api"],
        auth=page_login(settings.page_auth),
        max_file_size=f"{settings.max_upload_mb}mb",
    )


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
