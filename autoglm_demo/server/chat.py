"""Serving /v1/chat/completions: one engine generation, split into reasoning and answer.

The same `_turn` feeds both the streamed (SSE) and the whole response, so the two can
never disagree about what the model said. Audio parts are transcribed before anything else,
and their transcripts go back to the client (`input_transcripts`) so it can show them.

Where the trace goes follows the three conventions AutoGLM-Phone-9B's clients expect:
- by default, as a reasoning parser puts it: `reasoning_content` and `reasoning`;
- with `--reasoning-parser none`, as the official vLLM serving sends it: trace and action
  together in `content`, without tags (clients that read only `content` keep the trace);
- per request, `skip_special_tokens: false` (or `separate_reasoning: false`): the model's
  text as it is, tags included, in `content`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from fastapi.responses import StreamingResponse

from autoglm_demo import stages
from autoglm_demo.engine.admission import Ticket
from autoglm_demo.engine.engine import Engine, LoadState
from autoglm_demo.engine.pool import UnknownVariant, VariantPool
from autoglm_demo.engine.types import (
    ChatTemplateError,
    ContextLengthExceeded,
    Finished,
    PreparedPrompt,
    SamplingParams,
    TextDelta,
)
from autoglm_demo.reasoning import ReasoningSplitter, Split, TagRemover
from autoglm_demo.server.content import ImageLimits, to_chat_messages
from autoglm_demo.server.errors import APIError, error_body
from autoglm_demo.server.protocol import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Delta,
    InputTranscript,
    ResponseMessage,
    Usage,
    completion_id,
    now,
)
from autoglm_demo.server.transcription import transcribe_audio_parts
from autoglm_demo.speech.service import Speech

log = logging.getLogger(__name__)

ReasoningParser = Literal["glm45", "none"]


async def engine_for(pool: VariantPool, model: str) -> Engine:
    """The engine that answers `model`, loading its variant if need be; refused with the
    OpenAI error for an unknown model (404) or a model not ready (503). (A full queue was
    refused on arrival: server/gate.py.)"""
    try:
        pool.get(model)
    except UnknownVariant:
        raise APIError(
            404,
            f"The model '{model}' does not exist. Served models: " + ", ".join(pool.names),
            param="model",
            code="model_not_found",
        ) from None
    engine = await pool.engine_for(model)
    status = engine.status
    if status.state is not LoadState.READY:
        raise APIError(
            503,
            f"The model is not ready: {status.detail}",
            code=status.state.value,
            headers={"Retry-After": "5"} if status.state is LoadState.LOADING else None,
        )
    return engine


@dataclass(frozen=True)
class _Turn:
    """A validated request, ready to generate."""

    request: ChatCompletionRequest
    prompt: PreparedPrompt
    params: SamplingParams
    transcripts: list[InputTranscript]
    ticket: Ticket
    reasoning_parser: ReasoningParser = "glm45"

    @property
    def input_transcripts(self) -> list[InputTranscript] | None:
        return self.transcripts or None


async def create_chat_completion(
    request: ChatCompletionRequest,
    engine: Engine,
    speech: Speech,
    ticket: Ticket,
    *,
    image_limits: ImageLimits,
    reasoning_parser: ReasoningParser = "glm45",
) -> ChatCompletion | StreamingResponse:
    stages.mark("api.request")
    turn = await _validate(request, engine, speech, ticket, image_limits=image_limits)
    turn = dataclasses.replace(turn, reasoning_parser=reasoning_parser)
    if request.stream:
        return StreamingResponse(
            _sse(turn, engine),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return await _whole(turn, engine)


async def _validate(
    request: ChatCompletionRequest,
    engine: Engine,
    speech: Speech,
    ticket: Ticket,
    *,
    image_limits: ImageLimits,
) -> _Turn:
    """Everything that can be refused is refused here, before a stream starts."""
    transcripts = await transcribe_audio_parts(speech, request.messages)
    # Decoding a large photo takes a while; off the event loop, other streams keep flowing.
    messages = await asyncio.to_thread(
        to_chat_messages,
        request.messages,
        limits=image_limits,
        transcripts={(t.message_index, t.part_index): t.text for t in transcripts},
    )
    template_kwargs = {**(request.chat_template_kwargs or {}), "enable_thinking": request.thinking}
    params = SamplingParams(
        max_tokens=request.max_completion_tokens or request.max_tokens,
        temperature=1.0 if request.temperature is None else request.temperature,
        top_p=1.0 if request.top_p is None else request.top_p,
        seed=request.seed,
        stop=request.stop_sequences,
        **{**engine.sampling_defaults, **request.penalties},
    )
    try:
        prompt = await engine.prepare(messages, template_kwargs)
        params = engine.plan(prompt, params)
    except ContextLengthExceeded as error:
        raise APIError(400, str(error), param="messages", code="context_length_exceeded") from None
    except ChatTemplateError as error:
        raise APIError(
            400, f"The model's chat template refused the request: {error}", param="messages"
        ) from None
    return _Turn(request, prompt, params, transcripts, ticket)


class _Verbatim:
    """The model's text untouched, tags included: all of it is `content`."""

    def feed(self, text: str) -> Split:
        return Split(answer=text)

    def finish(self) -> Split:
        return Split()


