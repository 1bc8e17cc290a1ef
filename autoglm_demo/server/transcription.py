"""Speech in the API: /v1/audio/transcriptions in OpenAI's five response formats, and the
input_audio parts of chat messages, which become text before the model sees them."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePath

from fastapi.responses import JSONResponse, PlainTextResponse, Response

from autoglm_demo.server.errors import APIError
from autoglm_demo.server.protocol import (
    AudioPart,
    InputTranscript,
    RequestMessage,
    Transcription,
    TranscriptionFormat,
    TranscriptionSegment,
    TranscriptionVerbose,
)
from autoglm_demo.speech.base import Segment, SpeechInputError, Transcript
from autoglm_demo.speech.service import Speech, SpeechUnavailable


@contextmanager
def speech_errors(param: str) -> Iterator[None]:
    """Speech failures as API errors: bad audio is the client's 400, a missing engine a 503."""
    try:
        yield
    except SpeechInputError as error:
        where = "language" if error.code == "unsupported_language" else param
        raise APIError(400, f"{where}: {error.message}", param=where, code=error.code) from None
    except SpeechUnavailable as error:
        raise APIError(503, str(error), code="speech_unavailable") from None


async def transcribe_upload(
    speech: Speech,
    data: bytes,
    filename: str | None,
    *,
    language: str | None,
    prompt: str | None,
    temperature: float,
    response_format: TranscriptionFormat,
) -> Response:
    """Serve one /v1/audio/transcriptions request; the file's extension names its format."""
    suffix = PurePath(filename or "").suffix.lstrip(".").lower() or None
    with speech_errors("file"):
        transcript = await speech.transcribe(
            data, suffix, language=language, prompt=prompt, temperature=temperature
        )
    return render(transcript, response_format)


def render(transcript: Transcript, response_format: TranscriptionFormat) -> Response:
    if response_format == "json":
        return JSONResponse(Transcription(text=transcript.text).model_dump())
    if response_format == "verbose_json":
        return JSONResponse(_verbose(transcript).model_dump())
    if response_format == "text":
        return PlainTextResponse(transcript.text + "\n")
    if response_format == "srt":
        return PlainTextResponse(_subtitles(transcript.segments, decimal=","))
    return PlainTextResponse(
        "WEBVTT\n\n" + _subtitles(transcript.segments, decimal=".", numbered=False),
        media_type="text/vtt",
    )


def _verbose(transcript: Transcript) -> TranscriptionVerbose:
    return TranscriptionVerbose(
        language=transcript.language,
        duration=transcript.duration,
        text=transcript.text,
        segments=[
            TranscriptionSegment(
                id=number,
                seek=s.seek,
                start=s.start,
                end=s.end,
                text=s.text,
                tokens=list(s.tokens),
                temperature=s.temperature,
                avg_logprob=s.avg_logprob,
                compression_ratio=s.compression_ratio,
                no_speech_prob=s.no_speech_prob,
            )
            for number, s in enumerate(transcript.segments)
        ],
    )


def _subtitles(segments: tuple[Segment, ...], *, decimal: str, numbered: bool = True) -> str:
    """SRT cues (numbered, 00:00:01,000) or WebVTT cues (00:00:01.000)."""
    cues = []
    for number, segment in enumerate(segments, start=1):
        timing = f"{_clock(segment.start, decimal)} --> {_clock(segment.end, decimal)}"
        lines = [str(number)] if numbered else []
        cues.append("\n".join([*lines, timing, segment.text.strip()]) + "\n")
    return "\n".join(cues)


def _clock(seconds: float, decimal: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    whole, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{decimal}{millis:03d}"


async def transcribe_audio_parts(
    speech: Speech, messages: list[RequestMessage]
) -> list[InputTranscript]:
    """A transcript for every input_audio part of every message, in request order."""
    transcripts = []
    for message_index, message in enumerate(messages):
        if isinstance(message.content, str) or message.content is None:
            continue
        for part_index, part in enumerate(message.content):
            if isinstance(part, AudioPart):
                param = f"messages.{message_index}.content.{part_index}"
                with speech_errors(param):
                    transcript = await speech.transcribe(
                        _audio_bytes(part, param), part.input_audio.format
                    )
                transcripts.append(
                    InputTranscript(
                        message_index=message_index,
                        part_index=part_index,
                        text=transcript.text,
                        language=transcript.language,
                    )
                )
    return transcripts


def _audio_bytes(part: AudioPart, param: str) -> bytes:
    try:
        return base64.b64decode(part.input_audio.data, validate=True)
    except (binascii.Error, ValueError):
        raise APIError(400, f"{param}: the audio data is not valid base64.", param=param) from None
