"""What --model, --runtime, --mmproj, --gguf-file and --mmproj-file serve, variant by variant.

No hub is reachable, so hub repos are tested for what happens before anything is fetched
(nothing is), and the same code paths are loaded from local folders.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from autoglm_demo.engine.catalogue import variant_specs
from autoglm_demo.engine.gguf_convert import ConvertedModel, convert_checkpoint, converted_path
from autoglm_demo.settings import Settings

on_cuda = torch.cuda.is_available()


@pytest.fixture(scope="module")
def gguf_folder(
    tiny_glm4v_dir: Path, gguf_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A folder of GGUF files, laid out as a hub repo of them would be."""
    converted: ConvertedModel = convert_checkpoint(
        tiny_glm4v_dir,
        converted_path(tiny_glm4v_dir, gguf_cache_dir, "f32"),
        cache_dir=gguf_cache_dir,
        outtype="f32",
        vision=True,
    )
    assert converted.mmproj is not None
    folder = tmp_path_factory.mktemp("repo-gguf")
    shutil.copy(converted.text, folder / "tiny-glm4v-F32.gguf")
    shutil.copy(converted.mmproj, folder / "mmproj-tiny-glm4v-F32.gguf")
    return folder


def by_precision(settings: Settings) -> dict[str, object]:
    return {spec.precision: spec for spec in variant_specs(settings)}


def test_a_folder_of_gguf_files_serves_the_named_files(gguf_folder: Path, tmp_path: Path) -> None:
    settings = Settings(
        model=str(gguf_folder),
        gguf_file="tiny-glm4v-F32.gguf",
        mmproj_file="mmproj-tiny-glm4v-F32.gguf",
        cache_dir=tmp_path,
    )
    specs = by_precision(settings)
    assert list(specs) == ["full", "int8", "int4"]
    full, int4 = specs["full"], specs["int4"]
    assert full.runtime == int4.runtime == "llama.cpp"  # type: ignore[attr-defined]
    assert full.method.startswith("llama.cpp F32 (the given file)")  # type: ignore[attr-defined]
    assert [p.name for p in full.files()] == ["tiny-glm4v-F32.gguf", "mmproj-tiny-glm4v-F32.gguf"]  # type: ignore[attr-defined]
    assert int4.files() == []  # type: ignore[attr-defined]  # not quantized until first used
    runtime = int4.load(lambda phase: None)  # type: ignore[attr-defined]
    assert runtime.info.vision and runtime.info.runtime == "llama.cpp"
    assert runtime.info.dtype == "Q4_K_M"
    assert [p.suffix for p in int4.files()] == [".gguf", ".gguf"]  # type: ignore[attr-defined]


def test_a_hub_repo_of_gguf_files_is_described_without_fetching_anything(tmp_path: Path) -> None:
    settings = Settings(
        model="zai-org/AutoGLM-Phone-9B-GGUF",
        gguf_file="AutoGLM-Phone-9B-Q4_K_M.gguf",
        mmproj_file="mmproj-AutoGLM-Phone-9B-F16.gguf",
        cache_dir=tmp_path,
    )
    (int4,) = variant_specs(settings)
    assert (int4.precision, int4.runtime) == ("int4", "llama.cpp")
    assert int4.method == "llama.cpp Q4_K_M (the given file), with its vision projector"
    assert int4.source == "zai-org/AutoGLM-Phone-9B-GGUF (AutoGLM-Phone-9B-Q4_K_M.gguf)"
    assert int4.files() == []


def test_missing_files_stop_the_start_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no such GGUF file"):
        variant_specs(Settings(model=str(tmp_path / "absent.gguf"), cache_dir=tmp_path))
    with pytest.raises(SystemExit, match="cannot read its config.json"):
        variant_specs(Settings(model=str(tmp_path), runtime="llama.cpp", cache_dir=tmp_path))


def test_a_gguf_of_no_served_precision_is_refused(tmp_path: Path) -> None:
    settings = Settings(model="org/repo", gguf_file="model-Q5_K_M.gguf", cache_dir=tmp_path)
    with pytest.raises(SystemExit, match="Q5_K_M"):
        variant_specs(settings)


def test_a_checkpoint_with_runtime_llama_cpp_is_converted_once(
    tiny_glm4v_dir: Path, gguf_cache_dir: Path
) -> None:
    settings = Settings(model=str(tiny_glm4v_dir), runtime="llama.cpp", cache_dir=gguf_cache_dir)
    specs = by_precision(settings)
    assert {spec.runtime for spec in specs.values()} == {"llama.cpp"}  # type: ignore[attr-defined]
    assert [spec.method.split(" (")[0] for spec in specs.values()] == [  # type: ignore[attr-defined]
        "llama.cpp F16",
        "llama.cpp Q8_0",
        "llama.cpp Q4_K_M",
    ]
    runtime = specs["int8"].load(lambda phase: None)  # type: ignore[attr-defined]
    assert runtime.info.vision and runtime.info.dtype == "Q8_0"
    # The F16 conversion and its projector are now in the cache, and reported.
    assert [p.name for p in specs["full"].files()] == ["model-f16.gguf", "mmproj-f16.gguf"]  # type: ignore[attr-defined]


@pytest.mark.skipif(on_cuda, reason="on CUDA the quantized variants stay on transformers")
def test_without_cuda_a_vision_model_never_gets_bitsandbytes(
    tiny_glm4v_dir: Path, tiny_llama_dir: Path
) -> None:
    auto = by_precision(Settings(model=str(tiny_glm4v_dir), device="cpu"))
    assert [auto[p].runtime for p in ("full", "int8", "int4")] == [
        "transformers",
        "llama.cpp",
        "llama.cpp",
    ]  # type: ignore[attr-defined]
    explicit = by_precision(
        Settings(model=str(tiny_glm4v_dir), runtime="transformers", device="cpu")
    )
    assert list(explicit) == ["full", "int8"]
    assert "bitsandbytes" not in explicit["int8"].method  # type: ignore[attr-defined]
    # A text model keeps its transformers variants.
    text = by_precision(Settings(model=str(tiny_llama_dir), device="cpu"))
    assert {spec.runtime for spec in text.values()} == {"transformers"}  # type: ignore[attr-defined]
