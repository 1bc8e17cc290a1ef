"""Marking the right answer of a recorded turn, in the QA tab's opened session.

The tester picks a turn, the expected action and the shape of its place, then clicks on
the screenshot (`marking.Draft` says what the clicks make); the screenshot is redrawn
after each click with the model's action and the mark so far. Save stores the mark with
the turn (`QaStore.set_target`), and the turn shows ✓ or ✗ for its recorded answer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
from pathlib import Path
from typing import Any

import gradio as gr

from autoglm_demo.actions import check_answer
from autoglm_demo.qa.media import MediaFolder
from autoglm_demo.qa.records import RecordStatus, TurnRecord, title_of
from autoglm_demo.qa.store import QaStore
from autoglm_demo.scoring import DEFAULT_TOLERANCE, Target
from autoglm_demo.ui.i18n import label, request_locale, text
from autoglm_demo.ui.marking import (
    MARKABLE_ACTIONS,
    Draft,
    Shape,
    draft_of,
    missing,
    score_recorded,
    to_relative,
)
from autoglm_demo.ui.overlay import save_overlay
from autoglm_demo.ui.qa_view import legend_html, score_html


class MarkPanel:
    def __init__(self, store: QaStore, media: MediaFolder, folder: Path) -> None:
        self.store = store
        self.media = media
        self.folder = folder  # drawn screenshots; inside the upload folder, so they are served

    def turns(self, session_id: str | None, request: gr.Request, current: str | None = None) -> Any:
        """The opened session's turns to pick from, `current` staying picked if it is one of
        them (a mark saved: its label changes), else the first with a screenshot."""
        if not session_id:
            return gr.Dropdown(choices=[], value=None)
        locale = request_locale(request)
        records = self.store.session(session_id).turns
        choices = [(_turn_label(record, locale), record.id) for record in records]
        first = next((r.id for r in records if r.images), records[0].id if records else None)
        shown = current if current in {record.id for record in records} else first
        return gr.Dropdown(choices=choices, value=shown)

    def show(
        self, session_id: str | None, turn_id: str | None, tolerance: float, request: gr.Request
    ) -> tuple[Any, ...]:
        """A turn picked: its screenshot with the answer and its mark, and the mark's fields."""
        locale = request_locale(request)
        record = self._record(session_id, turn_id)
        if record is None:
            return None, gr.skip(), gr.skip(), gr.skip(), Draft(), "", ""
        draft = draft_of(record.target)
        text_value = record.target.text if record.target else ""
        return (
            self._drawn(record, record.target),
            draft.action,
            draft.shape.value,
            text_value or "",
            draft,
            self._hint(draft, text_value, record.target is not None, locale)
            if self.media.screenshot(record)
            else text("mark_no_screenshot", locale),
            self._score(record, tolerance, locale),
        )

    def restart(
        self,
        session_id: str | None,
        turn_id: str | None,
        action: str,
        shape: str,
        text_value: str,
        request: gr.Request,
    ) -> tuple[Any, ...]:
        """The action or shape changed: a new mark begins, with no clicks yet."""
        draft = Draft(action or "Tap", Shape(shape or Shape.BOX.value))
        record = self._record(session_id, turn_id)
        image = self._drawn(record, draft.preview(text_value)) if record else None
        return draft, image, self._hint(draft, text_value, False, request_locale(request))

    def click(
        self,
        session_id: str | None,
        turn_id: str | None,
        draft: Draft,
        text_value: str,
        selected: gr.SelectData,
        request: gr.Request,
    ) -> tuple[Any, ...]:
        """A click on the screenshot: one more corner or point of the mark."""
        locale = request_locale(request)
        record = self._record(session_id, turn_id)
        size = self.media.screen_size(record) if record else None
        if record is None or size is None:
            gr.Warning(text("mark_no_screenshot", locale))
            return gr.skip(), gr.skip(), gr.skip()
        if not draft.places:
            gr.Warning(text("mark_no_place", locale))
            return gr.skip(), gr.skip(), gr.skip()
        x, y = selected.index
        draft = draft.click(to_relative((x, y), size))
        image = self._drawn(record, draft.preview(text_value))
        return draft, image, self._hint(draft, text_value, False, locale)

    def save(
        self,
        session_id: str | None,
        turn_id: str | None,
        draft: Draft,
        text_value: str,
        tolerance: float,
        request: gr.Request,
    ) -> tuple[Any, ...]:
        """Store the mark with the turn; refused, with what is missing, while incomplete."""
        locale = request_locale(request)
        record = self._record(session_id, turn_id)
        if record is None:
            gr.Warning(text("mark_pick_turn", locale))
            return gr.skip(), gr.skip(), gr.skip()
        target = draft.target(text_value)
        if target is None:
            gr.Warning(self._hint(draft, text_value, False, locale))
            return gr.skip(), gr.skip(), gr.skip()
        return self._stored(record, target, tolerance, locale)

    def clear(
        self, session_id: str | None, turn_id: str | None, tolerance: float, request: gr.Request
    ) -> tuple[Any, ...]:
        locale = request_locale(request)
        record = self._record(session_id, turn_id)
        if record is None:
            gr.Warning(text("mark_pick_turn", locale))
            return gr.skip(), gr.skip(), gr.skip()
        return self._stored(record, None, tolerance, locale)

    def rescore(
        self, session_id: str | None, turn_id: str | None, tolerance: float, request: gr.Request
    ) -> str:
        """The picked turn's score again, under another tolerance."""
        record = self._record(session_id, turn_id)
        return self._score(record, tolerance, request_locale(request)) if record else ""

    def _stored(
        self, record: TurnRecord, target: Target | None, tolerance: float, locale: str
    ) -> tuple[Any, ...]:
        self.store.set_target(record.id, target)
        gr.Info(text("mark_saved" if target else "mark_cleared", locale))
        marked = dataclasses.replace(record, target=target)
        return self._drawn(marked, target), self._score(marked, tolerance, locale), draft_of(target)

    def _record(self, session_id: str | None, turn_id: str | None) -> TurnRecord | None:
        if not session_id or not turn_id:
            return None
        turns = self.store.session(session_id).turns
        return next((record for record in turns if record.id == turn_id), None)

    def _drawn(self, record: TurnRecord, target: Target | None) -> str | None:
        return drawn_turn(self.media, record, record.answer, target, self.folder)

    def _score(self, record: TurnRecord, tolerance: float, locale: str) -> str:
        if record.status is RecordStatus.PENDING:  # an uploaded step, not answered yet
            return f"<p><i>{html.escape(text('mark_pending', locale))}</i></p>" + legend_html(
                locale
            )
        score = score_recorded(record, self.media, tolerance or DEFAULT_TOLERANCE)
        return score_html(score, locale) + legend_html(locale)

    @staticmethod
    def _hint(draft: Draft, text_value: str | None, stored: bool, locale: str) -> str:
        if stored:
            return text("mark_stored", locale)
        needs = missing(draft, text_value)
        if not needs:
            return text("mark_ready", locale)
        return ": ".join(text(key, locale) for key in needs)


