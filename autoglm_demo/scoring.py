"""Scoring a predicted action against the action a tester marked as right.

A tester marks the right answer for a screenshot as a `Target`: the expected action, where
it must land (a box, or a point with a tolerance) and, for Type and Launch, its text. An
answer scores a hit when it is one valid action (`actions.check_answer`) of the expected
kind that lands on the target. Coordinates are AutoGLM's: 0-1000 on each axis of the
screen, so a distance only means something in pixels, on the screen the model was shown.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from autoglm_demo.actions import POINT_ACTIONS, Action, Point, Problem, check_answer

# A point within this share of the screen's diagonal of a marked point is on target.
DEFAULT_TOLERANCE = 0.05

# Actions whose text argument must match too; a finish message is free text.
TEXT_ACTIONS = frozenset({"Type", "Type_Name", "Launch"})


@dataclass(frozen=True)
class Region:
    """Where a point must land: a box, or a single point when the corners are equal."""

    x1: float
    y1: float
    x2: float
    y2: float

    @classmethod
    def point(cls, x: float, y: float) -> Region:
        return cls(x, y, x, y)

    @classmethod
    def box(cls, a: Point, b: Point) -> Region:
        """The box with corners `a` and `b`, whichever way it was dragged."""
        return cls(min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1]))

    @property
    def is_point(self) -> bool:
        return self.x1 == self.x2 and self.y1 == self.y2

    @property
    def centre(self) -> Point:
        return ((self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2)


@dataclass(frozen=True)
class Target:
    """The right action for one screenshot. `start` is where a Tap, Long Press or Double
    Tap lands, or where a Swipe starts; `end` is where a Swipe ends."""

    action: str  # an action name as the model writes it ("Tap", "Swipe", …) or "finish"
    start: Region | None = None
    end: Region | None = None
    text: str | None = None


class Miss(Enum):
    """Why an answer missed. Each comes with the facts it names (`Score.facts`, all text);
    the page and the report word them, each in its own language."""

    NO_ACTION = "no_action"  # the answer holds no action
    MALFORMED = "malformed"  # `Score.problem` says how it breaks the grammar, with its facts
    WRONG_ACTION = "wrong_action"  # got, expected: the two action names
    WRONG_TEXT = "wrong_text"  # got, expected: the two texts (Type, Launch)
    NO_START = "no_start"  # the action says nowhere where it lands or starts
    NO_END = "no_end"  # the action says nowhere where it ends
    START_OFF = "start_off"  # where it lands or starts is off the marked target
    END_OFF = "end_off"  # where it ends is off the marked target
    FAILED = "failed"  # error: the backend's message, when no answer came at all


@dataclass(frozen=True)
class Score:
    hit: bool
    miss: Miss | None = None  # why it missed, for the ✗ on the turn; None for a hit
    facts: Mapping[str, str] = field(default_factory=dict)
    problem: Problem | None = None  # a malformed answer's (`actions.check_answer`)

    @classmethod
    def missed(cls, why: Miss, **facts: str) -> Score:
        return cls(False, why, facts)


def score_answer(
    answer: str,
    target: Target,
    screen: tuple[int, int] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Score:
    """Score a model's whole answer; anything but one valid action is a miss.
    `screen` is the screenshot's (width, height) in pixels; None counts it as square."""
    verdict = check_answer(answer)
    if verdict.kind == "not_action":
        return Score.missed(Miss.NO_ACTION)
    if verdict.action is None:
        return Score(False, Miss.MALFORMED, verdict.facts, verdict.problem)
    return score_action(verdict.action, target, screen, tolerance)


def score_action(
    action: Action,
    target: Target,
    screen: tuple[int, int] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Score:
    if action.name != target.action:
        return Score.missed(Miss.WRONG_ACTION, got=action.name, expected=target.action)
    if target.action in TEXT_ACTIONS and _normal(action.text) != _normal(target.text):
        return Score.missed(Miss.WRONG_TEXT, got=action.text or "", expected=target.text or "")
    # Each place the target marks, with the misses of an answer that lacks it or is off.
    places = (
        (action.point, target.start, Miss.NO_START, Miss.START_OFF),
        (action.end, target.end, Miss.NO_END, Miss.END_OFF),
    )
    for point, region, absent, off in places:
        if region is None:
            continue
        if point is None:
            return Score.missed(absent)
        if not lands_on(point, region, screen or (1, 1), tolerance):
            return Score.missed(off)
    return Score(True)


def lands_on(point: Point, region: Region, screen: tuple[int, int], tolerance: float) -> bool:
    """Inside the box, or within `tolerance` of the screen's diagonal of a marked point."""
    if not region.is_point:
        return region.x1 <= point[0] <= region.x2 and region.y1 <= point[1] <= region.y2
    width, height = screen
    dx = (point[0] - region.x1) / 1000 * width
    dy = (point[1] - region.y1) / 1000 * height
    return math.hypot(dx, dy) <= tolerance * math.hypot(width, height)


def _normal(text: str | None) -> str:
    """Text as compared: Unicode-normalised (full-width forms too), case and spacing ignored."""
    return " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())


def needs_point(action: str) -> bool:
    """Whether a target for `action` must say where it lands."""
    return action in POINT_ACTIONS or action == "Swipe"


@dataclass(frozen=True)
class Tally:
    """Hits out of scored answers, with a 95% Wilson score interval for the share."""

    hits: int
    total: int

    @property
    def share(self) -> float | None:
        return self.hits / self.total if self.total else None

    def interval(self, z: float = 1.959964) -> tuple[float, float] | None:
        # Wilson's interval stays inside [0, 1] and is sound for the small counts a manual
        # QA session has, where the normal approximation is not.
        if not self.total:
            return None
        n, p = self.total, self.hits / self.total
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return max(0.0, centre - half), min(1.0, centre + half)
