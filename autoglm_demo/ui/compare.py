"""Compare: one question answered by two variants, for reading side by side.

The two answers run one after the other, not at once: on a shared processor two streams
would each run at about half speed, and the metrics under each answer would measure the
other stream as much as their own. A variant that is not loaded yet is loaded first, with
a one-token request, so that loading is not counted as its time to first token.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import openai

from autoglm_demo.answering import AnswerRequest, stream_answer
from autoglm_demo.client import BackendClient, ChatOptions, Finish
from autoglm_demo.conversation import Turn
from autoglm_demo.ui.overlay import overlay_hook

WARM_UP = ChatOptions(max_tokens=1, temperature=0, enable_thinking=False)


@dataclass
class SideBySide:
    """Both sides as they stand; `loading` names the variant being loaded, if any."""

    sides: tuple[list[Turn], list[Turn]]
    loading: str | None = None


async def compare(
    client: BackendClient,
    question: Turn,
    requests: tuple[AnswerRequest, AnswerRequest],
    overlay_dir: Path,
) -> AsyncIterator[SideBySide]:
    overlay = overlay_hook(overlay_dir)
    comparison = SideBySide(([dataclasses.replace(question)], [dataclasses.replace(question)]))
    for side, request in zip(comparison.sides, requests, strict=True):
        if not await _is_loaded(client, request.model):
            comparison.loading = request.model
            yield comparison
            await _load(client, request.model)
            comparison.loading = None
        async for _ in stream_answer(client, side, request, overlay=overlay):
            yield comparison


async def _is_loaded(client: BackendClient, model_id: str) -> bool:
    """Backends that do not report a status (vLLM, SGLang) serve what they list. A backend
    that cannot list its models is asked anyway: the answer's own error says what is wrong."""
    try:
        models = await client.list_models()
    except openai.APIError:
        return True
    model = next((model for model in models if model.id == model_id), None)
    return model is None or model.details.get("status", "ready") == "ready"


async def _load(client: BackendClient, model_id: str) -> None:
    messages = [{"role": "user", "content": "Hi"}]
    async for event in client.stream_chat(model_id, messages, WARM_UP):
        if isinstance(event, Finish):
            return