def drawn_turn(
    media: MediaFolder, record: TurnRecord, answer: str, target: Target | None, folder: Path
) -> str | None:
    """The turn's screenshot with `answer`'s action and `target` drawn on it, or None when
    its screenshot was not stored. Named by what is drawn, so that drawing the same again
    (clicking back and forth, a strip shown twice) reuses the file made before."""
    screenshot = media.screenshot(record)
    if screenshot is None:
        return None
    verdict = check_answer(answer)
    actions = [verdict.action] if verdict.action else []
    key = hashlib.sha256(repr((screenshot, actions, target)).encode()).hexdigest()[:32]
    folder.mkdir(parents=True, exist_ok=True)
    return str(save_overlay(screenshot, actions, folder / f"drawn-{key}.png", target))


def _turn_label(record: TurnRecord, locale: str) -> str:
    """#2 · the question · marked: the turn's place in the session and whether it has a mark."""
    parts = [f"#{record.seq + 1}", title_of(record.text, 40) or "…"]
    if record.target:
        parts.append(text("mark_marked", locale))
    return " · ".join(parts)


def build_mark_panel(
    panel: MarkPanel, opened: gr.State, tolerance: gr.Slider
) -> tuple[gr.Dropdown, list[gr.events.Dependency]]:
    """The marking controls under the opened session; returns the turn picker (filled when a
    session opens) and the events after which the session's scores change."""
    gr.Markdown("### " + label("mark_title"))
    gr.Markdown(label("mark_intro"))
    with gr.Row():
        with gr.Column(scale=3):
            image = gr.Image(
                label=label("mark_image"),
                interactive=False,
                type="filepath",
                height=560,
                buttons=[],
                elem_id="mark-image",
            )
        with gr.Column(scale=2):
            turn = gr.Dropdown(label=label("mark_turn"), choices=[], elem_id="mark-turn")
            action = gr.Dropdown(
                label=label("mark_action"),
                choices=list(MARKABLE_ACTIONS),
                value="Tap",
                elem_id="mark-action",
            )
            shape = gr.Radio(
                label=label("mark_shape"),
                choices=[
                    (label("mark_box"), Shape.BOX.value),
                    (label("mark_point"), Shape.POINT.value),
                ],
                value=Shape.BOX.value,
                elem_id="mark-shape",
            )
            text_box = gr.Textbox(label=label("mark_text"), elem_id="mark-text")
            hint = gr.Markdown(elem_id="mark-hint")
            with gr.Row():
                save = gr.Button(label("mark_save"), variant="primary", elem_id="mark-save")
                clear = gr.Button(label("mark_clear"), elem_id="mark-clear")
            score = gr.HTML(elem_id="mark-score")
    draft = gr.State(Draft())
    turn.change(
        panel.show,
        [opened, turn, tolerance],
        [image, action, shape, text_box, draft, hint, score],
    )
    restart = [opened, turn, action, shape, text_box]
    action.input(panel.restart, restart, [draft, image, hint])
    shape.input(panel.restart, restart, [draft, image, hint])
    image.select(panel.click, [opened, turn, draft, text_box], [draft, image, hint])
    marked = [image, score, draft]
    saved = save.click(panel.save, [opened, turn, draft, text_box, tolerance], marked)
    cleared = clear.click(panel.clear, [opened, turn, tolerance], marked)
    rescored = tolerance.release(panel.rescore, [opened, turn, tolerance], [score])
    for event in (saved, cleared):  # the picked turn's label says whether it is marked
        event.then(panel.turns, [opened, turn], [turn])
    return turn, [saved, cleared, rescored]
