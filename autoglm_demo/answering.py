"""Answer one turn: send the conversation to a backend and stream the answer into its `Turn`.

The page's chat, its Compare tab and QA replay all answer through `stream_answer`, so their
answers and metrics are measured the same way. What happens around an answer is left to
hooks: `overlay` draws the answer's actions (the page draws them; replay does not), and
`on_finished` gets the turns once the answer is over (QA recording).

The answer being streamed is updated in place on the last `Turn` (which Gradio keeps in
session state by reference). That matters for Stop: a cancelled generator cannot yield
again, but the turn it was filling is already up to date, and the `finally` marks it
stopped, so the next render shows exactly what was said before the stop.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from autoglm_demo import stages
from autoglm_demo.client import (
    AnswerDelta,
    BackendClient,
    BackendError,
    ChatOptions,
    ClientEvent,
    ReasoningDelta,
    ReasoningReset,
    TranscriptReport,
    UsageReport,
)
from autoglm_demo.conversation import (
    Stopwatch,
    Turn,
    TurnStatus,
    UnreadableImage,
    request_messages,
)

RENDER_INTERVAL_S = 0.05  # re-rendering the whole chat per token is wasted work past ~20 Hz

# Draws a finished turn's actions on its screenshot; returns the picture's path, or None.
OverlayHook = Callable[[Turn], str | None]
# Gets the turns once the last one is done, failed or stopped.
FinishedHook = Callable[[list[Turn]], None]


@dataclass(frozen=True)
class AnswerRequest:
    """Who answers the next turn, and how: what the answer controls say."""

    model: str
    precision: str | None  # the variant, as the backend reports it (None: not reported)
    system_prompt: str
    options: ChatOptions
    weight_bytes: int | None = None  # the variant's weights in memory, when reported
    reasoning_model: bool = False
    """The model thinks first: a tag-less reply is split at its first action."""
    agent: bool = False
    """Phone-agent mode: the official agent's message shape (see `phone_agent`)."""
    current_app: str | None = None
    """Agent mode: the app on screen, named in the question's screen-info line."""


async def stream_answer(
    client: BackendClient,
    turns: list[Turn],
    request: AnswerRequest,
    *,
    overlay: OverlayHook | None = None,
    on_finished: FinishedHook | None = None,
) -> AsyncIterator[list[Turn]]:
    """Answer the last turn if it waits for one, yielding the turns as they change.

    `overlay` runs once the answer is complete (not when it failed or was stopped).
    `on_finished` must return at once, since the final rendering waits for it.
    """
    if not turns or turns[-1].status is not TurnStatus.WAITING:
        return
    turn = turns[-1]
    turn.status = TurnStatus.STREAMING
    if request.agent:
        turn.current_app = (request.current_app or "").strip() or None
    yield turns
    clock = Stopwatch()
    usage: tuple[int, int] | None = None
    last_render = 0.0
    try:
        messages = request_messages(turns, request.system_prompt, agent=request.agent)
        events = client.stream_chat(
            request.model, messages, request.options, reasoning_model=request.reasoning_model
        )
        async for event in events:
            usage = _apply(turn, event, clock, question_index=len(messages) - 1) or usage
            if time.monotonic() - last_render >= RENDER_INTERVAL_S:
                if not last_render:
                    stages.mark("page.first_update")
                last_render = time.monotonic()
                yield turns
        clock.finish()
        turn.metrics = clock.metrics(request.model, request.precision, usage, request.weight_bytes)
        if turn.status is TurnStatus.STREAMING:
            turn.status = TurnStatus.DONE
            turn.overlay = overlay(turn) if overlay else None
    except UnreadableImage as error:
        # A file uploaded as a screenshot that is none: the turn fails with a reason, and
        # the conversation before it stays as it was.
        turn.error, turn.status = str(error), TurnStatus.FAILED
    finally:
        if turn.status is TurnStatus.STREAMING:  # cancelled by Stop (or the page went away)
            turn.status = TurnStatus.STOPPED
        if on_finished:
            on_finished(turns)
    yield turns


def _apply(
    turn: Turn, event: ClientEvent, clock: Stopwatch, *, question_index: int
) -> tuple[int, int] | None:
    """Fold one client event into the turn; returns token usage when the event reports it.

    `question_index` is the turn's own message in the request, whose audio transcript
    becomes the turn's text (earlier messages already have theirs)."""
    # Finish needs no handling: usage may still follow it, so the stream's end is what
    # finishes the turn.
    if isinstance(event, ReasoningDelta):
        clock.token()
        turn.reasoning += event.text
    elif isinstance(event, ReasoningReset):  # the "reasoning" was the answer after all
        turn.reasoning = ""
    elif isinstance(event, AnswerDelta):
        clock.answer_token()
        turn.reasoning_seconds = clock.reasoning_seconds if turn.reasoning else None
        turn.answer += event.text
    elif isinstance(event, UsageReport):
        return event.prompt_tokens, event.completion_tokens
    elif isinstance(event, BackendError):
        turn.error = event.message
        turn.status = TurnStatus.FAILED
    elif isinstance(event, TranscriptReport) and event.message_index == question_index:
        turn.text = event.text
    return None
