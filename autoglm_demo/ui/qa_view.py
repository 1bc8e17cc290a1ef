"""QA records → what the QA tab shows: the session list, a session read back as a chat,
and a replay's answers side by side. Pure, like `view.py`, whose chat rendering it reuses."""

from __future__ import annotations

import html
from typing import Any

from autoglm_demo.conversation import Turn, TurnStatus
from autoglm_demo.qa.media import MediaFolder
from autoglm_demo.qa.records import Feedback, Rating, SessionRecord, SessionSummary, TurnRecord
from autoglm_demo.qa.replay import Comparison, TextDiff
from autoglm_demo.scoring import Miss, Score
from autoglm_demo.ui.i18n import DEFAULT_LOCALE, text
from autoglm_demo.ui.marking import score_recorded
from autoglm_demo.ui.metrics import footer
from autoglm_demo.ui.overlay import MARK_COLOUR, TARGET_COLOUR
from autoglm_demo.ui.view import ChatbotMessage, problem_text, render

_DIFF_STYLE = {
    "delete": "background:#fdd;color:#900;text-decoration:line-through",
    "insert": "background:#dfd;color:#060",
}
_CELL = "vertical-align:top;padding:6px;border-bottom:1px solid #ddd;white-space:pre-wrap"
_COLUMNS = (
    "qa_col_started",
    "qa_col_title",
    "qa_col_turns",
    "qa_col_models",
    "qa_col_precisions",
    "qa_good",
    "qa_bad",
    "qa_col_replay_of",
    "qa_col_id",
)

# The text of each reason a turn can miss for; its facts fill the text's fields.
_MISS_REASONS = {
    Miss.NO_ACTION: "miss_no_action",
    Miss.WRONG_ACTION: "miss_wrong_action",
    Miss.WRONG_TEXT: "miss_wrong_text",
    Miss.NO_START: "miss_no_start",
    Miss.NO_END: "miss_no_end",
    Miss.START_OFF: "miss_start_off",
    Miss.END_OFF: "miss_end_off",
    Miss.FAILED: "miss_failed",
}


def session_table(summaries: list[SessionSummary], locale: str) -> dict[str, Any]:
    """The Dataframe's value; the session id is the last column (opening reads it there)."""
    headers = [text(key, locale) for key in _COLUMNS]
    rows = [
        [
            f"{s.created_at:%Y-%m-%d %H:%M}",
            s.title,
            s.turns,
            ", ".join(s.models),
            ", ".join(s.precisions),
            s.good,
            s.bad,
            s.replay_of or "",
            s.id,
        ]
        for s in summaries
    ]
    return {"headers": headers, "data": rows}


def session_header(session: SessionRecord, locale: str) -> str:
    header = text("qa_session_header", locale).format(
        id=session.id, started=f"{session.created_at:%Y-%m-%d %H:%M}", turns=len(session.turns)
    )
    if session.replay_of:
        header += ", " + text("qa_replay_header", locale).format(id=session.replay_of)
    return header


def transcript(
    session: SessionRecord, media: MediaFolder, locale: str, tolerance: float
) -> list[ChatbotMessage]:
    """The session as the chat showed it, with each answer's feedback after it, and ✓ or ✗
    for each answer whose right answer is marked."""
    messages: list[ChatbotMessage] = []
    for record in session.turns:
        messages.extend(render([_as_shown(record, media, locale)], locale))
        score = score_recorded(record, media, tolerance)
        if score is not None:
            messages.append(
                {
                    "role": "assistant",
                    "content": score_text(score, locale),
                    "metadata": {"title": text("mark_scored", locale)},
                }
            )
        if record.feedback:
            messages.append(_feedback(record.feedback, locale))
    return messages


def score_text(score: Score, locale: str) -> str:
    """✓, or ✗ with the reason it missed, in the page's language."""
    if score.miss is None:
        return f"✓ {text('mark_hit', locale)}"
    if score.problem:  # a malformed action: say how it breaks the grammar
        problem = problem_text(score.problem, score.facts, locale)
        reason = text("miss_malformed", locale).format(problem=problem)
    else:
        reason = text(_MISS_REASONS[score.miss], locale).format_map(score.facts)
    return f"✗ {text('mark_miss', locale)}: {reason}"


def score_html(score: Score | None, locale: str) -> str:
    """The score beside the marked screenshot; nothing while the turn has no mark."""
    if score is None:
        return f"<p><i>{html.escape(text('mark_unmarked', locale))}</i></p>"
    colour = "#060" if score.hit else "#900"
    return (
        f"<p class='mark-verdict' style='font-size:1.3em;color:{colour}'>"
        f"<b>{html.escape(score_text(score, locale))}</b></p>"
    )


