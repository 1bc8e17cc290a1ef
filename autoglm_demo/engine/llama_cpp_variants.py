"""Precision variants that llama.cpp serves from GGUF files: given ones, or converted ones.

Three ways in, all ending in a GGUF (plus a vision projector for a model that sees):
- a local GGUF: `--model model-F16.gguf --mmproj mmproj-F16.gguf`;
- a hub repo (or local folder) of GGUF files, with the files named:
  `--model org/Repo-GGUF --gguf-file model-Q4_K_M.gguf --mmproj-file mmproj-F16.gguf`;
- a transformers checkpoint (hub id or folder) with `--runtime llama.cpp`, or its int8 and
  int4 variants on a machine without CUDA: converted once into the cache by llama.cpp's own
  converter (gguf_convert.py).

full is F16 (or whatever float type a given GGUF has), int8 is Q8_0 and int4 is Q4_K_M,
quantized from the full GGUF by llama.cpp's quantizer. A given quantized GGUF is served as
its own precision only: quantizing it again would lose more than it saves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from autoglm_demo.engine import gguf_convert
from autoglm_demo.engine.types import Runtime
from autoglm_demo.settings import Settings
from autoglm_demo.shipped import fingerprint

if TYPE_CHECKING:
    from autoglm_demo.engine.catalogue import PhaseCallback, VariantSpec

QUANTIZED = {"int8": "Q8_0", "int4": "Q4_K_M"}
FLOAT_TYPES = ("F32", "F16", "BF16")


def serves_gguf(settings: Settings) -> bool:
    """--model names GGUF files rather than a transformers checkpoint."""
    return bool(settings.gguf_file) or str(settings.model).lower().endswith(".gguf")


def sees_images(model: str) -> bool:
    """Whether a transformers checkpoint has a vision tower (read from its config.json)."""
    try:
        config = json.loads(_checkpoint_file(model, "config.json").read_text())
    except Exception as error:  # no such folder, no hub, not a model: say so at start
        raise SystemExit(f"--model {model}: cannot read its config.json ({error})") from None
    return "vision_config" in config


# -- where each file comes from --------------------------------------------------------


@dataclass(frozen=True)
class GgufFile:
    """A file a variant needs: made (downloaded, converted, quantized) on load, never before."""

    make: Callable[[], Path]
    existing: Callable[[], Path | None]
    """Where it already is, if it is: for /v1/models' sizes, without making anything."""


def _local(path: Path) -> GgufFile:
    return GgufFile(lambda: _existing_file(path), lambda: path if path.is_file() else None)


def _named(model: str, name: str) -> GgufFile:
    """A named file in a local folder, or in a hub repo (downloaded on load)."""
    local = Path(model).expanduser()
    if local.is_dir():
        return _local(local / name)
    return GgufFile(lambda: _checkpoint_file(model, name), lambda: None)


def _quantized(full: GgufFile, cache_dir: Path, quant: str) -> GgufFile:
    def make() -> Path:
        source = full.make()
        return gguf_convert.quantize_gguf(source, _quantized_path(source, cache_dir, quant), quant)

    def existing() -> Path | None:
        source = full.existing()
        target = _quantized_path(source, cache_dir, quant) if source else None
        return target if target and target.is_file() else None

    return GgufFile(make, existing)


def _quantized_path(source: Path, cache_dir: Path, quant: str) -> Path:
    name = f"{source.stem}-{fingerprint(source)}-{quant.lower()}"
    return cache_dir / "models" / name / f"{name}.gguf"


# -- given GGUF files -------------------------------------------------------------------


def gguf_variants(settings: Settings) -> dict[str, VariantSpec]:
    assert settings.model
    if settings.gguf_file:
        model = _named(settings.model, settings.gguf_file)
        source = f"{settings.model} ({settings.gguf_file})"
    else:
        model, source = _local(Path(settings.model).expanduser()), settings.model
        if model.existing() is None:
            raise SystemExit(f"--model {settings.model}: no such GGUF file")
    if settings.mmproj and not Path(settings.mmproj).expanduser().is_file():
        raise SystemExit(f"--mmproj {settings.mmproj}: no such file")
    mmproj = (
        _local(Path(settings.mmproj).expanduser())
        if settings.mmproj
        else _named(settings.model, settings.mmproj_file)
        if settings.mmproj_file
        else None
    )
    file_type = _file_type(model, settings.gguf_file or settings.model)
    precision = _precision(file_type)
    offered = {
        precision: _spec(
            settings,
            source,
            precision,
            f"llama.cpp {file_type} (the given file)",
            model,
            mmproj,
            file_type,
        )
    }
    if precision == "full":
        for lower, quant in QUANTIZED.items():
            offered[lower] = _spec(
                settings,
                source,
                lower,
                f"llama.cpp {quant}, quantized from the given {file_type}",
                _quantized(model, settings.cache_dir, quant),
                mmproj,
                quant,
            )
    return offered


