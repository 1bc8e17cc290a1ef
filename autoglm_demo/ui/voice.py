"""Recordings and audio files → text for the page.

The page asks its backend's /v1/audio/transcriptions, so the embedded and remote paths are
the same code. A remote backend without that route (vLLM or SGLang serving a chat model
answer 404 or 405) is replaced by this process's own engine, loaded on first need.
"""

from __future__ import annotations

import logging
from pathlib import Path

from autoglm_demo.client import BackendClient, TranscriptionFailed, TranscriptionNotServed
from autoglm_demo.speech.base import SpeechInputError
from autoglm_demo.speech.service import Speech, SpeechUnavailable

log = logging.getLogger(__name__)


class VoiceInput:
    def __init__(self, client: BackendClient, local: Speech) -> None:
        self._client = client
        self._local = local
        self._backend_transcribes = True  # until the backend says otherwise

    async def transcribe(self, audio: Path) -> str:
        """The clip's text; TranscriptionFailed carries the reason for a person to read."""
        if self._backend_transcribes:
            try:
                return await self._client.transcribe(audio)
            except TranscriptionNotServed:
                log.info(
                    "%s does not transcribe audio; using local speech recognition",
                    self._client.base_url,
                )
                self._backend_transcribes = False
        try:
            transcript = await self._local.transcribe(
                audio.read_bytes(), audio.suffix.lstrip(".") or None
            )
        except SpeechInputError as error:
            raise TranscriptionFailed(error.message) from None
        except SpeechUnavailable as error:
            raise TranscriptionFailed(str(error)) from None
        return transcript.text
