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


def status_bar(draw: ImageDraw.ImageDraw) -> None:
    """The clock, the signal bars and the battery across the top of a `SIZE` screen."""
    draw.text((36, 22), "9:41", fill=TEXT, font=ImageFont.load_default(size=30))
    for step in range(4):  # signal bars, then the battery
        height = 8 + step * 6
        draw.rectangle((560 + step * 12, 50 - height, 568 + step * 12, 50), fill=TEXT)
    draw.rounded_rectangle((624, 26, 680, 50), radius=5, outline=TEXT, width=3)
    draw.rectangle((629, 31, 666, 45), fill=TEXT)


def navigation_bar(draw: ImageDraw.ImageDraw) -> None:
    """The gesture bar at the bottom of a `SIZE` screen."""
    draw.rounded_rectangle((260, 1560, 460, 1572), radius=6, fill=TEXT)


@dataclass
class Screen:
    """A phone screen being drawn; `elements` maps a name to the pixel box drawn for it."""

    image: Image.Image = field(default_factory=lambda: Image.new("RGB", SIZE, BACKGROUND))
    elements: dict[str, Box] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.draw = ImageDraw.Draw(self.image)

    @classmethod
    def phone(cls) -> Screen:
        """An empty phone screen: background, status bar and gesture bar."""
        screen = cls()
        status_bar(screen.draw)
        navigation_bar(screen.draw)
        return screen

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

    def heading(self, text: str, back: bool = False) -> None:
        """A page title under the status bar, with a back arrow before it on inner pages."""
        if back:
            self.draw.line((40, 140, 76, 140), fill=TEXT, width=5)
            self.draw.line((40, 140, 58, 122), fill=TEXT, width=5)
            self.draw.line((40, 140, 58, 158), fill=TEXT, width=5)
        self.text((112 if back else 40, 110), text, 48)

    def row(
        self,
        top: int,
        title: str,
        subtitle: str = "",
        colour: Colour = ACCENT,
        toggle: bool | None = None,
        name: str = "",
    ) -> Box:
        """A list row 110 px high: an icon, a title over a subtitle and, when `toggle` is
        not None, a switch at the right edge. The row's whole box is named."""
        self.draw.ellipse((44, top + 23, 108, top + 87), fill=colour)
        self.text((140, top + (16 if subtitle else 32)), title, 32, name=f"{name}.label")
        if subtitle:
            self.text((140, top + 62), subtitle, 24, MUTED)
        if toggle is not None:
            track = ACCENT if toggle else (189, 193, 200)
            self.draw.rounded_rectangle((590, top + 38, 670, top + 74), radius=18, fill=track)
            knob = 634 if toggle else 594
            self.draw.ellipse((knob, top + 40, knob + 32, top + 72), fill=WHITE)
        return self.mark(name, (24, top, 696, top + 110))

    def field(
        self, box: Box, hint: str, typed: str = "", focused: bool = False, name: str = ""
    ) -> Box:
        """A rounded input field showing `typed`, or its grey `hint` when empty."""
        outline = ACCENT if focused else FIELD
        self.draw.rounded_rectangle(
            box, radius=(box[3] - box[1]) // 2, fill=FIELD, outline=outline, width=3
        )
        left, top, _right, bottom = box
        middle = (top + bottom) // 2
        shown = self.text((left + 36, middle - 22), typed or hint, 30, TEXT if typed else MUTED)
        if focused:  # the caret after the text
            self.draw.line(
                (
                    shown[2] + 6 if typed else left + 32,
                    middle - 20,
                    shown[2] + 6 if typed else left + 32,
                    middle + 20,
                ),
                fill=ACCENT,
                width=3,
            )
        return self.mark(name, box)

    def button(self, box: Box, label: str, filled: bool = True, name: str = "") -> Box:
        """A rounded button with its label centred."""
        if filled:
            self.draw.rounded_rectangle(box, radius=20, fill=ACCENT)
        else:
            self.draw.rounded_rectangle(box, radius=20, outline=ACCENT, width=3)
        left, top, right, bottom = box
        self.draw.text(
            ((left + right) // 2, (top + bottom) // 2),
            label,
            fill=WHITE if filled else ACCENT,
            font=font(30),
            anchor="mm",
        )
        return self.mark(name, box)

    def app_icon(self, left: int, top: int, label: str, colour: Colour, name: str = "") -> Box:
        """A launcher icon 120 px wide with its label under it; names icon and label."""
        self.draw.rounded_rectangle((left, top, left + 120, top + 120), radius=32, fill=colour)
        self.draw.ellipse((left + 38, top + 38, left + 82, top + 82), fill=WHITE)
        self.draw.text((left + 60, top + 150), label, fill=TEXT, font=font(26), anchor="mm")
        return self.mark(name, (left - 10, top - 10, left + 130, top + 170))

    def bubble(self, top: int, text: str, mine: bool) -> Box:
        """A chat message: mine on the right in the accent colour, theirs on the left."""
        width = int(self.draw.textlength(text, font=font(30))) + 56
        left = 696 - width if mine else 24
        box = (left, top, left + width, top + 76)
        self.draw.rounded_rectangle(box, radius=30, fill=ACCENT if mine else WHITE)
        self.draw.text((left + 28, top + 16), text, fill=WHITE if mine else TEXT, font=font(30))
        return box

    def keyboard(self) -> None:
        """An on-screen keyboard over the lower part of the screen, as when a field has focus."""
        self.draw.rectangle((0, 1080, 720, 1540), fill=(222, 225, 232))
        for row, keys in enumerate(("qwertyuiop", "asdfghjkl", "zxcvbnm")):
            left = 12 + row * 34
            for column, key in enumerate(keys):
                x = left + column * 70
                self.draw.rounded_rectangle(
                    (x, 1100 + row * 110, x + 60, 1190 + row * 110), radius=10, fill=WHITE
                )
                self.draw.text(
                    (x + 30, 1145 + row * 110), key, fill=TEXT, font=font(30), anchor="mm"
                )
        self.draw.rounded_rectangle((180, 1430, 540, 1520), radius=10, fill=WHITE)  # space bar

    def dialog(self, title: str, message: str) -> Box:
        """A dimmed screen with a white card in its middle; returns the card's box, whose
        buttons the caller draws."""
        overlay = Image.new("RGB", self.image.size, (0, 0, 0))
        self.image.paste(Image.blend(self.image, overlay, 0.45))
        card = (60, 560, 660, 1040)
        self.draw.rounded_rectangle(card, radius=36, fill=WHITE)
        self.text((110, 610), title, 34)
        for number, line in enumerate(message.split("\n")):
            self.text((110, 680 + number * 44), line, 28, MUTED)
        return card
