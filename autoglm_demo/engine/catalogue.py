"""Which model to serve, at which precisions, and how to load each one, from the settings.

A precision variant is the same model with its weights stored another way. Each method is
the one that is fast on the device it runs on:

| precision | offline default (CPU)              | --model, GPU          | --model, CPU          |
| --------- | ---------------------------------- | --------------------- | --------------------- |
| full      | llama.cpp F32 (dequantized)        | transformers, bf16    | transformers, float32 |
| int8      | llama.cpp Q8_0 (requantized)       | bitsandbytes LLM.int8 | torch dynamic int8    |
| int4      | llama.cpp Q4_1 (the shipped file)  | bitsandbytes NF4      | bitsandbytes NF4      |

A vision model (GLM-4.1V) on a CPU runs int8 and int4 on llama.cpp instead (Q8_0 and
Q4_K_M with its vision projector, converted once): bitsandbytes' CPU kernels are slow and
NF4 fails outright on some CPUs. `--runtime llama.cpp` runs every variant there (full is
F16), and a GGUF --model always does (llama_cpp_variants.py).

Nothing is loaded here, and no runtime is imported: a `VariantSpec` says how to load, the
variant pool decides when, and only then is llama.cpp or torch imported. So the offline
default needs neither torch nor transformers installed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoglm_demo.engine import llama_cpp_variants, offline_default
from autoglm_demo.engine.types import Runtime
from autoglm_demo.settings import Settings

if TYPE_CHECKING:
    from autoglm_demo.engine.transformers_runtime import Quantization

PhaseCallback = Callable[[str], None]


@dataclass(frozen=True)
class VariantSpec:
    source: str
    """What is really served, for people: a hub id, a folder, or the shipped file."""
    precision: str
    """full, int8 or int4."""
    method: str
    """How the weights are stored and run, in words a person can check."""
    runtime: str
    files: Callable[[], list[Path]]
    """The weight files, where they already exist; their size is the weight bytes that
    /v1/models reports before the variant is loaded."""
    load: Callable[[PhaseCallback], Runtime]
    quality: dict[str, Any] | None = None
    """Measured quality against full precision (bench/bench_precision.py), if measured."""
    sampling_defaults: dict[str, float] = field(default_factory=dict)
    """SamplingParams fields for requests that leave them out."""


def model_source(settings: Settings) -> str:
    """A human-readable name for what is really being served."""
    return settings.model or offline_default.DISPLAY_NAME


def variant_specs(settings: Settings) -> list[VariantSpec]:
    """The variants to serve, in the order of --precisions (default: every one offered)."""
    offered = _offline_default(settings) if not settings.model else _checkpoint(settings)
    wanted = settings.precisions or tuple(offered)
    missing = [precision for precision in wanted if precision not in offered]
    if missing:
        raise SystemExit(
            f"--precisions: {', '.join(missing)} is not available for this model here; "
            f"choose from {', '.join(offered)}"
        )
    return [offered[precision] for precision in wanted]


def default_precision(settings: Settings, specs: list[VariantSpec]) -> str:
    """The variant loaded at start and picked by the page: --default-precision if set, else
    int8 where llama.cpp runs it (on a CPU it decodes several times faster than float32 with
    next to no loss), else full precision, else the first one served."""
    served = [spec.precision for spec in specs]
    if settings.default_precision:
        if settings.default_precision not in served:
            raise SystemExit(
                f"--default-precision {settings.default_precision} is not served "
                f"(--precisions: {', '.join(served)})"
            )
        return settings.default_precision
    for spec in specs:
        if spec.precision == "int8" and spec.runtime == "llama.cpp":
            return "int8"
    return "full" if "full" in served else served[0]


OFFLINE_DEFAULT_SAMPLING = {"repetition_penalty": 1.1}
"""SmolLM2-135M repeats itself at low temperature ("Sunday\nSunday\n…", one sentence ten
times); llama.cpp's classic default penalty stops that, and, unlike a frequency penalty,
does not grow with an answer's length."""