def legend_html(locale: str = DEFAULT_LOCALE) -> str:
    """What the two colours on a drawn screenshot mean."""
    return (
        "<p class='overlay-legend'>"
        + " ".join(
            f"<span style='display:inline-block;width:1em;height:1em;border:3px solid "
            f"rgb{colour};vertical-align:middle;border-radius:{radius}'></span> "
            f"{html.escape(text(key, locale))}&nbsp;&nbsp;"
            for colour, radius, key in (
                (MARK_COLOUR, "50%", "legend_model"),
                (TARGET_COLOUR, "0", "legend_target"),
            )
        )
        + "</p>"
    )


def _as_shown(record: TurnRecord, media: MediaFolder, locale: str) -> Turn:
    found = [(ref, media.path(ref)) for ref in record.images]
    audio = media.path(record.audio)
    turn = record.as_turn([path for _, path in found if path], audio)
    missing = [ref.name for ref, path in found if path is None]
    if record.audio and audio is None:
        missing.append(record.audio.name)
    if missing:
        turn.text += f"\n\n({text('qa_not_stored', locale)}: {', '.join(missing)})"
    return turn


def _feedback(feedback: Feedback, locale: str) -> ChatbotMessage:
    verdict = text("qa_good" if feedback.rating is Rating.GOOD else "qa_bad", locale)
    return {
        "role": "assistant",
        "content": feedback.comment or verdict,
        "metadata": {"title": f"{text('qa_feedback', locale)}: {verdict}"},
    }


def comparison_html(comparisons: list[Comparison], before: str, after: str, locale: str) -> str:
    """A table: each question with its old and new answers, their metrics, and the diff."""
    changed = sum(c.answer_diff.changed for c in comparisons)
    summary = text("qa_changed", locale).format(changed=changed, total=len(comparisons))
    head = "".join(
        f"<th style='{_CELL}'>{html.escape(title)}</th>"
        for title in (
            "#",
            text("qa_question", locale),
            f"{text('qa_before', locale)}: {before}",
            f"{text('qa_after', locale)}: {after}",
        )
    )
    rows = "".join(_comparison_rows(number, c, locale) for number, c in enumerate(comparisons, 1))
    return (
        f"<div id='qa-comparison-table'><p><b>{html.escape(summary)}</b></p>"
        f"<table style='width:100%;border-collapse:collapse'><thead><tr>{head}</tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )


def _comparison_rows(number: int, comparison: Comparison, locale: str) -> str:
    question = html.escape(comparison.question)
    if comparison.images_missing:
        note = text("qa_images_missing", locale).format(count=comparison.images_missing)
        question += f"<br><i>{html.escape(note)}</i>"
    answers = (
        f"<tr><td style='{_CELL}'>{number}</td><td style='{_CELL}'>{question}</td>"
        f"<td style='{_CELL}'>{_answer_cell(comparison.old, locale)}</td>"
        f"<td style='{_CELL}'>{_answer_cell(comparison.new, locale)}</td></tr>"
    )
    title = html.escape(text("qa_diff", locale))
    changes = _diff_html(comparison.answer_diff, locale)
    diff = (
        f"<tr><td style='{_CELL}'></td><td style='{_CELL}'>{title}</td>"
        f"<td colspan='2' class='qa-diff' style='{_CELL}'>{changes}</td></tr>"
    )
    return answers + diff


def _answer_cell(turn: Turn, locale: str) -> str:
    parts = []
    if turn.reasoning:
        parts.append(
            f"<details><summary>{html.escape(text('reasoning', locale))}</summary>"
            f"{html.escape(turn.reasoning)}</details>"
        )
    parts.append(html.escape(turn.answer))
    if turn.error:
        parts.append(f"<b>{html.escape(text('error', locale))}:</b> {html.escape(turn.error)}")
    if turn.status is TurnStatus.STOPPED:
        parts.append(f"<i>{html.escape(text('stopped', locale))}</i>")
    if turn.metrics:
        # The footer is Markdown for the chat; here its code ticks would show as they are.
        shown = footer(turn.metrics, locale).replace("`", "")
        parts.append(f"<sub>{html.escape(shown)}</sub>")
    return "<br>".join(parts)


def _diff_html(diff: TextDiff, locale: str) -> str:
    if not diff.changed:
        return f"<i>{html.escape(text('qa_unchanged', locale))}</i>"
    spans = "".join(
        f"<span style='{_DIFF_STYLE[kind]}'>{html.escape(part)}</span>"
        if kind in _DIFF_STYLE
        else html.escape(part)
        for kind, part in diff.segments
    )
    return (
        f"{spans}<br><sub>{html.escape(text('qa_similarity', locale))} {diff.similarity:.0%}</sub>"
    )
