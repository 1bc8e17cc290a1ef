"""Evaluations → what the QA tab shows: the accuracy table per variant, the turns where the
variants disagree, the progress line, and an episode's steps. Pure, like `qa_view.py`.

Answers are the model's text and questions the tester's: every one is escaped here.
"""

from __future__ import annotations

import html
from typing import Any

from autoglm_demo.qa.evaluate import Disagreement, Evaluation, Progress, TurnScore
from autoglm_demo.scoring import Tally
from autoglm_demo.ui.i18n import text
from autoglm_demo.ui.qa_view import score_text

_CELL = "vertical-align:top;padding:6px;border-bottom:1px solid #ddd;white-space:pre-wrap"
_TABLE_COLUMNS = (
    "acc_col_variant",
    "acc_col_model",
    "acc_col_hits",
    "acc_col_scored",
    "acc_col_share",
    "acc_col_interval",
)


def accuracy_table(evaluation: Evaluation, locale: str) -> dict[str, Any]:
    """The Dataframe's value: one row per variant, in the order they were asked for."""
    rows = [
        [variant, evaluation.models[variant], *_tally_cells(evaluation.tallies[variant])]
        for variant in evaluation.variants
    ]
    return {"headers": [text(key, locale) for key in _TABLE_COLUMNS], "data": rows}


def _tally_cells(tally: Tally) -> list[Any]:
    interval = tally.interval()
    share = "–" if tally.share is None else f"{tally.share:.0%}"
    bounds = "–" if interval is None else f"{interval[0]:.0%} – {interval[1]:.0%}"
    return [tally.hits, tally.total, share, bounds]


def summary_text(evaluation: Evaluation, sessions: int, locale: str) -> str:
    """One line above the table: what was measured, and how a point was judged."""
    scored = max((tally.total for tally in evaluation.tallies.values()), default=0)
    line = text("acc_summary", locale).format(
        turns=scored, sessions=sessions, tolerance=f"{evaluation.tolerance:.0%}"
    )
    if not scored:
        line += " " + text("acc_nothing_marked", locale)
    return line


def progress_text(progress: Progress | None, locale: str) -> str:
    if progress is None:
        return text("acc_starting", locale)
    return text("acc_progress", locale).format(
        done=progress.done, total=progress.total, variant=progress.variant
    )


def disagreements_html(evaluation: Evaluation, locale: str) -> str:
    """The turns some variants hit and others missed, with each variant's answer."""
    if len(evaluation.variants) < 2:
        return ""
    title = html.escape(text("acc_disagreements", locale))
    if not evaluation.disagreements:
        none = html.escape(text("acc_no_disagreement", locale))
        return f"<div id='acc-disagreements'><p><b>{title}</b></p><p><i>{none}</i></p></div>"
    head = "".join(
        f"<th style='{_CELL}'>{html.escape(name)}</th>"
        for name in ("#", text("qa_question", locale), *evaluation.variants)
    )
    rows = "".join(
        _disagreement_row(found, evaluation, locale) for found in evaluation.disagreements
    )
    return (
        f"<div id='acc-disagreements'><p><b>{title}</b></p>"
        f"<table style='width:100%;border-collapse:collapse'><thead><tr>{head}</tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )


def _disagreement_row(found: Disagreement, evaluation: Evaluation, locale: str) -> str:
    by_variant = {score.variant: score for score in found.scores}
    cells = "".join(
        f"<td style='{_CELL}'>{_answer(by_variant.get(variant), locale)}</td>"
        for variant in evaluation.variants
    )
    where = f"{found.session_id[:8]} · {found.seq + 1}"
    return (
        f"<tr><td style='{_CELL}'>{html.escape(where)}</td>"
        f"<td style='{_CELL}'>{html.escape(found.question)}</td>{cells}</tr>"
    )


def _answer(score: TurnScore | None, locale: str) -> str:
    if score is None:
        return ""
    return f"<b>{html.escape(score_text(score.score, locale))}</b><br>{html.escape(score.answer)}"
