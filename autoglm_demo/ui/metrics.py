"""Per-answer measurements: time to first token, decode speed, token counts, who answered.

Measured on the page side of the HTTP stream, so the numbers are what a person waiting
for the answer experiences, whichever backend answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from autoglm_demo.ui.i18n import text


@dataclass(frozen=True)
class Metrics:
    model: str
    precision: str | None
    ttft_s: float | None
    tokens_per_s: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    weight_bytes: int | None = None
    """The answering variant's weights in memory, as the backend reports them."""

    def footer(self, locale: str) -> str:
        """One short line for under the answer, e.g. `model · bfloat16 · first token 0.21 s · …`."""
        parts = [f"`{self.model}`"]
        if self.precision:
            parts.append(self.precision)
        if self.weight_bytes:
            parts.append(f"{text('weights', locale)} {human_size(self.weight_bytes)}")
        if self.ttft_s is not None:
            parts.append(f"{text('ttft', locale)} {self.ttft_s:.2f} s")
        if self.tokens_per_s is not None:
            parts.append(f"{self.tokens_per_s:.1f} {text('tokens_per_second', locale)}")
        if self.prompt_tokens is not None and self.completion_tokens is not None:
            parts.append(
                f"{text('prompt_tokens', locale)} {self.prompt_tokens} · "
                f"{text('completion_tokens', locale)} {self.completion_tokens}"
            )
        return " · ".join(parts)


def human_size(size: int | None) -> str:
    """Bytes as KiB or MiB, the units weight sizes come in here; empty when unknown."""
    if not size:
        return ""
    if size < 2**20:
        return f"{size / 2**10:,.0f} KiB"
    return f"{size / 2**20:,.0f} MiB"


class Stopwatch:
    """Timestamps of one streamed answer; `clock` is injectable so tests are exact."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self.started = clock()
        self.first_token: float | None = None
        self.first_answer_token: float | None = None
        self.finished: float | None = None

    def token(self) -> None:
        if self.first_token is None:
            self.first_token = self._clock()

    def answer_token(self) -> None:
        self.token()
        if self.first_answer_token is None:
            self.first_answer_token = self._clock()

    @property
    def reasoning_seconds(self) -> float | None:
        """How long the model thought: from its first token to the first answer token."""
        if self.first_token is None or self.first_answer_token is None:
            return None
        return self.first_answer_token - self.first_token

    def finish(self) -> None:
        self.finished = self._clock()

    def metrics(
        self,
        model: str,
        precision: str | None,
        usage: tuple[int, int] | None,
        weight_bytes: int | None = None,
    ) -> Metrics:
        ttft = None if self.first_token is None else self.first_token - self.started
        speed = None
        if usage and self.first_token is not None and self.finished is not None:
            decode = self.finished - self.first_token
            # The first token's time is in the TTFT, so the rate covers the tokens after it.
            if decode > 0 and usage[1] > 1:
                speed = (usage[1] - 1) / decode
        return Metrics(
            model=model,
            precision=precision,
            ttft_s=ttft,
            tokens_per_s=speed,
            prompt_tokens=usage[0] if usage else None,
            completion_tokens=usage[1] if usage else None,
            weight_bytes=weight_bytes,
        )
