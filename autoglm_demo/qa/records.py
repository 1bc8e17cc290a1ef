"""What a QA session is made of, as plain typed values.

A `TurnRecord` is one answered question as the page saw it: the inputs (with references to
their images and audio), what was asked of which model, what came back, and the tester's
feedback. The store, the exports and replay all speak in these values; none of them touches
the page.

What is persisted is defined here, not by the types it is recorded from: the options, the
metrics and the status have their own record types, so a new field on the client's
`ChatOptions` or the conversation's `Metrics` cannot change the database or export format
unnoticed. `codec.py` turns these values into their one dict shape and back.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import Enum

from autoglm_demo.client import ChatOptions
from autoglm_demo.conversation import Metrics, Turn, TurnStatus
from autoglm_demo.scoring import Target


def new_id() -> str:
    return uuid.uuid4().hex


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Rating(str, Enum):
    GOOD = "good"  # thumbs up
    BAD = "bad"  # thumbs down


class MediaKind(str, Enum):
    IMAGE = "image"
    AUDIO = "audio"


@dataclass(frozen=True)
class MediaRef:
    """A screenshot or recording a turn was asked with. The bytes themselves are kept in
    the store only when storing media is on; the reference is always kept."""

    kind: MediaKind
    name: str  # the file's name as it was uploaded
    sha256: str | None  # None: the file was gone before it could be read
    mime: str
    size: int | None


@dataclass(frozen=True)
class Blob:
    """The bytes of one media file, addressed by their hash."""

    sha256: str
    mime: str
    data: bytes


@dataclass(frozen=True)
class Feedback:
    rating: Rating
    comment: str = ""
    updated_at: datetime = dataclasses.field(default_factory=utc_now)


class RecordStatus(str, Enum):
    """How a recorded answer ended; only finished answers are recorded, except the steps of
    an uploaded episode, which wait for their first answer (a replay gives them one)."""

    DONE = "done"
    STOPPED = "stopped"  # stopped by the tester, or the page went away
    FAILED = "failed"
    PENDING = "pending"  # a step of an uploaded episode: a screenshot, not answered yet


@dataclass(frozen=True)
class RecordedOptions:
    """The sampling options a turn was asked with."""

    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 1024
    enable_thinking: bool = True
    seed: int | None = None
    stop: tuple[str, ...] = ()

    @classmethod
    def of(cls, options: ChatOptions) -> RecordedOptions:
        return cls(
            temperature=options.temperature,
            top_p=options.top_p,
            max_tokens=options.max_tokens,
            enable_thinking=options.enable_thinking,
            seed=options.seed,
            stop=tuple(options.stop),
        )

    def chat_options(self) -> ChatOptions:
        """The same options, to ask with again (replay)."""
        return ChatOptions(
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            enable_thinking=self.enable_thinking,
            seed=self.seed,
            stop=list(self.stop),
        )


@dataclass(frozen=True)
class RecordedMetrics:
    """What was measured of an answer; None where it was not measured. Who answered is the
    record's own `model` and `precision`."""

    ttft_s: float | None = None
    tokens_per_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    weight_bytes: int | None = None

    @classmethod
    def of(cls, metrics: Metrics) -> RecordedMetrics:
        return cls(
            ttft_s=metrics.ttft_s,
            tokens_per_s=metrics.tokens_per_s,
            prompt_tokens=metrics.prompt_tokens,
            completion_tokens=metrics.completion_tokens,
            weight_bytes=metrics.weight_bytes,
        )

    def as_metrics(self, model: str, precision: str | None) -> Metrics:
        return Metrics(
            model=model,
            precision=precision,
            ttft_s=self.ttft_s,
            tokens_per_s=self.tokens_per_s,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            weight_bytes=self.weight_bytes,
        )


@dataclass(frozen=True)
class TurnRecord:
    id: str
    session_id: str
    seq: int  # the order in which the session's turns were answered
    created_at: datetime
    # What was asked.
    text: str
    images: tuple[MediaRef, ...]
    audio: MediaRef | None
    system_prompt: str
    context: tuple[str, ...]  # ids of the earlier turns sent along as history, in order
    # Who answered, and with which parameters.
    model: str
    precision: str | None  # the variant, as the backend reports it
    options: RecordedOptions
    # What came back.
    status: RecordStatus
    reasoning: str
    answer: str
    error: str | None
    metrics: RecordedMetrics | None
    reasoning_seconds: float | None
    feedback: Feedback | None = None
    replay_of: str | None = None  # the turn this one re-ran
    target: Target | None = None  # the right answer, as a tester marked it

    @property
    def screenshot(self) -> MediaRef | None:
        """The screen the answer acts on, which it is scored, drawn and exported on: the
        turn's last image. The official agent sends one screenshot per step, the screen as
        it is now, after every earlier step; the model's coordinates are relative to it. A
        turn of several images reads the same way, in order: the last is the screen now,
        the ones before it are where the phone was earlier."""
        return self.images[-1] if self.images else None

    def as_turn(self, images: list[str], audio: str | None) -> Turn:
        """The page's view of this turn, with media at the given local paths. A step not
        answered yet is a question waiting for its answer."""
        status = TurnStatus.WAITING if self.status is RecordStatus.PENDING else self.status.value
        return Turn(
            text=self.text,
            images=images,
            audio=audio,
            reasoning=self.reasoning,
            answer=self.answer,
            status=TurnStatus(status),
            error=self.error,
            metrics=self.metrics.as_metrics(self.model, self.precision) if self.metrics else None,
            reasoning_seconds=self.reasoning_seconds,
            record_id=self.id,
        )


@dataclass(frozen=True)
class SessionRecord:
    id: str
    created_at: datetime
    title: str  # the first question, shortened
    replay_of: str | None = None  # the session this one replayed
    turns: tuple[TurnRecord, ...] = ()
    # Set: the session is a multi-step episode of this task. Its turns, in `seq` order, are
    # the steps, each asked with its screenshot the way the official agent asks (replay.py).
    task: str | None = None

    @property
    def is_episode(self) -> bool:
        return self.task is not None


@dataclass(frozen=True)
class SessionSummary:
    """One line of the QA tab's session list."""

    id: str
    created_at: datetime
    title: str
    replay_of: str | None
    turns: int
    models: tuple[str, ...]
    precisions: tuple[str, ...]
    good: int
    bad: int
    task: str | None = None  # set: the session is a multi-step episode


class RatingFilter(str, Enum):
    GOOD = "good"  # at least one answer rated good
    BAD = "bad"  # at least one answer rated bad
    UNRATED = "unrated"  # no answer rated at all


@dataclass(frozen=True)
class SessionFilter:
    since: date | None = None  # first day included (UTC)
    until: date | None = None  # last day included (UTC)
    model: str | None = None
    precision: str | None = None
    rating: RatingFilter | None = None


def title_of(text: str, limit: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
