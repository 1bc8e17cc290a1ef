"""Images for text-only models: read them with OCR and hand the model the text.

rapidocr-onnxruntime ships its detection and recognition models inside the wheel, so this
works offline. The text is labelled as OCR output so the model (and a person reading the
prompt) knows it did not see the picture itself.
"""

from __future__ import annotations

import threading
from functools import cached_property

import numpy as np
from PIL import Image

from autoglm_demo.engine.types import ChatMessage


class ImageReader:
    """Lazily loaded OCR; one instance, shared and guarded: the session is not re-entrant."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @cached_property
    def _ocr(self):  # type: ignore[no-untyped-def]
        from rapidocr_onnxruntime import RapidOCR

        return RapidOCR()

    def read(self, image: Image.Image) -> str:
        with self._lock:
            result, _ = self._ocr(np.asarray(image.convert("RGB")))
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
