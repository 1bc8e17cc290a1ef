"""The page's part of the composition root: its QA recorder, its login, its client of the
backend and its voice input, put together and mounted at / of the app.

Kept apart from `autoglm_demo.main` because these are the process's slowest imports (Gradio,
the openai SDK, SQLAlchemy for the QA store): `main` imports this module only when it mounts
the page, which `python app.py` does after the API is already serving.
"""

from __future__ import annotations

import atexit

from fastapi import FastAPI

from autoglm_demo.access import Login
from autoglm_demo.client import BackendClient
from autoglm_demo.inprocess import StreamingASGITransport
from autoglm_demo.qa.recorder import Recorder
from autoglm_demo.qa.store import QaStore, QaStoreError, default_url
from autoglm_demo.server.login_throttle import login_note
from autoglm_demo.settings import Settings
from autoglm_demo.speech.service import Speech
from autoglm_demo.ui.page import mount_page
from autoglm_demo.ui.voice import VoiceInput


def mount_page_on(app: FastAPI, settings: Settings, speech: Speech, login: Login | None) -> None:
    """The page at / of `app`, which serves the embedded API unless a remote one is used.
    `speech`: the process's one recogniser, shared with the embedded API; `login`: the
    page's user and password, if it has one."""
    recorder = open_recorder(settings)  # first: a bad --qa-db fails before the page is built
    # One key setting: the embedded /v1 requires it, and a remote backend gets it. The
    # embedded one is called in-process: the same requests, without a loopback socket.
    client = BackendClient(
        settings.backend_url or settings.local_url + "/v1",
        settings.api_key,
        transport=None if settings.backend_url else StreamingASGITransport(app),
    )
    note = login_note() if settings.page_auth else None
    voice = VoiceInput(client, speech)
    mount_page(app, client, settings, voice, recorder, login, note, settings.local_url)


def open_recorder(settings: Settings) -> Recorder:
    """The QA store (migrated to the current schema) and its writer, flushed at exit."""
    try:
        store = QaStore(settings.qa_db or default_url(settings.cache_dir))
    except QaStoreError as error:
        raise SystemExit(str(error)) from None
    recorder = Recorder(store, store_media=settings.qa_store_media)
    atexit.register(recorder.close)
    return recorder
