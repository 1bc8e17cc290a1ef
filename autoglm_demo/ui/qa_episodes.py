"""Multi-step episodes in the QA tab: make one, and dry-run it on a variant.

An episode is made from screenshots uploaded together with their task
(`QaStore.create_episode`), or from a session recorded turn by turn in the Chat tab's
phone-agent mode, named an episode with its task (`QaStore.set_task`). Its steps are
marked like any turn (`qa_marks.py`). A dry run asks the model step by step as the
official agent does (`qa.evaluate`, through `qa.replay`) and shows the steps as a strip:
each screenshot with the answer and the mark drawn on it, ✓ or ✗, and the reasoning.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import gradio as gr

from autoglm_demo.client import BackendClient, ChatOptions
from autoglm_demo.qa.evaluate import Evaluation, Progress, TurnScore, evaluate
from autoglm_demo.qa.media import MediaFolder
from autoglm_demo.qa.recorder import Recorder
from autoglm_demo.qa.records import SessionRecord, TurnRecord
from autoglm_demo.qa.store import QaStoreError
from autoglm_demo.ui.answer_settings import AnswerSettings, Values
from autoglm_demo.ui.i18n import label, request_locale, text
from autoglm_demo.ui.qa_accuracy import with_progress
from autoglm_demo.ui.qa_marks import drawn_turn
from autoglm_demo.ui.qa_view import legend_html, score_text

_CELL = "vertical-align:top;padding:6px;border-bottom:1px solid #ddd;white-space:pre-wrap"
_DIGITS = re.compile(r"(\d+)")


def step_order(path: str) -> list[Any]:
    """Files in the order of their names, numbers by value: step-2 before step-10."""
    parts = _DIGITS.split(Path(path).name.casefold())
    return [int(part) if part.isdigit() else part for part in parts]


class EpisodePanel:
    def __init__(
        self, recorder: Recorder, client: BackendClient, media: MediaFolder, folder: Path
    ) -> None:
        self.recorder = recorder
        self.store = recorder.store
        self.client = client
        self.media = media
        self.folder = folder  # the strip's drawn screenshots; served from the upload folder

    def create(self, task: str, files: list[str] | None, request: gr.Request) -> tuple[Any, ...]:
        """A new episode from uploaded screenshots, opened for marking its steps."""
        locale = request_locale(request)
        if not (task or "").strip():
            gr.Warning(text("ep_need_task", locale))
            return gr.skip(), gr.skip(), gr.skip()
        if not files:
            gr.Warning(text("ep_need_screens", locale))
            return gr.skip(), gr.skip(), gr.skip()
        ordered = sorted(files, key=step_order)
        screenshots = [(Path(path).name, Path(path).read_bytes()) for path in ordered]
        try:
            session = self.store.create_episode(task, screenshots, [None] * len(screenshots))
        except QaStoreError as error:
            gr.Warning(html.escape(f"{text('ep_create_failed', locale)}: {error}"))
            return gr.skip(), gr.skip(), gr.skip()
        gr.Info(text("ep_created", locale).format(steps=len(session.turns)))
        return session.id, None, ""

    def name_episode(self, session_id: str | None, task: str, request: gr.Request) -> None:
        """The opened session, recorded turn by turn, becomes an episode of `task`."""
        locale = request_locale(request)
        if not session_id:
            gr.Warning(text("qa_open_first", locale))
            return
        if not (task or "").strip():
            gr.Warning(text("ep_need_task", locale))
            return
        self.store.set_task(session_id, task.strip())
        gr.Info(text("ep_named", locale))

    async def dry_run(
        self,
        session_id: str | None,
        variant: str | None,
        tolerance: float,
        options: ChatOptions,
        request: gr.Request,
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Ask `variant` the opened episode step by step, showing each step as it is scored,
        then the whole strip with each step's reasoning. Every step is asked with `options`,
        the answer settings the tester chose (the Chat tab's): as the chat would ask, so a
        tester whose model has a small context can shorten the answers to fit it."""
        locale = request_locale(request)
        episode = await self._episode(session_id, locale)
        if episode is None:
            return
        if not variant:
            gr.Warning(text("qa_no_target", locale))
            return
        scores: dict[str, TurnScore] = {}
        yield text("acc_starting", locale), [], ""
        run = with_progress(
            lambda on_step: evaluate(
                self.client,
                [episode],
                [variant],
                self.media,
                tolerance,
                on_step,
                recorder=self.recorder,
                options=options,
            )
        )
        async for step in run:
            if isinstance(step, Progress):
                if step.score:
                    scores[step.score.turn_id] = step.score
                status = text("ep_progress", locale).format(done=step.done, total=step.total)
                steps = episode.turns[: step.done]
                yield status, await self._strip(steps, scores, {}), gr.skip()
            else:
                yield await self._finished(episode, step, locale)

    async def _episode(self, session_id: str | None, locale: str) -> SessionRecord | None:
        if not session_id:
            gr.Warning(text("qa_open_first", locale))
            return None
        episode = await asyncio.to_thread(self.store.session, session_id)
        if not episode.is_episode:
            gr.Warning(text("ep_not_episode", locale))
            return None
        return episode

    async def _finished(
        self, episode: SessionRecord, evaluation: Evaluation, locale: str
    ) -> tuple[Any, ...]:
        """The strip again, with what the recorded replay holds: each step's reasoning."""
        [variant] = evaluation.variants
        scores = {score.turn_id: score for score in evaluation.scores}
        answered = await asyncio.to_thread(self._replayed, evaluation, episode, variant)
        tally = evaluation.tallies[variant]
        summary = text("ep_summary", locale).format(
            hits=tally.hits, scored=tally.total, steps=len(episode.turns), variant=variant
        )
        strip = await self._strip(episode.turns, scores, answered)
        return summary, strip, steps_html(episode.turns, scores, answered, locale)

    def _replayed(
        self, evaluation: Evaluation, episode: SessionRecord, variant: str
    ) -> dict[str, TurnRecord]:
        """The replay's recorded turns, by the episode step they answered."""
        replay_id = evaluation.replays.get((variant, episode.id))
        if replay_id is None:
            return {}
        self.recorder.flush()
        return {
            turn.replay_of: turn for turn in self.store.session(replay_id).turns if turn.replay_of
        }

    async def _strip(
        self,
        steps: tuple[TurnRecord, ...],
        scores: dict[str, TurnScore],
        answered: dict[str, TurnRecord],
    ) -> list[tuple[str, str]]:
        return await asyncio.to_thread(self._draw_strip, steps, scores, answered)

    def _draw_strip(
        self,
        steps: tuple[TurnRecord, ...],
        scores: dict[str, TurnScore],
        answered: dict[str, TurnRecord],
    ) -> list[tuple[str, str]]:
        """The gallery's value: each step's screenshot with its answer and mark, captioned."""
        strip = []
        for step in steps:
            answer = _answer_of(step, scores, answered)
            drawn = drawn_turn(self.media, step, answer, step.target, self.folder)
            if drawn:
                strip.append((drawn, _caption(step, scores.get(step.id), answer)))
        return strip


