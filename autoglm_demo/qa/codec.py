"""The one dict shape of QA records, used by the database (`store.py`) and the export
files (`export.py`) alike, so the two cannot drift apart.

Values are plain JSON types, except timestamps, which stay datetimes: the database stores
them as such, and the JSON files write them in ISO 8601 (`json_default`). Reading accepts
either, and refuses a timestamp without a time zone. A missing field raises KeyError, an
unknown value ValueError, a malformed one TypeError: the readers say which line or row.

Fields added after the first version (a session's `task`, a turn's `target`) are written
only when set, so a session that has neither is written exactly as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from autoglm_demo.actions import ACTION_NAMES, POINT_ACTIONS
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
from autoglm_demo.scoring import TEXT_ACTIONS, Region, Target

TARGET_ACTIONS = frozenset({*ACTION_NAMES, "finish"})
MAX_TARGET_TEXT = 2000  # characters; a Type target is a search term or a message, not a page
_TARGET_KEYS = frozenset({"action", "start", "end", "text"})


def session_to_dict(session: SessionRecord) -> dict[str, Any]:
    """The session without its turns."""
    data = {
        "id": session.id,
        "created_at": session.created_at,
        "title": session.title,
        "replay_of": session.replay_of,
    }
    if session.task is not None:
        data["task"] = session.task
    return data


def session_from_dict(data: Mapping[str, Any], turns: tuple[TurnRecord, ...] = ()) -> SessionRecord:
    task = data.get("task")
    if task is not None and not isinstance(task, str):
        raise TypeError(f"task must be text, not {type(task).__name__}")
    return SessionRecord(
        data["id"],
        timestamp(data["created_at"]),
        data["title"],
        data.get("replay_of"),
        turns,
        task,
    )


def turn_to_dict(record: TurnRecord) -> dict[str, Any]:
    """The turn with its media references and feedback; the session it belongs to is the
    caller's to keep (a column in the database, the first line of an export)."""
    data = {
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
    if record.target is not None:
        data["target"] = target_to_dict(record.target)
    return data


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
        target=target_from_dict(data.get("target")),
    )


def target_to_dict(target: Target) -> dict[str, Any]:
    """`{"action", "start", "end", "text"}`, regions as [x1, y1, x2, y2] in 0-1000."""
    return {
        "action": target.action,
        "start": _region_to_list(target.start),
        "end": _region_to_list(target.end),
        "text": target.text,
    }


def target_from_dict(data: Any) -> Target | None:
    """A marked target, checked: it comes from a file or a database anyone may have edited,
    and a target that cannot be hit, or that any answer hits, would falsify the scores."""
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise TypeError(f"target must be an object, not {type(data).__name__}")
    unknown = sorted(set(data) - _TARGET_KEYS)
    if unknown:
        raise ValueError(f"target: unknown field {_shown(unknown[0])}")
    action = data.get("action")
    if action not in TARGET_ACTIONS:
        raise ValueError(f"target: unknown action {_shown(action)}")
    text = data.get("text")
    if text is not None and not isinstance(text, str):
        raise TypeError(f"target: text must be text, not {type(text).__name__}")
    if text is not None and len(text) > MAX_TARGET_TEXT:
        raise ValueError(f"target: text is longer than {MAX_TARGET_TEXT} characters")
    target = Target(
        action, _region(data.get("start"), "start"), _region(data.get("end"), "end"), text
    )
    _check_parts(target)
    return target


def _check_parts(target: Target) -> None:
    """Each action's target has the parts that action has, and no others."""
    takes_start = target.action in POINT_ACTIONS or target.action == "Swipe"
    takes_end = target.action == "Swipe"
    if takes_start != (target.start is not None):
        raise ValueError(
            f"target: {target.action} "
            + ("needs a start point or box" if takes_start else "takes no point")
        )
    if takes_end != (target.end is not None):
        raise ValueError(
            f"target: {target.action} " + ("needs an end point" if takes_end else "has no end")
        )
    if target.action in TEXT_ACTIONS and not (target.text or "").strip():
        raise ValueError(f"target: {target.action} needs its text")


def _region_to_list(region: Region | None) -> list[float] | None:
    return None if region is None else [region.x1, region.y1, region.x2, region.y2]


def _region(value: Any, where: str) -> Region | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 4:
        raise ValueError(f"target: {where} must be [x1, y1, x2, y2]")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise TypeError(f"target: {where} must hold numbers")
    if not all(0 <= v <= 1000 for v in value):  # also refuses NaN, which compares false
        raise ValueError(f"target: {where} is outside 0-1000")
    x1, y1, x2, y2 = value
    if x1 > x2 or y1 > y2:
        raise ValueError(f"target: {where} corners are not in order (x1 <= x2, y1 <= y2)")
    return Region(x1, y1, x2, y2)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


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