def _file_type(model: GgufFile, name: str) -> str:
    """The GGUF's weight type (F16, Q8_0, Q4_K_M…): from the file when it is on disk, else
    from its name, where GGUF repos write it."""
    local = model.existing()
    if local is not None:
        return _metadata_file_type(local)
    upper = Path(name).name.upper().replace("-", "_")
    names = sorted(_file_type_names().values(), key=len, reverse=True)
    found = next((kind for kind in names if kind in upper), None)
    if found is None:
        raise SystemExit(f"--gguf-file {name}: its name does not say its type (F16, Q8_0, …)")
    return found


def _metadata_file_type(path: Path) -> str:
    from gguf import GGUFReader

    field = GGUFReader(path).fields.get("general.file_type")
    if field is None:
        return "F32"  # converters write no file type for some unquantized files
    return _file_type_names().get(int(field.parts[field.data[0]][0]), "unknown")


def _file_type_names() -> dict[int, str]:
    import llama_cpp

    prefix = "LLAMA_FTYPE_MOSTLY_"
    names = {
        getattr(llama_cpp, n): n.removeprefix(prefix)
        for n in dir(llama_cpp)
        if n.startswith(prefix)
    }
    return {**names, llama_cpp.LLAMA_FTYPE_ALL_F32: "F32"}


def _precision(file_type: str) -> str:
    if file_type in FLOAT_TYPES:
        return "full"
    if file_type == "Q8_0":
        return "int8"
    if file_type.startswith(("Q4", "IQ4")):
        return "int4"
    raise SystemExit(
        f"A {file_type} GGUF is none of full (F16/BF16/F32), int8 (Q8_0) or int4 "
        "(Q4_*); serve one of those"
    )


# -- converted checkpoints --------------------------------------------------------------


def converted_variants(
    settings: Settings, precisions: tuple[str, ...] = ("full", "int8", "int4")
) -> dict[str, VariantSpec]:
    """A transformers checkpoint converted once to an F16 GGUF (and projector), then
    quantized per precision."""
    assert settings.model
    model = settings.model
    vision = sees_images(model)

    def target(checkpoint: Path) -> Path:
        return gguf_convert.converted_path(checkpoint, settings.cache_dir)

    def convert() -> gguf_convert.ConvertedModel:
        checkpoint = _checkpoint_dir(model)
        return gguf_convert.convert_checkpoint(
            checkpoint, target(checkpoint), cache_dir=settings.cache_dir, vision=vision
        )

    def existing(name: str) -> Callable[[], Path | None]:
        local = Path(model).expanduser()
        if not local.is_dir():
            return lambda: None  # a hub checkpoint: its snapshot folder is known once fetched
        return lambda: path if (path := target(local) / name).is_file() else None

    text = GgufFile(lambda: convert().text, existing("model-f16.gguf"))
    mmproj = GgufFile(lambda: _projector(convert()), existing("mmproj-f16.gguf"))
    offered = {
        "full": _spec(
            settings,
            model,
            "full",
            "llama.cpp F16 (converted by llama.cpp)",
            text,
            mmproj if vision else None,
            "F16",
        ),
    }
    for precision, quant in QUANTIZED.items():
        offered[precision] = _spec(
            settings,
            model,
            precision,
            f"llama.cpp {quant} (converted by llama.cpp)",
            _quantized(text, settings.cache_dir, quant),
            mmproj if vision else None,
            quant,
        )
    return {precision: offered[precision] for precision in precisions}


def _projector(converted: gguf_convert.ConvertedModel) -> Path:
    if converted.mmproj is None:
        raise ValueError("the checkpoint has no vision tower to convert")
    return converted.mmproj


def _checkpoint_dir(model: str) -> Path:
    local = Path(model).expanduser()
    if local.is_dir():
        return local
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(model))


def _checkpoint_file(model: str, name: str) -> Path:
    """A file of a local folder or of a hub repo (downloaded once into the hub cache)."""
    local = Path(model).expanduser()
    if local.is_dir():
        return _existing_file(local / name)
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(model, name))


def _existing_file(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return path


# -- specs ------------------------------------------------------------------------------


def _spec(
    settings: Settings,
    source: str,
    precision: str,
    method: str,
    model: GgufFile,
    mmproj: GgufFile | None,
    dtype: str,
) -> VariantSpec:
    from autoglm_demo.engine.catalogue import VariantSpec  # catalogue imports this module

    def load(on_phase: PhaseCallback) -> Runtime:
        on_phase(f"preparing the {precision} GGUF (made once: downloaded, converted, quantized)")
        if mmproj is None:
            from autoglm_demo.engine.llama_cpp_runtime import LlamaCppRuntime

            return LlamaCppRuntime.load(
                model.make(),
                source=source,
                dtype=dtype,
                threads=settings.llama_threads,
                on_phase=on_phase,
            )
        from autoglm_demo.engine.llama_cpp_vision_runtime import LlamaCppVisionRuntime

        return LlamaCppVisionRuntime.load(
            model.make(),
            mmproj.make(),
            source=source,
            dtype=dtype,
            threads=settings.llama_threads,
            on_phase=on_phase,
        )

    def files() -> list[Path]:
        found = [model.existing(), *([mmproj.existing()] if mmproj else [])]
        return [path for path in found if path] if all(found) else []

    described = method + (", with its vision projector" if mmproj else "")
    return VariantSpec(source, precision, described, "llama.cpp", files, load)
