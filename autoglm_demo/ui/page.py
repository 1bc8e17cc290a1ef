"""The whole page: its tabs, the events between them, and its mounting on the app."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from fastapi import FastAPI

import autoglm_demo
from autoglm_demo.client import BackendClient
from autoglm_demo.qa.recorder import Recorder
from autoglm_demo.settings import Settings
from autoglm_demo.ui.api import PublicApi, is_public, keep_only_public
from autoglm_demo.ui.call_files import CallFiles
from autoglm_demo.ui.chat_tab import ChatTab
from autoglm_demo.ui.compare_tab import CompareTab
from autoglm_demo.ui.event_stream import event_stream_middleware
from autoglm_demo.ui.file_holds import HOLDS
from autoglm_demo.ui.i18n import I18N, label
from autoglm_demo.ui.mcp import call_tools_on_loopback
from autoglm_demo.ui.models import ServedModels
from autoglm_demo.ui.qa_tab import QaPage, build_qa_tab
from autoglm_demo.ui.upload_sweep import sweeping
from autoglm_demo.ui.uploads import (
    check_file_access,
    end_sessions_when_closed,
    never_served,
    private_upload_dir,
)
from autoglm_demo.ui.voice import VoiceInput

CSS = """
#answer-controls button { min-width: 0; }
.backend-status { font-size: 0.85em; opacity: 0.8; }
"""


def mount_page(
    app: FastAPI,
    client: BackendClient,
    settings: Settings,
    voice: VoiceInput,
    recorder: Recorder,
    login: tuple[str, str] | None,
    login_message: str | None = None,
    page_url: str = "",
) -> None:
    """The page at / of `app`, talking to its backend through `client`, with Gradio's file
    checks on: uploads in, nothing else out. `page_url`: where this process serves the
    page on loopback, for the MCP server's own calls (--mcp)."""
    private_upload_dir()  # before the page is built: Gradio reads it then
    call_files = CallFiles()
    demo = build_page(client, settings, voice, recorder, call_files)
    end_sessions_when_closed(demo)
    # Default-deny, once every event exists: only `@public` endpoints are an API.
    keep_only_public(demo)
    gr.mount_gradio_app(
        app,
        demo,
        path="/",
        i18n=I18N,
        css=CSS,
        theme=gr.themes.Soft(),
        footer_links=["api"],
        auth=login,
        auth_message=login_message,
        # An unexpected exception's text (a refused path lists the blocked folders) goes to
        # the log, not to the browser; gr.Error and gr.Warning messages are still shown.
        show_error=False,
        max_file_size=settings.max_upload_mb * 2**20,
        blocked_paths=never_served(
            Path(autoglm_demo.__file__).parent, Path.cwd(), settings.cache_dir
        ),
        mcp_server=settings.mcp,
        app_kwargs={"middleware": [event_stream_middleware(demo)], "lifespan": sweeping},
    )
    check_file_access(demo)
    # Built: the files in the upload folder now (cached examples) are the page's own.
    HOLDS.watch_page(demo, private_upload_dir())
    call_files.watch(demo, is_public)
    if settings.mcp:
        call_tools_on_loopback(demo, page_url, login, settings.api_key)


def build_page(
    client: BackendClient,
    settings: Settings,
    voice: VoiceInput,
    recorder: Recorder,
    call_files: CallFiles,
) -> gr.Blocks:
    # Overlays go to the upload folder, which Gradio serves files from without extra setup.
    overlay_dir = private_upload_dir() / "overlays"
    export_dir = private_upload_dir() / "exports"
    chat = ChatTab(client, settings.primary_model_name, voice, recorder, overlay_dir, export_dir)
    compare = CompareTab(client, overlay_dir)
    qa_page = QaPage(recorder, client, private_upload_dir())
    # An API call's overlay has a folder and a lifetime of its own (`call_files`).
    api_overlay_dir = private_upload_dir() / "api-overlays"
    api = PublicApi(
        client, settings.primary_model_name, voice, api_overlay_dir, settings.api_key, call_files
    )
    with gr.Blocks(title="AutoGLM-Phone-9B demo") as demo:
        served = gr.State(ServedModels())
        gr.Markdown("# " + label("title"), elem_id="title")
        gr.Markdown(label("subtitle"))
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab(label("tab_chat"), id="chat"):
                chat.build(served, settings)
            with gr.Tab(label("tab_compare"), id="compare"):
                compare.build(chat.inputs.settings)
            with gr.Tab(label("tab_qa"), id="qa") as qa_tab:
                build_qa_tab(qa_page, qa_tab, served, chat.models.precision, chat.inputs.settings)
        for listing in chat.list_models(demo):
            listing.then(compare.show_choices, [served], compare.choice_outputs)
        api.build()
    return demo