def _answer_of(
    step: TurnRecord, scores: dict[str, TurnScore], answered: dict[str, TurnRecord]
) -> str:
    if step.id in answered:
        return answered[step.id].answer
    score = scores.get(step.id)
    return score.answer if score else ""


def _caption(step: TurnRecord, score: TurnScore | None, answer: str) -> str:
    """Plain text (the gallery shows captions as text): the step, its verdict, its answer."""
    verdict = "–" if score is None else ("✓" if score.score.hit else "✗")
    return f"{step.seq + 1}. {verdict} {answer}".strip()


def steps_html(
    steps: tuple[TurnRecord, ...],
    scores: dict[str, TurnScore],
    answered: dict[str, TurnRecord],
    locale: str,
) -> str:
    """Each step's verdict, answer and reasoning, below the strip."""
    head = "".join(
        f"<th style='{_CELL}'>{html.escape(text(key, locale))}</th>"
        for key in ("ep_col_step", "ep_col_verdict", "ep_col_answer", "reasoning")
    )
    rows = []
    for step in steps:
        score = scores.get(step.id)
        replayed = answered.get(step.id)
        verdict = (
            text("mark_unmarked", locale) if score is None else score_text(score.score, locale)
        )
        answer = _answer_of(step, scores, answered)
        if replayed and replayed.error:  # the backend failed this step: say why
            answer = f"{answer}\n{text('error', locale)}: {replayed.error}".strip()
        cells = (
            str(step.seq + 1),
            verdict,
            answer,
            replayed.reasoning if replayed else "",
        )
        rows.append(
            "<tr>" + "".join(f"<td style='{_CELL}'>{html.escape(c)}</td>" for c in cells) + "</tr>"
        )
    return (
        f"<div id='ep-steps'>{legend_html(locale)}"
        f"<table style='width:100%;border-collapse:collapse'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def build_episode_panel(
    panel: EpisodePanel,
    opened: gr.State,
    variant: gr.Dropdown,
    tolerance: gr.Slider,
    answer: AnswerSettings,
) -> tuple[gr.events.Dependency, gr.events.Dependency]:
    """The episode controls; returns the creation (after which the tab opens the new
    episode) and the dry run (whose replay is a new session), which asks with `answer`'s
    settings."""
    gr.Markdown("### " + label("ep_title"))
    gr.Markdown(label("ep_intro"))
    with gr.Row():
        task = gr.Textbox(label=label("ep_task"), scale=3, elem_id="ep-task")
        screens = gr.File(
            label=label("ep_screens"),
            file_count="multiple",
            file_types=["image"],
            type="filepath",
            scale=2,
            elem_id="ep-screens",
        )
    with gr.Row():
        create = gr.Button(label("ep_create"), variant="primary", elem_id="ep-create")
        name = gr.Button(label("ep_name"), elem_id="ep-name")
        run = gr.Button(label("ep_dry_run"), elem_id="ep-dry-run")
        stop = gr.Button(label("acc_stop"), variant="stop", elem_id="ep-stop")
    status = gr.Markdown(elem_id="ep-status")
    strip = gr.Gallery(
        label=label("ep_strip"),
        columns=6,
        rows=1,
        height=420,
        object_fit="contain",
        allow_preview=True,
        interactive=False,
        elem_id="ep-strip",
    )
    steps = gr.HTML(elem_id="ep-steps-box")
    created = create.click(panel.create, [task, screens], [opened, screens, status])
    name.click(panel.name_episode, [opened, task], None)

    async def dry_run(values: Values, request: gr.Request) -> AsyncIterator[tuple[Any, ...]]:
        episode, chosen = values[opened], values[variant]
        options = answer.options(values)
        async for shown in panel.dry_run(episode, chosen, values[tolerance], options, request):
            yield shown

    inputs = {opened, variant, tolerance} | answer.sampling()
    running = run.click(dry_run, inputs, [status, strip, steps])
    stop.click(None, None, None, cancels=[running])
    return created, running
