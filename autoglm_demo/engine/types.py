"""The vocabulary shared by every runtime: what goes into a generation and what comes out.

Nothing here knows about HTTP or about a particular model library; the server translates
OpenAI requests into these types and runtimes consume them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from PIL import Image

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "cancelled"]


@dataclass
class ChatMessage:
    """One turn with its text and, for user turns, the images that go with it."""

    role: Role
    text: str
    images: list[Image.Image] = field(default_factory=list)


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int | None = None  # None: as many as `Engine.plan` allows
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    # As vLLM applies them: frequency and presence over the generated tokens (OpenAI's
    # additive definitions), repetition over prompt and generated tokens (multiplicative).
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    repetition_penalty: float = 1.0

    @property
    def greedy(self) -> bool:
        """Temperatures next to zero decode greedily, as vLLM's do: dividing the logits by
        one (5e-324, say) overflows them, and sampling from infinities fails."""
        return self.temperature < GREEDY_BELOW


GREEDY_BELOW = 1e-5


def planned_max_tokens(params: SamplingParams) -> int:
    """How many tokens a runtime may generate: `Engine.plan` fixed it against the context."""
    if params.max_tokens is None:
        raise ValueError("generate() needs the params Engine.plan returns (max_tokens is unset)")
    return params.max_tokens


@dataclass(frozen=True)
class ModelInfo:
    """What a loaded model can do, as reported by /v1/models and /health."""

    source: str
    architecture: str
    runtime: str
    vision: bool
    """True when the model itself sees images; False means images are read with OCR."""
    reasoning: bool
    """True when the model's vocabulary has a thinking trace (<think>…</think>)."""
    context_length: int
    dtype: str
    device: str
    weight_bytes: int


@dataclass(frozen=True)
class PreparedPrompt:
    """A chat rendered by the model's template, ready to generate from."""

    inputs: Any
    prompt_tokens: int
    starts_in_reasoning: bool
    """The template already opened <think>, so generated text begins inside the trace."""


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Finished:
    reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


GenerationEvent = TextDelta | Finished


class ContextLengthExceeded(ValueError):
    """The prompt plus the requested completion does not fit in the model's context."""


class ChatTemplateError(ValueError):
    """The model's chat template refused the conversation or its template arguments."""


class Runtime(Protocol):
    """One loaded model. The server only ever sees this interface.

    `prepare` and `generate` are blocking and are run off the event loop by the engine.
    `generate` must stop soon after `cancel` is set and then report `cancelled`.
    """

    info: ModelInfo

    def prepare(
        self, messages: list[ChatMessage], template_kwargs: dict[str, Any]
    ) -> PreparedPrompt: ...

    def generate(
        self, prompt: PreparedPrompt, params: SamplingParams, cancel: threading.Event
    ) -> Iterator[GenerationEvent]: ...
