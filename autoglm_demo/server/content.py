"""OpenAI message content → engine chat messages, decoding images from data: URIs and
putting the transcript of each input_audio part where the part was.

Every way a request can be malformed here raises APIError(400) naming the offending
message, so the client learns which part of its request to fix.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Mapping

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


def to_chat_messages(
    messages: list[RequestMessage], *, max_images: int, transcripts: Transcripts
) -> list[ChatMessage]:
    converted = [
        _convert(index, message, transcripts) for index, message in enumerate(messages)
    ]
    total = sum(len(m.images) for m in converted)
    if total > max_images:
        raise APIError(
            400,
            f"The request has {total} images; this server accepts at most {max_images}.",
            param="messages",
        )
    return converted


def _convert(index: int, message: RequestMessage, transcripts: Transcripts) -> ChatMessage:
    where = f"messages.{index}"
    role = _ROLES.get(message.role)
    if role is None:
        raise APIError(
            400, f"{where}: role '{message.role}' is not supported (tools are not).", param=where
        )
    if message.content is None or isinstance(message.content, str):
        text, images = message.content or "", []
    else:
        text, images = _parts(index, message.content, transcripts)
    if images and role != "user":
        raise APIError(400, f"{where}: only user messages may carry images.", param=where)
    if not text.strip() and not images and role != "assistant":
        raise APIError(400, f"{where}: the message is empty.", param=f"{where}.content")
    return ChatMessage(role=role, text=text, images=images)


def _parts(
    index: int, parts: list[TextPart | ImagePart | AudioPart], transcripts: Transcripts
) -> tuple[str, list[Image.Image]]:
    texts: list[str] = []
    images: list[Image.Image] = []
    for number, part in enumerate(parts):
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, ImagePart):
            images.append(decode_image_url(part.image_url.url, f"messages.{index}.content.{number}"))
        else:
            texts.append(transcripts[index, number])
    return "\n".join(texts), images


def decode_image_url(url: str, param: str) -> Image.Image:
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
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise APIError(400, f"{param}: the image data is not valid base64.", param=param) from None
    try:
        with Image.open(io.BytesIO(raw)) as image:
            image.load()
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise APIError(
            400, f"{param}: the data is not a readable image ({type(error).__name__}).", param=param
        ) from None
