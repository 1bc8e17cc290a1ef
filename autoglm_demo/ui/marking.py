"""Marking the right answer on a screenshot with clicks: what the clicks so far make.

A tester picks the expected action and, for one that lands somewhere, clicks on the
screenshot: once for a point, twice (two opposite corners) for a box; a Swipe needs its
start and then its end, each a point or a box. Gradio's image reports a click as the pixel
of the image that was clicked, so each click is turned into AutoGLM's 0-1000 coordinates
at once, and the draft never depends on how large the image was shown. No Gradio here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from autoglm_demo.actions import Point
from autoglm_demo.qa.media import MediaFolder
from autoglm_demo.qa.records import RecordStatus, TurnRecord
from autoglm_demo.scoring import (
    TEXT_ACTIONS,
    Region,
    Score,
    Target,
    needs_point,
    score_answer,
)
from autoglm_demo.ui.overlay import RELATIVE_SCALE

# The actions a tester can mark, in the order the picker lists them.
MARKABLE_ACTIONS = (
    "Tap",
    "Long Press",
    "Double Tap",
    "Swipe",
    "Type",
    "Launch",
    "Back",
    "Home",
    "Wait",
    "finish",
)


class Shape(str, Enum):
    POINT = "point"  # within the tolerance of one spot
    BOX = "box"  # anywhere inside a rectangle


def to_relative(pixel: tuple[float, float], size: tuple[int, int]) -> Point:
    """A pixel of an image of `size` in 0-1000 coordinates; the inverse of
    `overlay.to_pixels`, so a marked point is drawn on the pixel that was clicked."""
    width, height = size
    x = pixel[0] / max(width - 1, 1) * RELATIVE_SCALE
    y = pixel[1] / max(height - 1, 1) * RELATIVE_SCALE
    return (
        round(min(max(x, 0), RELATIVE_SCALE)),
        round(min(max(y, 0), RELATIVE_SCALE)),
    )


@dataclass(frozen=True)
class Draft:
    """A mark being made: the action, the shape of its places, and the clicks so far."""

    action: str = "Tap"
    shape: Shape = Shape.BOX
    clicks: tuple[Point, ...] = ()

    @property
    def places(self) -> int:
        """How many places the action needs: a Swipe's start and end, a tap's one, or none."""
        if self.action == "Swipe":
            return 2
        return 1 if needs_point(self.action) else 0

    @property
    def needed(self) -> int:
        """Clicks that complete the mark."""
        return self.places * (2 if self.shape is Shape.BOX else 1)

    @property
    def complete(self) -> bool:
        return len(self.clicks) == self.needed

    def click(self, point: Point) -> Draft:
        """The draft with one more click; a click after a complete mark starts a new one."""
        if not self.needed:
            return self
        clicks = (point,) if self.complete else (*self.clicks, point)
        return Draft(self.action, self.shape, clicks)

    def regions(self) -> list[Region]:
        """The places the clicks so far make (a box needs both its corners)."""
        per_place = 2 if self.shape is Shape.BOX else 1
        groups = [
            self.clicks[i : i + per_place]
            for i in range(0, len(self.clicks) - per_place + 1, per_place)
        ]
        if self.shape is Shape.BOX:
            return [Region.box(a, b) for a, b in groups]
        return [Region.point(*group[0]) for group in groups]

    def target(self, text: str | None) -> Target | None:
        """The finished mark, or None while clicks are missing. Type and Launch are scored
        on their text too, so they need one; a finish message is kept but not compared."""
        if not self.complete:
            return None
        text = (text or "").strip() or None
        if self.action in TEXT_ACTIONS and text is None:
            return None
        regions = self.regions()
        start = regions[0] if regions else None
        end = regions[1] if len(regions) > 1 else None
        return Target(self.action, start, end, text)

    def preview(self, text: str | None) -> Target | None:
        """What to draw while marking: the places clicked so far, as a target."""
        regions = self.regions()
        return Target(
            self.action,
            regions[0] if regions else None,
            regions[1] if len(regions) > 1 else None,
            (text or "").strip() or None,
        )


def draft_of(target: Target | None) -> Draft:
    """A draft holding an existing mark, so that it shows, and a new click replaces it."""
    if target is None:
        return Draft()
    regions = [region for region in (target.start, target.end) if region is not None]
    boxed = any(not region.is_point for region in regions)
    clicks: list[Point] = []
    for region in regions:
        clicks.append((region.x1, region.y1))
        if boxed:
            clicks.append((region.x2, region.y2))
    return Draft(target.action, Shape.BOX if boxed else Shape.POINT, tuple(clicks))


def missing(draft: Draft, text: str | None) -> list[str]:
    """The text keys of what the mark still needs (to be joined), or [] when it can be
    saved: which place of a Swipe is next, and which click it wants."""
    if len(draft.clicks) < draft.needed:
        per_place = 2 if draft.shape is Shape.BOX else 1
        place, click = divmod(len(draft.clicks), per_place)
        wanted = (
            ("mark_need_corner_1", "mark_need_corner_2")[click]
            if per_place == 2
            else ("mark_need_point")
        )
        if draft.action == "Swipe":
            return [("mark_swipe_start", "mark_swipe_end")[place], wanted]
        return [wanted]
    if draft.action in TEXT_ACTIONS and not (text or "").strip():
        return ["mark_need_text"]
    return []


def score_recorded(record: TurnRecord, media: MediaFolder, tolerance: float) -> Score | None:
    """A recorded answer scored against its turn's mark, on the screen `qa.evaluate` scores
    it on too; None for a turn not marked, or an episode's step no model has answered yet."""
    if record.target is None or record.status is RecordStatus.PENDING:
        return None
    return score_answer(record.answer, record.target, media.screen_size(record), tolerance)
