"""Images for text-only models: read them with OCR and hand the model the text.

rapidocr-onnxruntime ships its detection and recognition models inside the wheel, so this
works offline. The text is labelled as OCR output so the model (and a person reading the
prompt) knows it did not see the picture itself.

rapidocr's own resizing makes the cost of an odd-shaped image explode: it stretches the
short side of a thin strip to 30 px and then pads it to a quarter of its (now much longer)
long side, so a 2000x8 PNG became a 7488x1872 detection input (15 s, 2.5 GB). So every
image is first brought to the shape rapidocr handles best: its longer side at most
`OCR_MAX_SIDE`, which rapidocr would scale it to anyway, and padded with white to at most
`OCR_MAX_ASPECT` to one. The detector then never sees more than about 4 megapixels.
"""

from __future__ import annotations

import threading
from functools import cached_property

import numpy as np
from PIL import Image, ImageOps

from autoglm_demo.engine.types import ChatMessage

OCR_MAX_SIDE = 2000  # rapidocr's own max_side_len
OCR_MAX_ASPECT = 4


def ocr_ready(image: Image.Image) -> Image.Image:
    """`image` in RGB, scaled and padded to a shape whose OCR cost is bounded."""
    image = image.convert("RGB")
    image.thumbnail((OCR_MAX_SIDE, OCR_MAX_SIDE), Image.Resampling.LANCZOS)
    width, height = image.size
    short = -(-max(width, height) // OCR_MAX_ASPECT)  # ceiling division
    if min(width, height) >= short:
        return image
    size = (max(width, short), max(height, short))
    # Text sits at the top or left, where a person reads first; the padding goes after it.
    return ImageOps.pad(image, size, color="white", centering=(0, 0))


class ImageReader:
    """Lazily loaded OCR; one instance is shared and guarded, since the session is not re-entrant."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @cached_property
    def _ocr(self):  # type: ignore[no-untyped-def]
        from rapidocr_onnxruntime import RapidOCR

        return RapidOCR()

    def read(self, image: Image.Image) -> str:
        pixels = np.asarray(ocr_ready(image))
        with self._lock:
            result, _ = self._ocr(pixels)
        lines = sorted(result or [], key=lambda line: (line[0][0][1], line[0][0][0]))
        return "\n".join(text for _box, text, _score in lines)

    def inline_images(self, messages: list[ChatMessage]) -> list[ChatMessage]:
        """Replace every image with a labelled block of its OCR text, numbered across turns."""
        number = 0
        converted = []
        for message in messages:
            blocks = []
            for image in message.images:
                number += 1
                text = self.read(image)
                blocks.append(
                    f"[Image {number}, OCR text]\n{text}\n[End of image {number}]"
                    if text
                    else f"[Image {number}: OCR found no text]"
                )
            converted.append(
                ChatMessage(message.role, "\n\n".join([*blocks, message.text]).strip())
                if blocks
                else message
            )
        return converted
