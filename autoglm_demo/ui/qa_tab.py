"""The QA tab: find, read, export, import and replay recorded sessions (rating answers in
the Chat tab is `feedback.py`).

As in `chat_tab.py`, the methods of `QaPage` only adapt between components and the logic in
`autoglm_demo.qa`. Database calls are blocking; Gradio runs the plain (not async) methods
on worker threads, and the async replay hands them to threads itself.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import gradio as gr

from autoglm_demo.answering import AnswerRequest
from autoglm_demo.client import BackendClient
from autoglm_demo.conversation import Turn
from autoglm_demo.qa.episode_export import NotAnEpisode, write_episode_set
from autoglm_demo.qa.export import InvalidExport, open_export, write_exports
from autoglm_demo.qa.media import MediaFolder
from autoglm_demo.qa.recorder import QaSession, Recorder
from autoglm_demo.qa.records import (
    RatingFilter,
    SessionFilter,
    SessionRecord,
    TurnRecord,
    new_id,
)
from autoglm_demo.qa.replay import pair, replay
from autoglm_demo.qa.store import QaStoreError, SessionNotFound
from autoglm_demo.scoring import DEFAULT_TOLERANCE
from autoglm_demo.ui.answer_settings import AnswerSettings
from autoglm_demo.ui.i18n import label, request_locale, text
from autoglm_demo.ui.models import ServedModels
from autoglm_demo.ui.qa_accuracy import AccuracyPanel, build_accuracy_panel
from autoglm_demo.ui.qa_episodes import EpisodePanel, build_episode_panel
from autoglm_demo.ui.qa_marks import MarkPanel, build_mark_panel
from autoglm_demo.ui.qa_view import comparison_html, session_header, session_table, transcript

log = logging.getLogger(__name__)


def _any() -> tuple[Any, str]:
    """The filter choice that filters nothing out."""
    return label("qa_any"), ""


class QaPage:
    def __init__(self, recorder: Recorder, client: BackendClient, files: Path) -> None:
        self.recorder = recorder
        self.store = recorder.store
        self.client = client
        self.media = MediaFolder(self.store, files / "qa-media")
        self.exports = files / "qa-exports"
        self.marks = MarkPanel(self.store, self.media, files / "qa-overlays")
        self.accuracy = AccuracyPanel(recorder, client, self.media)
        self.episodes = EpisodePanel(recorder, client, self.media, files / "qa-overlays")

    # The QA tab.

    def search(
        self,
        since: str | None,
        until: str | None,
        model: str | None,
        precision: str | None,
        rating: str | None,
        served: ServedModels,
        current_model: str | None,
        request: gr.Request,
    ) -> tuple[Any, ...]:
        """The sessions that match the filters, the filters' choices, and the replay targets."""
        locale = request_locale(request)
        try:
            where = SessionFilter(
                since=_day(since),
                until=_day(until),
                model=model or None,
                precision=precision or None,
                rating=RatingFilter(rating) if rating else None,
            )
        except ValueError:
            gr.Warning(text("qa_bad_date", locale))
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        self.recorder.flush()  # so that what was just answered or rated is listed
        try:
            models, precisions = self.store.facets()
            found = self.store.sessions(where)
        except Exception as error:
            raise gr.Error(failure("qa_search_failed", error, locale)) from None
        targets = [choice for family in served.families() for choice in served.variants(family)]
        target_ids = [model_id for _, model_id in targets]
        return (
            session_table(found, locale),
            gr.Dropdown(choices=[_any(), *[(m, m) for m in models]], value=model or ""),
            gr.Dropdown(choices=[_any(), *[(p, p) for p in precisions]], value=precision or ""),
            gr.Dropdown(
                choices=targets, value=current_model if current_model in target_ids else None
            ),
        )

    def open(
        self,
        selected: gr.SelectData,
        request: gr.Request,
        tolerance: float = DEFAULT_TOLERANCE,
    ) -> tuple[Any, ...]:
        """A row of the session list clicked: the session, read only, with ✓ or ✗ on the
        answers that have a mark (scored with the tab's `tolerance`, its one input)."""
        session_id = str(selected.row_value[-1])
        return (session_id, *self.show(session_id, tolerance, request))

    def show(
        self, session_id: str | None, tolerance: float, request: gr.Request
    ) -> tuple[Any, ...]:
        """The opened session's header, transcript and earlier replay; the export emptied."""
        locale = request_locale(request)
        if not session_id:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            session = self.store.session(session_id)
            return (
                session_header(session, locale),
                transcript(session, self.media, locale, tolerance),
                self._earlier_replay(session, locale),
                None,
            )
        except Exception as error:
            raise gr.Error(failure("qa_open_failed", error, locale)) from None

    def reread(
        self, session_id: str | None, tolerance: float, request: gr.Request
    ) -> list[Any] | None:
        """The opened session's transcript again, after a mark changed its ✓ and ✗."""
        if not session_id:
            return gr.skip()
        locale = request_locale(request)
        try:
            return transcript(self.store.session(session_id), self.media, locale, tolerance)
        except Exception as error:
            raise gr.Error(failure("qa_open_failed", error, locale)) from None

    def export(self, session_id: str | None, request: gr.Request) -> list[str] | None:
        locale = request_locale(request)
        if not session_id:
            gr.Warning(text("qa_open_first", locale))
            return None
        try:
            session = self.store.session(session_id)
            files = write_exports(session, self.exports / new_id(), self.store.blob)
        except Exception as error:
            raise gr.Error(failure("qa_export_failed", error, locale)) from None
        return [str(path) for path in files]

    def export_episodes(
        self, session_id: str | None, chosen: list[str] | None, request: gr.Request
    ) -> list[str] | None:
        """The sessions chosen for the accuracy run (or else the opened one) as one episode
        set zip; a session that is no marked episode is said so, and nothing is written."""
        locale = request_locale(request)
        session_ids = list(chosen or []) or ([session_id] if session_id else [])
        if not session_ids:
            gr.Warning(text("qa_open_first", locale))
            return None
        folder = self.exports / new_id()
        try:
            sessions = [self.store.session(one) for one in session_ids]
            folder.mkdir(parents=True)
            target = folder / f"episodes-{len(sessions)}-{sessions[0].id[:8]}.zip"
            write_episode_set(sessions, self.store.blob, target)
        except (NotAnEpisode, SessionNotFound) as error:
            gr.Warning(failure("qa_export_episodes_failed", error, locale))
            return None
        except Exception as error:
            raise gr.Error(failure("qa_export_episodes_failed", error, locale)) from None
        return [str(target)]

    def import_file(self, path: str | None, request: gr.Request) -> None:
        """An uploaded export into the database; the upload box is emptied (None) either way."""
        if not path:
            return None
        locale = request_locale(request)
        try:
            with open_export(Path(path)) as imported:
                self.store.add_session(imported.session, imported.blobs())
        except Exception as error:
            gr.Warning(failure("qa_import_failed", error, locale))
            return None
        session = imported.session
        gr.Info(
            html.escape(
                f"{text('qa_imported', locale)}: {session.title or session.id} "
                f"({len(session.turns)})"
            )
        )
        return None

    async def replay(
        self, session_id: str | None, target: str | None, served: ServedModels, request: gr.Request
    ) -> AsyncIterator[str]:
        """Re-run the opened session on `target`, showing each comparison as it comes; the
        replay is recorded as a session of its own."""
        locale = request_locale(request)
        if not session_id:
            gr.Warning(text("qa_open_first", locale))
            return
        if not target:
            gr.Warning(text("qa_no_target", locale))
            return
        try:
            original = await asyncio.to_thread(self.store.session, session_id)
        except Exception as error:
            raise gr.Error(failure("qa_open_failed", error, locale)) from None
        # Each replayed turn keeps its own recorded system prompt and options.
        template = served.answer_request(target)
        recording = QaSession(title=original.title, replay_of=original.id)

        def record(old: TurnRecord, request: AnswerRequest, turns: list[Turn]) -> None:
            self.recorder.record(recording, turns, request, replay_of=old.id)

        before, after = _answered_by(original), _variant(target, template.precision)
        comparisons = []
        async for comparison in replay(self.client, original, template, self.media, record):
            comparisons.append(comparison)
            yield comparison_html(comparisons, before, after, locale)

    def _earlier_replay(self, session: SessionRecord, locale: str) -> str:
        """For a session that replayed another: its comparison with the original."""
        if not session.replay_of:
            return ""
        try:
            original = self.store.session(session.replay_of)
        except SessionNotFound:  # imported without its original
            return ""
        return comparison_html(
            pair(original, session), _answered_by(original), _answered_by(session), locale
        )


