"""Talk to any OpenAI-compatible backend and yield typed events.

The page uses this for the embedded backend and for remote ones alike (vLLM, SGLang, a
second instance of ours), so both paths behave the same. Backends disagree on where the
reasoning trace goes: `reasoning_content` (SGLang, DeepSeek), `reasoning` (vLLM with a
reasoning parser), `<think>` tags inside `content` (`skip_special_tokens: false`), or, as
AutoGLM-Phone-9B is officially served (vLLM without a reasoning parser, which drops the
tags because they are special tokens), trace and action run together in `content`. All of
them become the same `ReasoningDelta` and `AnswerDelta` events here, through the one
splitter in `reasoning.py`.

Speech: `transcribe` uses the backend's /audio/transcriptions, and a chat request's
input_audio transcripts (our server's `input_transcripts`) arrive as `TranscriptReport` events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import openai

from autoglm_demo import stages
from autoglm_demo.reasoning import ReasoningSplitter, Split


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class ReasoningReset:
    """The trace shown so far was the answer after all: a reasoning model's tag-less reply
    with no action is all answer, and its text follows as `AnswerDelta`s."""


@dataclass(frozen=True)
class AnswerDelta:
    text: str


@dataclass(frozen=True)
class UsageReport:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Finish:
    reason: str


@dataclass(frozen=True)
class BackendError:
    """A failure worth showing to a person; the conversation itself is unaffected."""

    message: str


@dataclass(frozen=True)
class TranscriptReport:
    """What the backend heard in one input_audio part of the request."""

    message_index: int
    part_index: int
    text: str
    language: str


ClientEvent = (
    ReasoningDelta
    | ReasoningReset
    | AnswerDelta
    | UsageReport
    | Finish
    | BackendError
    | TranscriptReport
)


class TranscriptionNotServed(Exception):
    """The backend has no /audio/transcriptions route (404 or 405), as chat-only servers."""


class TranscriptionFailed(Exception):
    """The backend refused the audio or could not be reached; `message` is for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ChatOptions:
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 1024
    enable_thinking: bool = True
    seed: int | None = None
    stop: list[str] = field(default_factory=list)

    def request_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
        }
        if self.seed is not None:
            fields["seed"] = self.seed
        if self.stop:
            fields["stop"] = self.stop
        return fields

    def extra_body(self) -> dict[str, Any]:
        # Both spellings: the seed's top-level flags and vLLM/SGLang's template kwargs.
        return {
            "enable_thinking": self.enable_thinking,
            "return_reasoning": True,
            "chat_template_kwargs": {"enable_thinking": self.enable_thinking},
        }


@dataclass(frozen=True)
class BackendModel:
    id: str
    details: dict[str, Any]

    @property
    def vision(self) -> bool:
        return bool(self.details.get("capabilities", {}).get("vision", True))

    @property
    def reasoning(self) -> bool | None:
        """Whether the model thinks before it answers; None when the card does not say
        (vLLM and SGLang cards have no such field)."""
        flag = (self.details.get("capabilities") or {}).get("reasoning")
        return flag if isinstance(flag, bool) else None

    @property
    def thinks(self) -> bool:
        """Whether to treat the model as thinking first, so a tag-less reply is split at its
        action: its card's flag, else True for other servers' cards (vLLM and SGLang serve
        AutoGLM-Phone-9B here; a plain model's reply still ends up whole), and False for
        this server's card of a variant not loaded yet (its answers are not cut)."""
        if self.reasoning is not None:
            return self.reasoning
        return "runtime" not in self.details


class BackendClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 600,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        """`transport` replaces the network (the embedded API's in-process transport); the
        requests and the protocol stay those of any OpenAI-compatible backend."""
        self.base_url = base_url.rstrip("/")
        self._client = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=api_key or "EMPTY",
            timeout=timeout,
            max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(transport=transport) if transport else None,
        )

    async def close(self) -> None:
        await self._client.close()

    async def list_models(self) -> list[BackendModel]:
        page = await self._client.models.list()
        return [BackendModel(model.id, model.model_dump()) for model in page.data]

    async def stream_chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        options: ChatOptions,
        *,
        reasoning_model: bool = False,
    ) -> AsyncIterator[ClientEvent]:
        """Yield the turn as events; every failure ends the stream with one BackendError.

        `reasoning_model`: the model thinks before it answers (its card says so, or the
        caller knows), so `content` without tags is split at its first action."""
        splitter = ReasoningSplitter(reasoning_model=reasoning_model and options.enable_thinking)
        first_text = True
        try:
            stages.mark("client.request")
            stream = await self._client.chat.completions.create(
                model=model,
                messages=messages,  # type: ignore[arg-type]
                stream=True,
                stream_options={"include_usage": True},
                extra_body=options.extra_body(),
                **options.request_fields(),
            )
            async with stream:
                async for chunk in stream:
                    for event in _chunk_events(chunk, splitter):
                        if first_text and isinstance(event, (ReasoningDelta, AnswerDelta)):
                            first_text = False
                            stages.mark("client.first_text")
                        yield event
            for event in _split_events(splitter.finish()):
                yield event
        except openai.APIStatusError as error:
            yield BackendError(_status_message(error))
        except openai.APIConnectionError:
            yield BackendError(_unreachable(self.base_url))
        except openai.APIError as error:  # an error event inside the stream
            yield BackendError(f"The backend failed while answering: {error.message}")

    async def transcribe(self, audio: Path, language: str | None = None) -> str:
        """The text of an audio file, from the backend's OpenAI transcription API."""
        try:
            result = await self._client.audio.transcriptions.create(
                model="whisper-1",  # OpenAI's name; servers with one speech model ignore it
                file=audio,
                response_format="json",
                **({"language": language} if language else {}),
            )
        except openai.APIStatusError as error:
            if error.status_code in (404, 405):
                raise TranscriptionNotServed(self.base_url) from None
            raise TranscriptionFailed(_status_message(error)) from None
        except openai.APIConnectionError:
            raise TranscriptionFailed(_unreachable(self.base_url)) from None
        return result.text


def _chunk_events(chunk: Any, splitter: ReasoningSplitter) -> list[ClientEvent]:
    events: list[ClientEvent] = [
        TranscriptReport(t["message_index"], t["part_index"], t["text"], t.get("language", ""))
        for t in (chunk.model_extra or {}).get("input_transcripts") or ()
    ]
    for choice in chunk.choices or ():
        delta = choice.delta
        extra = delta.model_extra or {}
        trace = extra.get("reasoning_content") or extra.get("reasoning")
        if trace:
            # The server separated the trace, so content is answer from here on.
            events.extend(_split_events(splitter.answer_follows()))
            events.append(ReasoningDelta(trace))
        if delta.content:
            events.extend(_split_events(splitter.feed(delta.content)))
        if choice.finish_reason:
            events.extend(_split_events(splitter.finish()))
            events.append(Finish(choice.finish_reason))
    if chunk.usage:
        events.append(UsageReport(chunk.usage.prompt_tokens, chunk.usage.completion_tokens))
    return events


def _split_events(split: Split) -> list[ClientEvent]:
    events: list[ClientEvent] = [ReasoningReset()] if split.reset_reasoning else []
    if split.reasoning:
        events.append(ReasoningDelta(split.reasoning))
    if split.answer:
        events.append(AnswerDelta(split.answer))
    return events


def _unreachable(base_url: str) -> str:
    return (
        f"The backend at {base_url} is not reachable. It may be restarting; "
        "your conversation is kept, so try again in a moment."
    )


def _status_message(error: openai.APIStatusError) -> str:
    body = error.body if isinstance(error.body, dict) else {}
    detail = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
    message = detail.get("message") or body.get("message") or error.message
    return f"The backend refused the request ({error.status_code}): {message}"
