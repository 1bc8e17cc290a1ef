"""Which model to serve, and how to load it, from the settings."""

from __future__ import annotations

from collections.abc import Callable

from autoglm_demo.engine import offline_default
from autoglm_demo.engine.transformers_runtime import TransformersRuntime
from autoglm_demo.engine.types import Runtime
from autoglm_demo.settings import Settings

PhaseCallback = Callable[[str], None]


def model_source(settings: Settings) -> str:
    """A human-readable name for what is really being served."""
    return settings.model or offline_default.DISPLAY_NAME


def load_runtime(settings: Settings, on_phase: PhaseCallback) -> Runtime:
    """Load the configured model; blocking, so callers run it on a thread."""
    if settings.model:
        path = settings.model
    else:
        on_phase("preparing the offline default (first start converts its GGUF, about 30 s)")
        path = str(offline_default.exported_model_dir(settings.cache_dir))
    return TransformersRuntime.load(
        path,
        device=settings.device,
        dtype=settings.dtype,
        trust_remote_code=settings.trust_remote_code,
        source=model_source(settings),
        on_phase=on_phase,
    )
