"""Per-answer measurements as the page shows them: one short line under the answer."""

from __future__ import annotations

from autoglm_demo.conversation import Metrics
from autoglm_demo.ui.i18n import text


def footer(metrics: Metrics, locale: str) -> str:
    """E.g. `model · bfloat16 · first token 0.21 s · …`."""
    parts = [f"`{metrics.model}`"]
    if metrics.precision:
        parts.append(metrics.precision)
    if metrics.weight_bytes:
        parts.append(f"{text('weights', locale)} {human_size(metrics.weight_bytes)}")
    if metrics.ttft_s is not None:
        parts.append(f"{text('ttft', locale)} {metrics.ttft_s:.2f} s")
    if metrics.tokens_per_s is not None:
        parts.append(f"{metrics.tokens_per_s:.1f} {text('tokens_per_second', locale)}")
    if metrics.prompt_tokens is not None and metrics.completion_tokens is not None:
        parts.append(
            f"{text('prompt_tokens', locale)} {metrics.prompt_tokens} · "
            f"{text('completion_tokens', locale)} {metrics.completion_tokens}"
        )
    return " · ".join(parts)


def human_size(size: int | None) -> str:
    """Bytes as KiB or MiB, the units weight sizes come in here; empty when unknown."""
    if not size:
        return ""
    if size < 2**20:
        return f"{size / 2**10:,.0f} KiB"
    return f"{size / 2**20:,.0f} MiB"