def failure(action: str, error: Exception, locale: str) -> str:
    """What a person is shown when `action` (a text key) failed. A bad file or a session
    already there is theirs to fix, so its reason is shown. Anything else (the database, the
    disk) is told in plain words, and its details go to the server log only: they hold SQL
    with its parameters and server paths. Toasts render HTML, so the text is escaped."""
    if isinstance(error, (InvalidExport, QaStoreError, NotAnEpisode)):
        shown = f"{text(action, locale)}: {error}"
    else:
        log.error("QA tab: %s failed", action, exc_info=error)
        shown = f"{text(action, locale)}. {text('qa_try_again', locale)}"
    return html.escape(shown)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value.strip()[:10]) if value and value.strip() else None


def _variant(model: str, precision: str | None) -> str:
    return f"{model} ({precision})" if precision else model


def _answered_by(session: SessionRecord) -> str:
    variants = dict.fromkeys(_variant(turn.model, turn.precision) for turn in session.turns)
    return ", ".join(variants)


def build_qa_tab(
    qa: QaPage, tab: gr.Tab, served: gr.State, current_model: gr.Radio, answer: AnswerSettings
) -> None:
    """The QA tab's contents; call inside `tab`. An episode's dry run asks with `answer`,
    the Chat tab's answer settings."""
    gr.Markdown(label("qa_intro"))
    with gr.Row():
        since = gr.DateTime(
            label=label("qa_since"), include_time=False, type="string", elem_id="qa-since"
        )
        until = gr.DateTime(
            label=label("qa_until"), include_time=False, type="string", elem_id="qa-until"
        )
        model = gr.Dropdown(label=label("qa_model"), choices=[_any()], value="", elem_id="qa-model")
        precision = gr.Dropdown(
            label=label("qa_precision"), choices=[_any()], value="", elem_id="qa-precision"
        )
        rating = gr.Dropdown(
            label=label("qa_rating"),
            choices=[
                _any(),
                (label("qa_has_good"), RatingFilter.GOOD.value),
                (label("qa_has_bad"), RatingFilter.BAD.value),
                (label("qa_unrated"), RatingFilter.UNRATED.value),
            ],
            value="",
            elem_id="qa-rating",
        )
        search = gr.Button(label("qa_search"), variant="primary", elem_id="qa-search")
    sessions = gr.Dataframe(
        label=label("qa_sessions"),
        interactive=False,
        elem_id="qa-sessions",
        max_height=360,
        wrap=True,
    )
    opened = gr.State(None)
    header = gr.Markdown(elem_id="qa-session-header")
    shown = gr.Chatbot(
        label=label("qa_transcript"), elem_id="qa-transcript", height=480, buttons=["copy"]
    )
    # One tolerance scores the marks and the accuracy below; shown with the accuracy.
    tolerance = gr.Slider(
        0.01,
        0.2,
        value=DEFAULT_TOLERANCE,
        step=0.01,
        label=label("tolerance"),
        info=label("tolerance_info"),
        render=False,
        elem_id="qa-tolerance",
    )
    turn, marked = build_mark_panel(qa.marks, opened, tolerance)
    with gr.Row():
        export = gr.Button(label("qa_export"), elem_id="qa-export")
        export_episodes = gr.Button(label("qa_export_episodes"), elem_id="qa-export-episodes")
    exported = gr.File(
        label=label("qa_exported"), file_count="multiple", interactive=False, elem_id="qa-exported"
    )
    with gr.Row():
        target = gr.Dropdown(
            label=label("qa_replay_target"), choices=[], scale=3, elem_id="qa-replay-target"
        )
        start = gr.Button(label("qa_replay"), variant="primary", scale=1, elem_id="qa-replay")
        stop = gr.Button(label("qa_stop_replay"), variant="stop", scale=1, elem_id="qa-stop-replay")
    comparison = gr.HTML(elem_id="qa-comparison")
    acc_sessions, acc_variants, measuring = build_accuracy_panel(qa.accuracy, served, tolerance)
    acc_pickers = [acc_sessions, acc_variants]
    creating, dry_running = build_episode_panel(qa.episodes, opened, target, tolerance, answer)
    upload = gr.File(
        label=label("qa_import"),
        file_types=[".jsonl", ".zip"],
        type="filepath",
        elem_id="qa-import",
    )

    search_inputs = [since, until, model, precision, rating, served, current_model]
    search_outputs = [sessions, model, precision, target]
    listed = (qa.search, search_inputs, search_outputs)
    # The sessions to measure on follow the list; replays and imports add sessions to both.
    measurable = (qa.accuracy.choices, [acc_sessions, served, acc_variants], acc_pickers)
    tab.select(*listed).then(*measurable)
    search.click(*listed).then(*measurable)
    opening = sessions.select(qa.open, [tolerance], [opened, header, shown, comparison, exported])
    opening.then(qa.marks.turns, [opened], [turn])
    # A new episode opens at once, for its steps to be marked.
    creating.then(qa.show, [opened, tolerance], [header, shown, comparison, exported]).then(
        qa.marks.turns, [opened], [turn]
    ).then(*listed).then(*measurable)
    dry_running.then(*listed).then(*measurable)
    for event in marked:  # a mark saved or removed, or the tolerance changed: ✓ and ✗ again
        event.then(qa.reread, [opened, tolerance], [shown])
    export.click(qa.export, [opened], [exported])
    export_episodes.click(qa.export_episodes, [opened, acc_sessions], [exported])
    replaying = start.click(qa.replay, [opened, target, served], [comparison])
    replaying.then(*listed).then(*measurable)
    stop.click(None, None, None, cancels=[replaying])
    measuring.then(*listed).then(*measurable)
    upload.upload(qa.import_file, [upload], [upload]).then(*listed).then(*measurable)
