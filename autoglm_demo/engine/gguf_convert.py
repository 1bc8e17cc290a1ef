"""GGUF files for llama.cpp, made from a transformers checkpoint by llama.cpp's own tools.

The converter (`convert_hf_to_gguf.py` with its `conversion/` package and its `gguf-py/`)
is not published as a library: it ships inside llama-cpp-python's source distribution. So
we fetch the source distribution of the very llama-cpp-python that is installed (converter
and runtime then agree on every tensor name and key), unpack only the converter into the
cache folder, and run it in a subprocess. Its own `gguf-py` goes first on the path, because
PyPI's `gguf` package is older than the converter needs.

A vision checkpoint converts twice: once to the text model, once (`--mmproj`) to the vision
projector that llama.cpp's libmtmd runs. The quantized variants are then made from the F16
text model by llama.cpp's quantizer; the projector stays F16, as is usual, because it is
small and sensitive to rounding.

Everything lands in the cache under names keyed by the checkpoint's files and the
llama-cpp-python version, so each conversion runs once.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from autoglm_demo.engine.llama_cpp_log import import_llama_cpp
from autoglm_demo.shipped import build_once, fingerprint

log = logging.getLogger(__name__)

DISTRIBUTION = "llama-cpp-python"
CONVERTER_SCRIPT = "convert_hf_to_gguf.py"
GPT2_VOCAB = "models/ggml-vocab-gpt-2.gguf"
"""GPT-2's vocabulary, which the converter recognises; tests build tiny models from it."""
_CONVERTER_PARTS = (CONVERTER_SCRIPT, "conversion/", "gguf-py/", GPT2_VOCAB)

QUANT_TYPES = ("Q8_0", "Q4_K_M")
"""The quantized variants: int8 is Q8_0, int4 is Q4_K_M (the usual 4-bit choice for GLM)."""


class ConversionFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class ConvertedModel:
    text: Path
    """The language model GGUF."""
    mmproj: Path | None
    """The vision projector GGUF, for checkpoints that see images."""


def llama_cpp_version() -> str:
    return importlib.metadata.version(DISTRIBUTION)


def converter_dir(cache_dir: Path) -> Path:
    """llama.cpp's converter of the installed version, fetched and unpacked once."""
    version = llama_cpp_version()
    target = cache_dir / "llama.cpp-converter" / version
    if not (target / CONVERTER_SCRIPT).is_file():
        log.info(
            "Fetching llama.cpp's converter (%s %s source distribution, once)",
            DISTRIBUTION,
            version,
        )
        build_once(target, lambda staging: _fetch_converter(version, staging))
    return target


def _fetch_converter(version: str, staging: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="llama-cpp-sdist-") as download:
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-binary",
                ":all:",
                "--no-deps",
                "--quiet",
                f"{DISTRIBUTION}=={version}",
                "--dest",
                download,
            ],
            f"pip could not download the {DISTRIBUTION} {version} source distribution",
        )
        (sdist,) = Path(download).glob("*.tar.gz")
        _unpack_converter(sdist, staging)


def _unpack_converter(sdist: Path, target: Path) -> None:
    """Extract only the converter's parts, with the vendored llama.cpp prefix removed."""
    with tarfile.open(sdist) as archive:
        members = []
        for member in archive.getmembers():
            _, _, inner = member.name.partition("/vendor/llama.cpp/")
            if inner and any(inner == part or inner.startswith(part) for part in _CONVERTER_PARTS):
                member.name = inner
                members.append(member)
        # The "data" filter refuses links and paths that would escape the target folder.
        archive.extractall(target, members=members, filter="data")
    if not (target / CONVERTER_SCRIPT).is_file():
        raise ConversionFailed(f"{sdist.name} holds no {CONVERTER_SCRIPT}")


def convert_checkpoint(
    checkpoint: Path, target: Path, *, cache_dir: Path, outtype: str = "f16", vision: bool
) -> ConvertedModel:
    """Convert a transformers checkpoint folder into `target` (a folder created once)."""
    converter = converter_dir(cache_dir)

    def build(staging: Path) -> None:
        _convert(converter, checkpoint, staging / f"model-{outtype}.gguf", outtype)
        if vision:
            _convert(converter, checkpoint, staging / f"mmproj-{outtype}.gguf", outtype, "--mmproj")

    build_once(target, build)
    mmproj = target / f"mmproj-{outtype}.gguf"
    return ConvertedModel(target / f"model-{outtype}.gguf", mmproj if vision else None)


def _convert(converter: Path, checkpoint: Path, out: Path, outtype: str, *extra: str) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(converter), str(converter / "gguf-py")]),
    }
    _run(
        [
            sys.executable,
            str(converter / CONVERTER_SCRIPT),
            str(checkpoint),
            "--outfile",
            str(out),
            "--outtype",
            outtype,
            *extra,
        ],
        f"llama.cpp's converter failed on {checkpoint}",
        env=env,
    )


def converted_path(checkpoint: Path, cache_dir: Path, outtype: str = "f16") -> Path:
    """Where the conversion of `checkpoint` lives, whether or not it has been made yet."""
    files = sorted(
        path
        for path in checkpoint.iterdir()
        if path.suffix in {".json", ".safetensors", ".jinja", ".model"}
    )
    key = fingerprint(*files) + "-" + llama_cpp_version()
    return cache_dir / "models" / f"{checkpoint.name}-{key}-gguf-{outtype}"


def quantize_gguf(source: Path, target: Path, quant_type: str) -> Path:
    """`source` quantized to `quant_type` (F32, F16, Q8_0, Q4_K_M, …) with llama.cpp's
    quantizer, made once."""
    if target.is_file():
        return target
    llama_cpp = import_llama_cpp()

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    params = llama_cpp.llama_model_quantize_default_params()
    # llama.cpp names every file type MOSTLY_… but F32, which is ALL_F32.
    prefix = "ALL" if quant_type == "F32" else "MOSTLY"
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_{prefix}_{quant_type}")
    params.allow_requantize = True  # a source that is already quantized is fine, if lossy
    if llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), params):
        partial.unlink(missing_ok=True)
        raise ConversionFailed(f"llama.cpp could not quantize {source.name} to {quant_type}")
    partial.rename(target)  # atomic: a half-written file never looks finished
    return target


def _run(command: list[str], failure: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env)
    if done.returncode:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise ConversionFailed(f"{failure}:\n{tail}")
