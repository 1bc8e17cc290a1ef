"""Accuracy per variant in the QA tab: replay chosen sessions on chosen variants and count
how often each variant's answer hits the marked target (`qa.evaluate` does the asking and
the scoring; this module shows its progress and its results).

Each replay is recorded as a session of its own, as the tab's plain replay is, so every
answer behind a figure can be opened and read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import gradio as gr

from autoglm_demo.client import BackendClient
from autoglm_demo.qa.evaluate import Evaluation, OnStep, Progress, UnknownVariant, evaluate
from autoglm_demo.qa.media import MediaFolder
from autoglm_demo.qa.recorder import Recorder
from autoglm_demo.qa.records import SessionRecord
from autoglm_demo.qa.store import QaStoreError
from autoglm_demo.ui.accuracy_view import (
    accuracy_table,
    disagreements_html,
    progress_text,
    summary_text,
)
from autoglm_demo.ui.i18n import label, request_locale, text
from autoglm_demo.ui.models import ServedModels

T = TypeVar("T")


async def with_progress(
    run: Callable[[OnStep], Awaitable[T]],
) -> AsyncIterator[Progress | T]:
    """Run `run(on_step)`, yielding each step's Progress as it comes, then its result.
    Stopping the iteration (the page's Stop) cancels the run."""
    steps: asyncio.Queue[Progress] = asyncio.Queue()
    task = asyncio.ensure_future(run(steps.put_nowait))
    try:
        while not task.done():
            waiting = asyncio.ensure_future(steps.get())
            await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
            if waiting.done():
                yield waiting.result()
            else:
                waiting.cancel()
        while not steps.empty():
            yield steps.get_nowait()
        yield task.result()
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class AccuracyPanel:
    def __init__(self, recorder: Recorder, client: BackendClient, media: MediaFolder) -> None:
        self.recorder = recorder
        self.store = recorder.store
        self.client = client
        self.media = media

    def choices(
        self, chosen: list[str] | None, served: ServedModels, picked: list[str] | None
    ) -> tuple[Any, Any]:
        """The sessions to measure on (the newest first) and the variants the backend serves."""
        sessions = [
            (f"{s.created_at:%Y-%m-%d %H:%M} · {s.title} · {s.turns} · {s.id[:8]}", s.id)
            for s in self.store.sessions()
        ]
        variants = [choice for family in served.families() for choice in served.variants(family)]
        ids = {session_id for _, session_id in sessions}
        served_ids = {model_id for _, model_id in variants}
        return (
            gr.Dropdown(
                choices=sessions, value=[s for s in chosen or [] if s in ids], multiselect=True
            ),
            gr.CheckboxGroup(choices=variants, value=[v for v in picked or [] if v in served_ids]),
        )

    async def run(
        self,
        session_ids: list[str] | None,
        variants: list[str] | None,
        tolerance: float,
        request: gr.Request,
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Replay the sessions on the variants, showing the progress, then the table and the
        turns where the variants disagree."""
        locale = request_locale(request)
        if not session_ids:
            gr.Warning(text("acc_pick_sessions", locale))
            return
        if not variants:
            gr.Warning(text("acc_pick_variants", locale))
            return
        sessions = await self.sessions(session_ids, locale)
        yield progress_text(None, locale), gr.skip(), ""
        outcome = with_progress(
            lambda on_step: evaluate(
                self.client,
                sessions,
                variants,
                self.media,
                tolerance,
                on_step,
                recorder=self.recorder,
            )
        )
        try:
            async for step in outcome:
                if isinstance(step, Progress):
                    yield progress_text(step, locale), gr.skip(), gr.skip()
                else:
                    yield self._results(step, len(sessions), locale)
        except UnknownVariant as error:
            raise gr.Error(f"{text('acc_failed', locale)}: {error}") from None

    async def sessions(self, session_ids: list[str], locale: str) -> list[SessionRecord]:
        """The chosen sessions, read off the event loop; a session gone is said so."""
        try:
            return [await asyncio.to_thread(self.store.session, i) for i in session_ids]
        except QaStoreError as error:
            raise gr.Error(f"{text('qa_open_failed', locale)}: {error}") from None

    @staticmethod
    def _results(evaluation: Evaluation, sessions: int, locale: str) -> tuple[Any, ...]:
        return (
            summary_text(evaluation, sessions, locale),
            gr.Dataframe(accuracy_table(evaluation, locale), visible=True),
            disagreements_html(evaluation, locale),
        )


def build_accuracy_panel(
    panel: AccuracyPanel, served: gr.State, tolerance: gr.Slider
) -> tuple[gr.Dropdown, gr.CheckboxGroup, gr.events.Dependency]:
    """The accuracy controls and results; returns the session and variant pickers (which
    the tab refills when its list changes) and the run (whose replays are new sessions)."""
    gr.Markdown("### " + label("acc_title"))
    gr.Markdown(label("acc_intro"))
    with gr.Row():
        sessions = gr.Dropdown(
            label=label("acc_sessions"),
            choices=[],
            multiselect=True,
            scale=3,
            elem_id="acc-sessions",
        )
        variants = gr.CheckboxGroup(
            label=label("acc_variants"), choices=[], scale=2, elem_id="acc-variants"
        )
    tolerance.render()
    with gr.Row():
        start = gr.Button(label("acc_run"), variant="primary", elem_id="acc-run")
        stop = gr.Button(label("acc_stop"), variant="stop", elem_id="acc-stop")
    status = gr.Markdown(elem_id="acc-status")
    table = gr.Dataframe(
        label=label("acc_table"), interactive=False, elem_id="acc-table", wrap=True, visible=False
    )  # shown with the first results: an empty Dataframe shows placeholder columns
    disagreements = gr.HTML(elem_id="acc-disagreements-box")
    running = start.click(
        panel.run, [sessions, variants, tolerance], [status, table, disagreements]
    )
    stop.click(None, None, None, cancels=[running])
    return sessions, variants, running