def _offline_default(settings: Settings) -> dict[str, VariantSpec]:
    source = model_source(settings)
    shipped, shipped_quant = offline_default.shipped_gguf_path, offline_default.SHIPPED_QUANT

    def made_files(quant_type: str) -> Callable[[], list[Path]]:
        return lambda: _existing(offline_default.requantized_path(settings.cache_dir, quant_type))

    def made(quant_type: str) -> Callable[[PhaseCallback], Path]:
        """The file made from the shipped one, once, into the cache; /health says so."""

        def path(on_phase: PhaseCallback) -> Path:
            if not made_files(quant_type)():
                on_phase(f"first start: making the {quant_type} GGUF from the shipped one")
            return offline_default.requantized_gguf(settings.cache_dir, quant_type)

        return path

    def load_gguf(
        path: Callable[[PhaseCallback], Path], label: str
    ) -> Callable[[PhaseCallback], Runtime]:
        def load(on_phase: PhaseCallback) -> Runtime:
            from autoglm_demo.engine.llama_cpp_runtime import LlamaCppRuntime

            return LlamaCppRuntime.load(
                path(on_phase),
                source=source,
                dtype=label,
                threads=settings.llama_threads,
                on_phase=on_phase,
            )

        return load

    quality = _measured_quality(shipped())
    full = offline_default.FULL_TYPE
    return {
        "full": VariantSpec(
            source,
            "full",
            f"llama.cpp {full} (the shipped {shipped_quant} weights, dequantized)",
            "llama.cpp",
            made_files(full),
            load_gguf(made(full), full),
            quality.get("full"),
            OFFLINE_DEFAULT_SAMPLING,
        ),
        "int8": VariantSpec(
            source,
            "int8",
            f"llama.cpp Q8_0, requantized from the shipped {shipped_quant}",
            "llama.cpp",
            made_files("Q8_0"),
            load_gguf(made("Q8_0"), "Q8_0"),
            quality.get("int8"),
            OFFLINE_DEFAULT_SAMPLING,
        ),
        "int4": VariantSpec(
            source,
            "int4",
            f"llama.cpp {shipped_quant} (the shipped file)",
            "llama.cpp",
            lambda: [shipped()],
            load_gguf(lambda on_phase: shipped(), shipped_quant),
            quality.get("int4"),
            OFFLINE_DEFAULT_SAMPLING,
        ),
    }


def _checkpoint(settings: Settings) -> dict[str, VariantSpec]:
    """The variants of --model: GGUF files, or a checkpoint on the runtime that fits."""
    from autoglm_demo.engine.transformers_runtime import resolve_device

    assert settings.model
    if llama_cpp_variants.serves_gguf(settings):
        return llama_cpp_variants.gguf_variants(settings)
    if settings.runtime == "llama.cpp":
        return llama_cpp_variants.converted_variants(settings)
    offered = _transformers(settings)
    on_gpu = resolve_device(settings.device) == "cuda"
    if not on_gpu and llama_cpp_variants.sees_images(settings.model):
        if settings.runtime == "auto":
            offered.update(llama_cpp_variants.converted_variants(settings, ("int8", "int4")))
        else:
            del offered["int4"]  # NF4 on a CPU: slow at best, and broken on some CPUs
    return offered


def _transformers(settings: Settings) -> dict[str, VariantSpec]:
    from autoglm_demo.engine.transformers_runtime import resolve_device, resolve_dtype

    assert settings.model
    path, source = settings.model, model_source(settings)
    on_gpu = resolve_device(settings.device) == "cuda"
    full_dtype = str(resolve_dtype(settings.dtype, resolve_device(settings.device)))
    methods: dict[str, tuple[str, Quantization | None]] = {
        "full": (f"transformers {full_dtype.removeprefix('torch.')}", None),
        "int8": (
            ("bitsandbytes LLM.int8", "bitsandbytes-int8")
            if on_gpu
            else ("torch dynamic int8 (Linear layers)", "torch-dynamic-int8")
        ),
        "int4": ("bitsandbytes NF4", "bitsandbytes-nf4"),
    }

    def loader(quantization: Quantization | None) -> Callable[[PhaseCallback], Runtime]:
        return lambda on_phase: _load_transformers(settings, path, quantization, on_phase, source)

    def files(quantization: Quantization | None) -> Callable[[], list[Path]]:
        # Only full precision is stored as it runs; quantized sizes are known once loaded.
        local = Path(path)
        if quantization or not local.is_dir():
            return lambda: []
        return lambda: sorted(local.glob("*.safetensors"))

    return {
        precision: VariantSpec(
            source, precision, method, "transformers", files(quantization), loader(quantization)
        )
        for precision, (method, quantization) in methods.items()
    }


def _load_transformers(
    settings: Settings,
    path: str,
    quantization: Quantization | None,
    on_phase: PhaseCallback,
    source: str,
) -> Runtime:
    from autoglm_demo.engine.transformers_runtime import TransformersRuntime

    return TransformersRuntime.load(
        path,
        device=settings.device,
        dtype=settings.dtype,
        trust_remote_code=settings.trust_remote_code,
        quantization=quantization,
        source=source,
        on_phase=on_phase,
    )


MEASURED_QUALITY = Path(__file__).with_name("measured_quality.json")


def _measured_quality(shipped: Path) -> dict[str, dict[str, Any]]:
    """Per-precision quality figures, if they were measured on this very file (its name and
    size must match: figures for other weights would be wrong)."""
    if not MEASURED_QUALITY.is_file():
        return {}
    measured = json.loads(MEASURED_QUALITY.read_text())
    if (measured["source_file"], measured["source_bytes"]) != (
        shipped.name,
        shipped.stat().st_size,
    ):
        return {}
    context = {
        "tokens": measured["tokens"],
        "text": measured["text"],
        "measured": measured["measured"],
    }
    return {
        precision: {**figures, **context} for precision, figures in measured["variants"].items()
    }


def _existing(path: Path) -> list[Path]:
    return [path] if path.is_file() else []
