"""OpenAI message content → engine chat messages, decoding images from data: URIs and
putting the transcript of each input_audio part where the part was.

Every way a request can be malformed here raises APIError(400) naming the offending
message, so the client learns which part of its request to fix.
"""

from __future__ import annotations

import base64
import binascii
import io
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from autoglm_demo.engine.types import ChatMessage, Role
from autoglm_demo.server.errors import APIError
from autoglm_demo.server.protocol import AudioPart, ImagePart, RequestMessage, TextPart

_ROLES: dict[str, Role] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}


# (message index, part index) → the transcript of that input_audio part
Transcripts = Mapping[tuple[int, int], str]

MAX_ASPECT_RATIO = 100
"""Longer side over shorter side. No screen or scrolling capture comes near it, and
GLM-4.1V's image processor itself fails past 200:1."""

# Decoding is where an image costs memory (a 100-megapixel PNG is 400 MB of pixels before
# it is scaled down), so one image is decoded at a time, whatever the number of requests.
_decoding = threading.Lock()


@dataclass(frozen=True)
class ImageLimits:
    """How many images a request may carry, and how large each may be.

    Past `max_pixels` an image is refused (a decompression bomb costs memory before any
    check could run on the decoded pixels); past `max_side` it is only scaled down, since
    a 50-megapixel photo is a reasonable thing to send and no model needs all of it.
    """

    max_images: int = 10
    max_pixels: int = 120_000_000
    max_side: int = 4096
    url_hosts: tuple[str, ...] = ()  # hosts image URLs may be fetched from; none by default
    max_url_bytes: int = 64 * 2**20
    url_timeout_s: float = 20.0  # the whole fetch of one image URL, redirects included


def to_chat_messages(
    messages: list[RequestMessage], *, limits: ImageLimits, transcripts: Transcripts
) -> list[ChatMessage]:
    total = sum(
        isinstance(part, ImagePart)
        for message in messages
        if isinstance(message.content, list)
        for part in message.content
    )
    if total > limits.max_images:  # counted before decoding, so excess images cost nothing
        raise APIError(
            400,
            f"The request has {total} images; this server accepts at most {limits.max_images}.",
            param="messages",
        )
    return [_convert(index, message, transcripts, limits) for index, message in enumerate(messages)]


def _convert(
    index: int, message: RequestMessage, transcripts: Transcripts, limits: ImageLimits
) -> ChatMessage:
    where = f"messages.{index}"
    role = _ROLES.get(message.role)
    if role is None:
        raise APIError(
            400, f"{where}: role '{message.role}' is not supported (tools are not).", param=where
        )
    if message.content is None or isinstance(message.content, str):
        text, images = message.content or "", []
    else:
        text, images = _parts(index, message.content, transcripts, limits)
    if images and role != "user":
        raise APIError(400, f"{where}: only user messages may carry images.", param=where)
    if not text.strip() and not images and role != "assistant":
        raise APIError(400, f"{where}: the message is empty.", param=f"{where}.content")
    return ChatMessage(role=role, text=text, images=images)


def _parts(
    index: int,
    parts: list[TextPart | ImagePart | AudioPart],
    transcripts: Transcripts,
    limits: ImageLimits,
) -> tuple[str, list[Image.Image]]:
    texts: list[str] = []
    images: list[Image.Image] = []
    for number, part in enumerate(parts):
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, ImagePart):
            param = f"messages.{index}.content.{number}"
            images.append(decode_image_url(part.image_url.url, param, limits))
        else:
            texts.append(transcripts[index, number])
    return "\n".join(texts), images


def decode_image_url(url: str, param: str, limits: ImageLimits) -> Image.Image:
    if url.startswith(("http://", "https://")) and limits.url_hosts:
        # httpx, imported only where the operator allowed fetching: not at every start.
        from autoglm_demo.server.fetch import fetch_image

        raw = fetch_image(
            url,
            param,
            allowed_hosts=limits.url_hosts,
            max_bytes=limits.max_url_bytes,
            timeout_s=limits.url_timeout_s,
        )
    else:
        raw = _data_uri_bytes(url, param)
    try:
        with _decoding, Image.open(io.BytesIO(raw)) as image:  # open reads the header only
            _check_shape(image.size, limits.max_pixels, param)
            return _decode_scaled(image, limits.max_side)
    except Image.DecompressionBombError:
        raise APIError(
            400, f"{param}: the image has too many pixels to decode safely.", param=param
        ) from None
    except (UnidentifiedImageError, OSError) as error:
        raise APIError(
            400, f"{param}: the data is not a readable image ({type(error).__name__}).", param=param
        ) from None


def _decode_scaled(image: Image.Image, max_side: int) -> Image.Image:
    """RGB pixels at most `max_side` on the longer side, with no full-size copy besides the
    decoded image itself: JPEG decodes at a reduced scale, and anything still twice too
    large or more is converted and shrunk by a whole factor one band of rows at a time,
    before the final filtered resize."""
    image.draft("RGB", (max_side, max_side))
    image.load()
    factor = max(image.size) // max_side
    picture = _reduced_rgb(image, factor) if factor >= 2 else image.convert("RGB")
    picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return picture


def _reduced_rgb(image: Image.Image, factor: int) -> Image.Image:
    width, height = image.size
    reduced = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    band = factor * _BAND_ROWS
    for top in range(0, height, band):
        rows = image.crop((0, top, width, min(height, top + band)))
        reduced.paste(rows.convert("RGB").reduce(factor), (0, top // factor))
    return reduced


_BAND_ROWS = 64  # output rows per band: a band of a 100-megapixel image is a few MB


def _data_uri_bytes(url: str, param: str) -> bytes:
    if not url.startswith("data:"):
        raise APIError(
            400,
            f"{param}: only data: URIs are accepted for images "
            "(data:image/png;base64,…); the server does not fetch URLs.",
            param=param,
        )
    header, _, payload = url[5:].partition(",")
    if not header.endswith(";base64") or not header.startswith("image/"):
        raise APIError(
            400,
            f"{param}: expected data:image/<type>;base64,<data>, got data:{header[:40]}.",
            param=param,
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise APIError(400, f"{param}: the image data is not valid base64.", param=param) from None


def _check_shape(size: tuple[int, int], max_pixels: int, param: str) -> None:
    width, height = size
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise APIError(
            400,
            f"{param}: the image is {width}x{height}; this server accepts images up to "
            f"{MAX_ASPECT_RATIO} times longer than wide. Send long captures in pieces.",
            param=param,
            code="image_aspect_ratio",
        )
    if width * height > max_pixels:
        raise APIError(
            400,
            f"{param}: the image is {width}x{height} ({width * height / 1e6:.0f} megapixels); "
            f"this server accepts at most {max_pixels / 1e6:.0f} megapixels.",
            param=param,
        )
