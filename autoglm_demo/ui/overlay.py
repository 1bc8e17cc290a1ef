"""Draw parsed AutoGLM actions on the screenshot they refer to.

Coordinates in actions are 0-1000 on each axis, whatever the screen's size, so the pixel
position is `value / 1000 * (size - 1)` per axis. Taps are rings, swipes are arrows, and
every action gets a label so actions without a position (Back, Type…) still show up.
"""

from __future__ import annotations

import math
import uuid
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from autoglm_demo.actions import Action, Point, check_answer
from autoglm_demo.answering import OverlayHook
from autoglm_demo.conversation import Turn, is_url

MARK_COLOUR = (230, 30, 60)  # a red that stands out on the light and dark screens phones use
LABEL_BACKGROUND = (20, 20, 20)
LABEL_TEXT = (255, 255, 255)
RELATIVE_SCALE = 1000


def to_pixels(point: Point, size: tuple[int, int]) -> tuple[int, int]:
    """Map a 0-1000 relative point to a pixel inside an image of `size` (clamped)."""
    width, height = size
    x = min(max(point[0], 0), RELATIVE_SCALE) / RELATIVE_SCALE * (width - 1)
    y = min(max(point[1], 0), RELATIVE_SCALE) / RELATIVE_SCALE * (height - 1)
    return round(x), round(y)


def draw_actions(screenshot: Image.Image, actions: list[Action]) -> Image.Image:
    """A copy of `screenshot` with every action drawn on it."""
    canvas = screenshot.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    unit = max(4, min(canvas.size) // 40)  # marks scale with the screen, not fixed pixels
    font = _font(unit * 2)
    label_top = unit
    for number, action in enumerate(actions, start=1):
        caption = f"{number}. {action.label}"
        if action.point is not None:
            start = to_pixels(action.point, canvas.size)
            _ring(draw, start, unit, double=action.name == "Double Tap")
            if action.end is not None:
                _arrow(draw, start, to_pixels(action.end, canvas.size), unit)
            _label(draw, (start[0] + unit * 2, start[1] - unit), caption, font)
        else:
            # Actions without a place (Back, Home, Type, finish…) stack in the top-left corner.
            _label(draw, (unit, label_top), caption, font)
            label_top += unit * 3
    return canvas


def save_overlay(screenshot_path: str | Path, actions: list[Action], target: Path) -> Path:
    with Image.open(screenshot_path) as screenshot:
        draw_actions(screenshot, actions).save(target, format="PNG")
    return target


def overlay_hook(folder: Path) -> OverlayHook:
    """`stream_answer`'s overlay hook: draws each finished answer's actions into `folder`."""

    def draw(turn: Turn) -> str | None:
        """The turn's last screenshot with the answer's action drawn on it, if the answer is
        a valid action (the badge's verdict: a malformed one is not drawn) and there is one.
        A screenshot given by URL is not drawn on: the page never fetches URLs itself."""
        verdict = check_answer(turn.answer)
        if verdict.action is None or not turn.images or is_url(turn.images[-1]):
            return None
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"actions-{uuid.uuid4().hex}.png"
        return str(save_overlay(turn.images[-1], [verdict.action], target))

    return draw


def _ring(draw: ImageDraw.ImageDraw, centre: tuple[int, int], unit: int, *, double: bool) -> None:
    x, y = centre
    radii = (unit * 2, unit * 3) if double else (unit * 2,)
    for radius in radii:
        draw.ellipse(
            (x - radius, y - radius, x + radius, y + radius),
            outline=MARK_COLOUR,
            width=max(2, unit // 2),
        )
    draw.ellipse((x - unit // 2, y - unit // 2, x + unit // 2, y + unit // 2), fill=MARK_COLOUR)


def _arrow(
    draw: ImageDraw.ImageDraw, start: tuple[int, int], end: tuple[int, int], unit: int
) -> None:
    draw.line((start, end), fill=MARK_COLOUR, width=max(2, unit // 2))
    angle = math.atan2(end[1] - start[1], end[0] - start[0])
    head = unit * 2
    wings = [
        (end[0] - head * math.cos(angle + turn), end[1] - head * math.sin(angle + turn))
        for turn in (math.pi / 6, -math.pi / 6)
    ]
    draw.polygon([end, *wings], fill=MARK_COLOUR)


def _label(
    draw: ImageDraw.ImageDraw,
    corner: tuple[int, int],
    text: str,
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
) -> None:
    left, top, right, bottom = draw.textbbox(corner, text, font=font)
    pad = 4
    draw.rectangle((left - pad, top - pad, right + pad, bottom + pad), fill=LABEL_BACKGROUND)
    draw.text(corner, text, fill=LABEL_TEXT, font=font)


# Labels may quote Chinese text (Type "设置"), which Pillow's bundled font cannot draw; a
# CJK system font is used when one is installed. Pillow looks these names up in the system
# font folders itself.
_CJK_FONTS = ("NotoSansCJK-Regular.ttc", "NotoSerifCJK-Regular.ttc", "wqy-microhei.ttc")


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    for name in _CJK_FONTS:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)
