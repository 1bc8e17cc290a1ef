"""Parse AutoGLM phone actions out of an answer.

AutoGLM-Phone answers with calls such as ``do(action="Tap", element=[500,120])`` or
``finish(message="Done")``; coordinates are relative, 0-1000 on each axis. The parser is
pure and forgiving: the model's output is untrusted text, so anything that does not parse
is skipped rather than raised, and the page still shows the answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

# One call: do(...) or finish(...). Arguments are key=value pairs whose values are quoted
# strings or [x, y] lists; a quoted string may contain ")" so the call ends at the first
# ")" that is not inside quotes.
_CALL = re.compile(r"\b(do|finish)\s*\(((?:\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^()\"'])*)\)")
_ARG = re.compile(
    r"(\w+)\s*=\s*(?:\"((?:[^\"\\]|\\.)*)\"|'((?:[^'\\]|\\.)*)'|\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\])"
)
_ESCAPE = re.compile(r"\\(.)")

Point = tuple[float, float]

# Actions whose target is one point (element=[x, y]).
POINT_ACTIONS = frozenset({"Tap", "Long Press", "Double Tap"})


@dataclass(frozen=True)
class Action:
    """One parsed call. `name` is the action ("Tap", "Swipe", …) or "finish"."""

    name: str
    point: Point | None = None
    end: Point | None = None
    text: str | None = None
    extras: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """A short caption for the overlay: the action and its text argument, if any."""
        return f"{self.name}: {self.text}" if self.text else self.name


def parse_actions(answer: str) -> list[Action]:
    """Every well-formed action in `answer`, in order; never raises."""
    actions: list[Action] = []
    for match in _CALL.finditer(answer):
        action = _build(match.group(1), _arguments(match.group(2)))
        if action is not None:
            actions.append(action)
    return actions


def _arguments(text: str) -> dict[str, str | Point]:
    values: dict[str, str | Point] = {}
    for match in _ARG.finditer(text):
        key, double, single, x, y = match.groups()
        if x is not None:
            values[key] = (float(x), float(y))
        else:
            values[key] = _ESCAPE.sub(r"\1", double if double is not None else single)
    return values


def _build(call: str, args: dict[str, str | Point]) -> Action | None:
    strings = {k: v for k, v in args.items() if isinstance(v, str)}
    points = {k: v for k, v in args.items() if isinstance(v, tuple)}
    if call == "finish":
        return Action("finish", text=strings.get("message"))
    name = strings.pop("action", None)
    if not name:
        return None
    text = strings.pop("text", None) or strings.pop("app", None) or strings.pop("message", None)
    point = points.get("element") or points.get("start")
    end = points.get("end")
    if name in POINT_ACTIONS and point is None:
        return None  # a tap without a target cannot be drawn or replayed
    if name == "Swipe" and (point is None or end is None):
        return None
    return Action(name, point=point, end=end, text=text, extras=strings)


def format_action(action: Action) -> str:
    """The call as the model writes it; the inverse of `parse_actions` for one action."""
    if action.name == "finish":
        return f'finish(message="{_quote(action.text or "")}")'
    parts = [f'action="{_quote(action.name)}"']
    if action.name == "Swipe" and action.point and action.end:
        parts += [f"start={_point(action.point)}", f"end={_point(action.end)}"]
    elif action.point:
        parts.append(f"element={_point(action.point)}")
    if action.text is not None:
        key = "app" if action.name == "Launch" else "text"
        parts.append(f'{key}="{_quote(action.text)}"')
    parts += [f'{k}="{_quote(v)}"' for k, v in action.extras.items()]
    return f"do({', '.join(parts)})"


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _point(point: Point) -> str:
    return "[" + ",".join(f"{v:g}" for v in point) + "]"


# --- checking an answer against the grammar ------------------------------------------------

# The actions AutoGLM-Phone-9B was trained on, with the arguments each one needs.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "Launch": ("app",),
    "Tap": ("element",),
    "Double Tap": ("element",),
    "Long Press": ("element",),
    "Swipe": ("start", "end"),
    "Type": ("text",),
    "Type_Name": ("text",),
    "Back": (),
    "Home": (),
    "Wait": (),
    "Take_over": (),
    "Note": (),
    "Call_API": (),
    "Interact": (),
}
# Every name a do(action=…) call may have; finish(…) is the one other call.
ACTION_NAMES = tuple(_REQUIRED)
_POINT_ARGS = ("element", "start", "end")
_CALL_START = re.compile(r"\b(do|finish)\(")


class Problem(Enum):
    """How an answer breaks the grammar. Each comes with the facts it names (all text); the
    page words them in its language, `PROBLEM_REASONS` in English."""

    TEXT_BEFORE = "text_before"
    NOT_CLOSED = "not_closed"
    TEXT_AFTER = "text_after"
    NO_MESSAGE = "no_message"  # finish(…) without message="…"
    NO_ACTION_NAME = "no_action_name"  # do(…) without action="…"
    UNKNOWN_ACTION = "unknown_action"  # action: the name
    MISSING_ARGUMENT = "missing_argument"  # action, argument: the names
    NOT_A_POINT = "not_a_point"  # argument: the name of one that must be [x,y]
    OUT_OF_RANGE = "out_of_range"  # argument: the name of a point outside 0-1000
    DOES_NOT_FIT = "does_not_fit"


# The problems in English: the `reason` of the API's action info and of the QA report.
PROBLEM_REASONS = {
    Problem.TEXT_BEFORE: "text before the action",
    Problem.NOT_CLOSED: "the call is not closed",
    Problem.TEXT_AFTER: "text after the action",
    Problem.NO_MESSAGE: 'finish needs message="…"',
    Problem.NO_ACTION_NAME: 'do needs action="…"',
    Problem.UNKNOWN_ACTION: "unknown action {action!r}",
    Problem.MISSING_ARGUMENT: "{action} needs {argument}",
    Problem.NOT_A_POINT: "{argument} must be [x,y]",
    Problem.OUT_OF_RANGE: "{argument} is outside 0-1000",
    Problem.DOES_NOT_FIT: "arguments do not fit the action",
}


@dataclass(frozen=True)
class Verdict:
    """What an answer is, for the badge under it: one valid action, no action, or an
    action that breaks the grammar (`problem` says how). Only a valid one is drawn."""

    kind: Literal["valid", "not_action", "malformed"]
    action: Action | None = None
    problem: Problem | None = None
    facts: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def malformed(cls, problem: Problem, **facts: str) -> Verdict:
        return cls("malformed", problem=problem, facts=facts)

    @property
    def reason(self) -> str:
        """The problem in English; "" for an answer that has none."""
        return PROBLEM_REASONS[self.problem].format_map(self.facts) if self.problem else ""


def check_answer(answer: str) -> Verdict:
    """The answer checked as AutoGLM's agent reads it: exactly one call, nothing around it."""
    text = answer.strip()
    start = _CALL_START.search(text)
    if start is None:
        return Verdict("not_action")
    if start.start() > 0:
        return Verdict.malformed(Problem.TEXT_BEFORE)
    call = _CALL.match(text)
    if call is None:
        return Verdict.malformed(Problem.NOT_CLOSED)
    if text[call.end() :].strip():
        return Verdict.malformed(Problem.TEXT_AFTER)
    args = _arguments(call.group(2))
    broken = _grammar_problem(call.group(1), args)
    if broken:
        return broken
    action = _build(call.group(1), args)
    if action is None:  # every case _build refuses is named above; kept as a safety net
        return Verdict.malformed(Problem.DOES_NOT_FIT)
    return Verdict("valid", action)


def _grammar_problem(call: str, args: dict[str, str | Point]) -> Verdict | None:
    if call == "finish":
        return (
            None if isinstance(args.get("message"), str) else Verdict.malformed(Problem.NO_MESSAGE)
        )
    name = args.get("action")
    if not isinstance(name, str):
        return Verdict.malformed(Problem.NO_ACTION_NAME)
    if name not in _REQUIRED:
        return Verdict.malformed(Problem.UNKNOWN_ACTION, action=name)
    for needed in _REQUIRED[name]:
        if needed not in args:
            return Verdict.malformed(Problem.MISSING_ARGUMENT, action=name, argument=needed)
    for key in _POINT_ARGS:
        value = args.get(key)
        if key in _REQUIRED[name] and not isinstance(value, tuple):
            return Verdict.malformed(Problem.NOT_A_POINT, argument=key)
        if isinstance(value, tuple) and not all(0 <= v <= 1000 for v in value):
            return Verdict.malformed(Problem.OUT_OF_RANGE, argument=key)
    return None
