"""Turns → Chatbot messages (Gradio's messages format). Pure: the same turns always
render the same messages, so streaming just re-renders after every event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autoglm_demo.actions import Problem, check_answer
from autoglm_demo.conversation import Turn, TurnStatus
from autoglm_demo.ui.i18n import DEFAULT_LOCALE, text
from autoglm_demo.ui.metrics import footer

ChatbotMessage = dict[str, Any]


def render(turns: list[Turn], locale: str) -> list[ChatbotMessage]:
    messages: list[ChatbotMessage] = []
    for turn in turns:
        messages.append(_question(turn))
        messages.extend(_answer(turn, locale))
    return messages


def turn_of_message(turns: list[Turn], message_index: int) -> Turn | None:
    """The turn whose rendering holds message `message_index` (a liked or disliked answer)."""
    end = 0
    for turn in turns:
        # The question, then the answer's messages (as many in every language).
        end += 1 + len(_answer(turn, DEFAULT_LOCALE))
        if message_index < end:
            return turn
    return None


def _question(turn: Turn) -> ChatbotMessage:
    content: list[Any] = [{"path": path} for path in turn.images]
    if turn.audio:
        content.append({"path": turn.audio})
    if turn.text.strip():
        content.append(turn.text)
    return {"role": "user", "content": content}


def _answer(turn: Turn, locale: str) -> list[ChatbotMessage]:
    messages: list[ChatbotMessage] = []
    if turn.reasoning:
        messages.append(_reasoning(turn, locale))
    body: list[Any] = []
    if turn.answer:
        body.append(turn.answer)
        if turn.status in (TurnStatus.DONE, TurnStatus.STOPPED):
            body.append(f"<sub>{action_badge(turn.answer, locale)}</sub>")
    if turn.overlay:
        body.append({"path": turn.overlay, "alt_text": text("actions_overlay", locale)})
    if footer := _footer(turn, locale):
        body.append(footer)
    if body:
        messages.append({"role": "assistant", "content": body})
    if turn.error:
        # A thought-style block with no status renders open and titled, which sets the error
        # apart from the answer without custom CSS.
        messages.append(
            {
                "role": "assistant",
                "content": turn.error,
                "metadata": {"title": text("error", locale)},
            }
        )
    return messages


def action_badge(answer: str, locale: str) -> str:
    """What the answer is against AutoGLM's action grammar, in a few words."""
    verdict = check_answer(answer)
    if verdict.kind == "valid":
        return "✅ " + text("valid_action", locale)
    if verdict.kind == "not_action":
        return "▫️ " + text("not_action", locale)
    problem = problem_text(verdict.problem, verdict.facts, locale) if verdict.problem else ""
    return f"⚠️ {text('malformed_action', locale)}: {problem}"


# The text of each way an answer can break the grammar; its facts fill the text's fields.
_PROBLEM_TEXTS = {
    Problem.TEXT_BEFORE: "problem_text_before",
    Problem.NOT_CLOSED: "problem_not_closed",
    Problem.TEXT_AFTER: "problem_text_after",
    Problem.NO_MESSAGE: "problem_no_message",
    Problem.NO_ACTION_NAME: "problem_no_action_name",
    Problem.UNKNOWN_ACTION: "problem_unknown_action",
    Problem.MISSING_ARGUMENT: "problem_missing_argument",
    Problem.NOT_A_POINT: "problem_not_a_point",
    Problem.OUT_OF_RANGE: "problem_out_of_range",
    Problem.DOES_NOT_FIT: "problem_does_not_fit",
}


def problem_text(problem: Problem, facts: Mapping[str, str], locale: str) -> str:
    """How an answer breaks the action grammar, in the page's language."""
    return text(_PROBLEM_TEXTS[problem], locale).format_map(facts)


def _reasoning(turn: Turn, locale: str) -> ChatbotMessage:
    thinking = turn.status is TurnStatus.STREAMING and not turn.answer
    metadata: dict[str, Any] = {
        "title": text("reasoning", locale),
        "status": "pending" if thinking else "done",
    }
    if turn.reasoning_seconds is not None:
        metadata["duration"] = round(turn.reasoning_seconds, 1)
    return {"role": "assistant", "content": turn.reasoning, "metadata": metadata}


def _footer(turn: Turn, locale: str) -> str | None:
    parts = []
    if turn.status is TurnStatus.STOPPED:
        parts.append(text("stopped", locale))
    if turn.metrics:
        parts.append(footer(turn.metrics, locale))
    return f"<sub>{' · '.join(parts)}</sub>" if parts else None
