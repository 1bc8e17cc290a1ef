"""Images for text-only models: read them with OCR and hand the model each line of text
with where it sits on the screen, so that it can point at what it read.

rapidocr-onnxruntime ships its detection and recognition models inside the wheel, so this
works offline. The text is labelled as OCR output so the model (and a person reading the
prompt) knows it did not see the picture itself.

Each line goes to the model as `[x,y] text`, where [x,y] is the centre of the line's box in
AutoGLM's coordinates (0-1000 on each axis of the original image), and lines come in reading
order: top to bottom, and left to right within a row. The centre, not the box, because it is
exactly what a tap takes: `do(action="Tap", element=[x,y])` is then a copy of the numbers
in front of the words, which even a small model manages, where a box would ask it to
average four numbers. The whole box stays available to code as `TextLine.box`.

rapidocr's own resizing makes the cost of an odd-shaped image explode: it stretches the
short side of a thin strip to 30 px and then pads it to a quarter of its (now much longer)
long side, so a 2000x8 PNG became a 7488x1872 detection input (15 s, 2.5 GB). So every
image is first brought to the shape rapidocr handles best: its longer side at most
`OCR_MAX_SIDE`, which rapidocr would scale it to anyway, and padded with white to at most
`OCR_MAX_ASPECT` to one. The detector then never sees more than about 4 megapixels. Boxes
are mapped back through that scaling and padding onto the original image.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image, ImageOps

from autoglm_demo.engine.types import ChatMessage

OCR_MAX_SIDE = 2000  # rapidocr's own max_side_len
OCR_MAX_ASPECT = 4
SCALE = 1000  # AutoGLM's coordinates: 0-1000 on each axis of the screen

# Told to the model once per image, so that the numbers in front of each line mean something.
LINE_FORMAT = (
    f"Each line is [x,y] text: [x,y] is the centre of the text on the screen, "
    f"x from 0 (left) to {SCALE} (right), y from 0 (top) to {SCALE} (bottom)."
)


@dataclass(frozen=True)
class TextLine:
    """One line of text OCR found, and where, in 0-1000 coordinates of the original image."""

    text: str
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 with x1 <= x2 and y1 <= y2

    @property
    def centre(self) -> tuple[int, int]:
        x1, y1, x2, y2 = self.box
        return round((x1 + x2) / 2), round((y1 + y2) / 2)

    def labelled(self) -> str:
        x, y = self.centre
        return f"[{x},{y}] {self.text}"


@dataclass(frozen=True)
class OcrInput:
    """An image as OCR reads it: `image`, which holds the original, scaled to `content`
    (width, height) pixels in its top-left corner and padded with white after it."""

    image: Image.Image
    content: tuple[int, int]


def ocr_ready(image: Image.Image) -> OcrInput:
    """`image` in RGB, scaled and padded to a shape whose OCR cost is bounded."""
    image = image.convert("RGB")
    image.thumbnail((OCR_MAX_SIDE, OCR_MAX_SIDE), Image.Resampling.LANCZOS)
    width, height = image.size
    short = -(-max(width, height) // OCR_MAX_ASPECT)  # ceiling division
    if min(width, height) >= short:
        return OcrInput(image, (width, height))
    size = (max(width, short), max(height, short))
    # Text sits at the top or left, where a person reads first; the padding goes after it.
    padded = ImageOps.pad(image, size, color="white", centering=(0, 0))
    return OcrInput(padded, (width, height))


def text_lines(detections: Sequence, content: tuple[int, int]) -> list[TextLine]:
    """rapidocr's detections (four corner points in pixels, text, score) as `TextLine`s in
    0-1000 coordinates of an image of `content` pixels, in reading order."""
    width, height = content
    lines = []
    for corners, text, _score in detections:
        xs = [point[0] for point in corners]
        ys = [point[1] for point in corners]
        box = (
            _relative(min(xs), width),
            _relative(min(ys), height),
            _relative(max(xs), width),
            _relative(max(ys), height),
        )
        lines.append(TextLine(text, box))
    return reading_order(lines)


def reading_order(lines: list[TextLine]) -> list[TextLine]:
    """Top to bottom; lines whose centre lies within the first line's height share a row
    and are read left to right (a label and its value, side by side)."""
    rows: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda line: (line.centre[1], line.box[0])):
        first = rows[-1][0] if rows else None
        if first and first.box[1] <= line.centre[1] <= first.box[3]:
            rows[-1].append(line)
        else:
            rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda line: line.box[0])]


def _relative(pixel: float, extent: int) -> int:
    # Clamped: a box may reach a little past the picture into the padding or off its edge.
    return min(SCALE, max(0, round(pixel / extent * SCALE)))


class ImageReader:
    """Lazily loaded OCR; one instance, shared and guarded: the session is not re-entrant."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @cached_property
    def _ocr(self):  # type: ignore[no-untyped-def]
        from rapidocr_onnxruntime import RapidOCR

        return RapidOCR()

    def read_lines(self, image: Image.Image) -> list[TextLine]:
        ready = ocr_ready(image)
        with self._lock:
            result, _ = self._ocr(np.asarray(ready.image))
        return text_lines(result or [], ready.content)

    def read(self, image: Image.Image) -> str:
        """The image's text for a model: one `[x,y] text` line per line OCR found."""
        return "\n".join(line.labelled() for line in self.read_lines(image))

    def inline_images(self, messages: list[ChatMessage]) -> list[ChatMessage]:
        """Replace every image with a labelled block of its OCR lines, numbered across turns."""
        number = 0
        converted = []
        for message in messages:
            blocks = []
            for image in message.images:
                number += 1
                text = self.read(image)
                blocks.append(
                    f"[Image {number}, OCR text]\n{LINE_FORMAT}\n{text}\n[End of image {number}]"
                    if text
                    else f"[Image {number}: OCR found no text]"
                )
            converted.append(
                ChatMessage(message.role, "\n\n".join([*blocks, message.text]).strip())
                if blocks
                else message
            )
        return converted
