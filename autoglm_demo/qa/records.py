"""What a QA session is made of, as plain typed values.

A `TurnRecord` is one answered question as the page saw it: the inputs (with references to
their images and audio), what was asked of which model, what came back, and the tester's
feedback. It mirrors the page's `Turn`, plus the request and the record's identity. The
store, the exports and replay all speak in these values; none of them touches the page.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import Enum
from typing import Any

from autoglm_demo.client import ChatOptions
from autoglm_demo.ui.conversation import Status, Turn
from autoglm_demo.ui.metrics import Metrics


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
    options: ChatOptions
    # What came back.
    status: Status
    reasoning: str
    answer: str
    error: str | None
    metrics: Metrics | None
    reasoning_seconds: float | None
    feedback: Feedback | None = None
    replay_of: str | None = None  # the turn this one re-ran

    def as_turn(self, images: list[str], audio: str | None) -> Turn:
        """The page's view of this turn, with media at the given local paths."""
        return Turn(
            text=self.text,
            images=images,
            audio=audio,
            reasoning=self.reasoning,
            answer=self.answer,
            status=self.status,
            error=self.error,
            metrics=self.metrics,
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


# Options and metrics travel as JSON (a database column, an export file). These are their
# one JSON shape; model and precision are the record's own fields, so metrics leave them out.


def options_to_json(options: ChatOptions) -> dict[str, Any]:
    return dataclasses.asdict(options)


def options_from_json(data: dict[str, Any]) -> ChatOptions:
    return ChatOptions(**{**data, "stop": list(data.get("stop") or [])})


# Every measurement Metrics has; a field missing from older data reads as not measured.
_METRIC_FIELDS = tuple(
    f.name for f in dataclasses.fields(Metrics) if f.name not in ("model", "precision")
)


def metrics_to_json(metrics: Metrics | None) -> dict[str, Any] | None:
    if metrics is None:
        return None
    return {name: getattr(metrics, name) for name in _METRIC_FIELDS}


def metrics_from_json(
    data: dict[str, Any] | None, model: str, precision: str | None
) -> Metrics | None:
    if data is None:
        return None
    return Metrics(
        model=model, precision=precision, **{name: data.get(name) for name in _METRIC_FIELDS}
    )
