"""Sampling penalties as vLLM applies them, on each runtime, with real models.

At temperature 0 a model's text is fixed, so a penalty that is applied must change it; and
a frequency penalty must make the text repeat itself less. Both runtimes are checked: the
transformers one over HTTP (so the request's fields reach it), the llama.cpp one directly
on the shipped offline GGUF.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from autoglm_demo.engine.catalogue import variant_specs
from autoglm_demo.engine.llama_cpp_runtime import LlamaCppRuntime
from autoglm_demo.engine.offline_default import shipped_gguf_path
from autoglm_demo.engine.types import ChatMessage, SamplingParams, TextDelta
from autoglm_demo.settings import Settings
from tests.conftest import app_for, serve_app

LOOPING_PROMPT = "List the days of the week, one per line, and keep going."


def repeats(tokens: list[int]) -> int:
    """Generated tokens that repeat an earlier one."""
    return len(tokens) - len(set(tokens))


@pytest.fixture(scope="module")
def base_url(tiny_llama_dir: Path) -> Iterator[str]:
    with serve_app(app_for(tiny_llama_dir, device="cpu")) as url:
        yield url


def complete(base_url: str, **fields: object) -> httpx.Response:
    body = {
        "model": "autoglm-phone-9b",
        "messages": [{"role": "user", "content": LOOPING_PROMPT}],
        "temperature": 0,
        "max_tokens": 48,
        **fields,
    }
    return httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=120)


def text_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]["content"]


def test_transformers_frequency_penalty_changes_the_text_and_repeats_less(
    base_url: str, tiny_llama_dir: Path
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    plain = text_of(complete(base_url, frequency_penalty=0.0))
    penalised = text_of(complete(base_url, frequency_penalty=2.0))
    assert penalised != plain
    def count(text: str) -> int:
        return repeats(tokenizer.encode(text, add_special_tokens=False))

    assert count(penalised) < count(plain), (plain, penalised)


@pytest.mark.parametrize(
    "fields", [{"presence_penalty": 2.0}, {"repetition_penalty": 1.5}, {"frequency_penalty": -2.0}]
)
def test_transformers_every_penalty_is_applied(base_url: str, fields: dict[str, float]) -> None:
    assert text_of(complete(base_url, **fields)) != text_of(complete(base_url))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("frequency_penalty", 2.5),
        ("frequency_penalty", -2.01),
        ("presence_penalty", 3),
        ("presence_penalty", "0.5"),
        ("repetition_penalty", 0),
        ("repetition_penalty", 1e-300),
        ("repetition_penalty", -1.0),
        ("frequency_penalty", True),
    ],
)
def test_out_of_range_penalties_get_a_400_in_openai_shape(
    base_url: str, field: str, value: object
) -> None:
    response = complete(base_url, **{field: value})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == field
    assert error["message"]


# --- llama.cpp, on the shipped offline GGUF -------------------------------------------------


@pytest.fixture(scope="module")
def gguf_runtime() -> LlamaCppRuntime:
    return LlamaCppRuntime.load(shipped_gguf_path(), source="test", dtype="Q4_1", threads=2)


def generate(runtime: LlamaCppRuntime, **params: float) -> list[int]:
    prompt = runtime.prepare([ChatMessage("user", LOOPING_PROMPT)], {})
    # Seeded: llama.cpp then evaluates the whole prompt afresh, so a reused cache cannot
    # be what changed the text.
    sampling = SamplingParams(max_tokens=96, temperature=0.0, seed=0, **params)  # type: ignore[arg-type]
    text = "".join(
        event.text
        for event in runtime.generate(prompt, sampling, threading.Event())
        if isinstance(event, TextDelta)
    )
    return runtime.llm.tokenize(text.encode(), add_bos=False, special=True)


@pytest.mark.slow
def test_llama_cpp_frequency_penalty_changes_the_text_and_repeats_less(
    gguf_runtime: LlamaCppRuntime,
) -> None:
    plain = generate(gguf_runtime, frequency_penalty=0.0)
    penalised = generate(gguf_runtime, frequency_penalty=2.0)
    assert penalised != plain
    assert repeats(penalised) < repeats(plain)


@pytest.mark.slow
@pytest.mark.parametrize("fields", [{"presence_penalty": 2.0}, {"repetition_penalty": 1.5}])
def test_llama_cpp_every_penalty_is_applied(
    gguf_runtime: LlamaCppRuntime, fields: dict[str, float]
) -> None:
    assert generate(gguf_runtime, **fields) != generate(gguf_runtime)


@pytest.mark.slow
def test_the_offline_default_loops_less_with_its_default_penalty(
    gguf_runtime: LlamaCppRuntime,
) -> None:
    defaults = {spec.precision: spec.sampling_defaults for spec in variant_specs(Settings())}
    assert defaults["int4"] == defaults["int8"] == defaults["full"]
    assert defaults["int4"], "the offline default should carry a penalty"
    looping = generate(gguf_runtime)
    damped = generate(gguf_runtime, **defaults["int4"])
    assert repeats(damped) < repeats(looping)