class _WithoutTags:
    """The official vLLM output: the tags dropped, trace and action together in `content`."""

    def __init__(self) -> None:
        self._remover = TagRemover()

    def feed(self, text: str) -> Split:
        return Split(answer=self._remover.feed(text))

    def finish(self) -> Split:
        return Split(answer=self._remover.finish())


def _shaper(turn: _Turn, engine: Engine) -> ReasoningSplitter | _Verbatim | _WithoutTags:
    if turn.request.raw_tags:
        return _Verbatim()
    if turn.reasoning_parser == "none":
        return _WithoutTags()
    return ReasoningSplitter(
        starts_in_reasoning=turn.prompt.starts_in_reasoning,
        reasoning_model=engine.runtime.info.reasoning and turn.request.thinking,
    )


async def _turn(turn: _Turn, engine: Engine) -> AsyncIterator[Split | Finished]:
    """Model text as reasoning/answer deltas, then the Finished event."""
    request = turn.request
    shaper = _shaper(turn, engine)

    def shaped(split: Split) -> Split:
        return split if request.include_reasoning else Split(answer=split.answer)

    async for event in engine.generate(turn.prompt, turn.params, turn.ticket):
        if isinstance(event, TextDelta):
            if split := shaped(shaper.feed(event.text)):
                yield split
        else:
            if tail := shaped(shaper.finish()):
                yield tail
            yield event


def _usage(finished: Finished) -> Usage:
    return Usage(
        prompt_tokens=finished.prompt_tokens,
        completion_tokens=finished.completion_tokens,
        total_tokens=finished.prompt_tokens + finished.completion_tokens,
    )


def _finish_reason(finished: Finished) -> str:
    return "length" if finished.reason == "length" else "stop"


async def _whole(turn: _Turn, engine: Engine) -> ChatCompletion:
    total = Split()
    finished: Finished | None = None
    async for item in _turn(turn, engine):
        if isinstance(item, Finished):
            finished = item
        else:
            total += item
    assert finished is not None, "the engine always ends with Finished"
    trace = total.reasoning or None  # a model that does not think has no trace at all
    return ChatCompletion(
        id=completion_id(),
        created=now(),
        model=turn.request.model,
        choices=[
            Choice(
                message=ResponseMessage(
                    content=total.answer, reasoning_content=trace, reasoning=trace
                ),
                finish_reason=_finish_reason(finished),
            )
        ],
        usage=_usage(finished),
        input_transcripts=turn.input_transcripts,
    )


async def _sse(turn: _Turn, engine: Engine) -> AsyncIterator[str]:
    request = turn.request
    identity = {"id": completion_id(), "created": now(), "model": request.model}

    def chunk(
        delta: Delta,
        finish_reason: str | None = None,
        transcripts: list[InputTranscript] | None = None,
    ) -> str:
        body = ChatCompletionChunk(
            **identity,
            choices=[ChunkChoice(delta=delta, finish_reason=finish_reason)],
            input_transcripts=transcripts,
        )
        return _event(body.model_dump_json(exclude_none=True))

    yield chunk(Delta(role="assistant", content=""), transcripts=turn.input_transcripts)
    first_text = True
    try:
        async for item in _turn(turn, engine):
            if first_text and not isinstance(item, Finished):
                first_text = False
                stages.mark("api.first_text")
            if isinstance(item, Finished):
                yield chunk(Delta(), _finish_reason(item))
                if request.stream_options and request.stream_options.include_usage:
                    usage = ChatCompletionChunk(**identity, choices=[], usage=_usage(item))
                    yield _event(usage.model_dump_json())
            else:
                # A take-back (`reset_reasoning`) cannot travel: the trace already sent
                # stays, and the answer repeats it in content, where it belongs.
                yield chunk(
                    Delta(
                        content=item.answer or None,
                        reasoning_content=item.reasoning or None,
                        reasoning=item.reasoning or None,
                    )
                )
    except Exception:  # the stream has started, so the error travels in-band
        log.exception("Generation failed mid-stream")
        failure = error_body(500, "Generation failed; see the server log.")
        yield _event(json.dumps(failure.model_dump()))
    yield _event("[DONE]")


def _event(data: str) -> str:
    return f"data: {data}\n\n"
