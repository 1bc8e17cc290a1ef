"""Drawing phone screens with Pillow, and remembering where each element was drawn.

The example screenshot (example_screenshot.py) and the episode set (episode_set.py) are
drawn with these parts. A `Screen` records the pixel box of every element it draws under a
name, so a test or a gold action can point at it without measuring the picture again.
Text is set in Noto Sans CJK SC (Debian's fonts-noto-cjk), which has both Chinese and Latin
glyphs, so the same code draws both languages and the pictures are the same on every run.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SIZE = (720, 1600)  # a common 9:20 phone aspect ratio at a size cheap to send
SCALE = 1000  # AutoGLM's coordinates: 0-1000 on each axis of the screen

BACKGROUND = (247, 248, 252)
TEXT = (30, 32, 38)
MUTED = (110, 114, 124)
FIELD = (232, 234, 242)
ACCENT = (26, 115, 232)
WHITE = (255, 255, 255)

_FONT_FILE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
_FONT_FACE = "Noto Sans CJK SC"

Colour = tuple[int, int, int]
Box = tuple[int, int, int, int]  # pixels: left, top, right, bottom


@functools.cache
def _font_file() -> tuple[Path, int]:
    """The Noto Sans CJK collection and the index of its Simplified Chinese face."""
    path = _FONT_FILE
    if not path.is_file() and shutil.which("fc-match"):
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", _FONT_FACE], capture_output=True, text=True
        ).stdout
        path = Path(found)
    if not path.is_file():
        raise FileNotFoundError(f"{_FONT_FACE} not found: install Debian's fonts-noto-cjk")
    for index in range(8):  # the collection holds one face per region; pick SC by name
        try:
            if ImageFont.truetype(path, 10, index=index).getname()[0] == _FONT_FACE:
                return path, index
        except OSError:
            break
    return path, 0


@functools.cache
def font(size: int) -> ImageFont.FreeTypeFont:
    path, index = _font_file()
    return ImageFont.truetype(path, size, index=index)


def relative_box(box: Box, size: tuple[int, int] = SIZE) -> tuple[int, int, int, int]:
    """A pixel box in 0-1000 coordinates, rounded outwards so it still covers the element."""
    width, height = size
    left, top, right, bottom = box
    return (
        left * SCALE // width,
        top * SCALE // height,
        -(-right * SCALE // width),
        -(-bottom * SCALE // height),
    )


@dataclass
class Screen:
    """A phone screen being drawn; `elements` maps a name to the pixel box drawn for it."""

    image: Image.Image = field(default_factory=lambda: Image.new("RGB", SIZE, BACKGROUND))
    elements: dict[str, Box] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.draw = ImageDraw.Draw(self.image)

    def text(
        self, xy: tuple[int, int], text: str, size: int, fill: Colour = TEXT, name: str = ""
    ) -> Box:
        """Draw `text` with its top-left at `xy`; returns (and names) the box of its ink."""
        box = self.draw.textbbox(xy, text, font=font(size))
        self.draw.text(xy, text, fill=fill, font=font(size))
        return self.mark(name, box)

    def mark(self, name: str, box: Box) -> Box:
        box = tuple(int(value) for value in box)  # type: ignore[assignment]
        if name:
            self.elements[name] = box
        return box

    def box(self, name: str) -> tuple[int, int, int, int]:
        """The named element's box in 0-1000 coordinates."""
        return relative_box(self.elements[name], self.image.size)
