"""The one dict shape of QA records, used by the database (`store.py`) and the export
files (`export.py`) alike, so the two cannot drift apart.

Values are plain JSON types, except timestamps, which stay datetimes: the database stores
them as such, and the JSON files write them in ISO 8601 (`json_default`). Reading accepts
either, and refuses a timestamp without a time zone. A missing field raises KeyError, an
unknown value ValueError, a malformed one TypeError: the readers say which line or row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from autoglm_demo.qa.records import (
    Feedback,
    MediaKind,
    MediaRef,
    Rating,
    RecordedMetrics,
    RecordedOptions,
    RecordStatus,
    SessionRecord,
    TurnRecord,
)


def session_to_dict(session: SessionRecord) -> dict[str, Any]:
    """The session without its turns."""
    return {
        "id": session.id,
        "created_at": session.created_at,
        "title": session.title,
        "replay_of": session.replay_of,
    }


def session_from_dict(data: Mapping[str, Any], turns: tuple[TurnRecord, ...] = ()) -> SessionRecord:
    return SessionRecord(
        data["id"], timestamp(data["created_at"]), data["title"], data.get("replay_of"), turns
    )


def turn_to_dict(record: TurnRecord) -> dict[str, Any]:
    """The turn with its media references and feedback; the session it belongs to is the
    caller's to keep (a column in the database, the first line of an export)."""
    return {
        "id": record.id,
        "seq": record.seq,
        "created_at": record.created_at,
        "text": record.text,
        "images": [media_to_dict(ref) for ref in record.images],
        "audio": media_to_dict(record.audio) if record.audio else None,
        "system_prompt": record.system_prompt,
        "context": list(record.context),
        "model": record.model,
        "precision": record.precision,
        "options": options_to_dict(record.options),
        "status": record.status.value,
        "reasoning": record.reasoning,
        "answer": record.answer,
        "error": record.error,
        "metrics": metrics_to_dict(record.metrics),
        "reasoning_seconds": record.reasoning_seconds,
        "feedback": feedback_to_dict(record.feedback) if record.feedback else None,
        "replay_of": record.replay_of,
    }


def turn_from_dict(data: Mapping[str, Any], session_id: str) -> TurnRecord:
    audio, feedback = data["audio"], data["feedback"]
    return TurnRecord(
        id=data["id"],
        session_id=session_id,
        seq=int(data["seq"]),
        created_at=timestamp(data["created_at"]),
        text=data["text"],
        images=tuple(media_from_dict(ref) for ref in data["images"]),
        audio=media_from_dict(audio) if audio else None,
        system_prompt=data["system_prompt"],
        context=tuple(data["context"]),
        model=data["model"],
        precision=data["precision"],
        options=options_from_dict(data["options"]),
        status=RecordStatus(data["status"]),
        reasoning=data["reasoning"],
        answer=data["answer"],
        error=data["error"],
        metrics=metrics_from_dict(data["metrics"]),
        reasoning_seconds=data["reasoning_seconds"],
        feedback=feedback_from_dict(feedback) if feedback else None,
        replay_of=data.get("replay_of"),
    )


def media_to_dict(ref: MediaRef) -> dict[str, Any]:
    return {
        "kind": ref.kind.value,
        "name": ref.name,
        "sha256": ref.sha256,
        "mime": ref.mime,
        "size": ref.size,
    }


def media_from_dict(data: Mapping[str, Any]) -> MediaRef:
    return MediaRef(
        MediaKind(data["kind"]), data["name"], data["sha256"], data["mime"], data["size"]
    )


def feedback_to_dict(feedback: Feedback) -> dict[str, Any]:
    return {
        "rating": feedback.rating.value,
        "comment": feedback.comment,
        "updated_at": feedback.updated_at,
    }


def feedback_from_dict(data: Mapping[str, Any]) -> Feedback:
    return Feedback(Rating(data["rating"]), data["comment"], timestamp(data["updated_at"]))


def options_to_dict(options: RecordedOptions) -> dict[str, Any]:
    return {**dataclasses.asdict(options), "stop": list(options.stop)}


def options_from_dict(data: Mapping[str, Any]) -> RecordedOptions:
    return RecordedOptions(**{**data, "stop": tuple(data.get("stop") or ())})


# Every measurement a record has; a field missing from older data reads as not measured.
_METRIC_FIELDS = tuple(field.name for field in dataclasses.fields(RecordedMetrics))


def metrics_to_dict(metrics: RecordedMetrics | None) -> dict[str, Any] | None:
    return dataclasses.asdict(metrics) if metrics is not None else None


def metrics_from_dict(data: Mapping[str, Any] | None) -> RecordedMetrics | None:
    if data is None:
        return None
    return RecordedMetrics(**{name: data.get(name) for name in _METRIC_FIELDS})


def timestamp(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return moment


def json_default(value: object) -> str:
    """`json.dumps`'s hook for the one non-JSON value of the shape: timestamps."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
