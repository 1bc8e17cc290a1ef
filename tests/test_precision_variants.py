"""Precision variants: each answers, they load on demand, and the budget evicts without harm.

The tiny random Llama runs every variant of the transformers path on the CPU (float32,
torch dynamic int8, bitsandbytes NF4); the offline default runs the llama.cpp variants.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from autoglm_demo.answering import AnswerRequest, stream_answer
from autoglm_demo.client import BackendClient, ChatOptions
from autoglm_demo.conversation import Turn, TurnStatus
from autoglm_demo.engine.admission import Admission
from autoglm_demo.engine.catalogue import VariantSpec, variant_specs
from autoglm_demo.engine.engine import Engine
from autoglm_demo.engine.pool import Variant, VariantPool
from autoglm_demo.engine.transformers_runtime import TransformersRuntime
from autoglm_demo.engine.types import Runtime
from autoglm_demo.server.api import create_app
from autoglm_demo.settings import Settings, parse_settings
from autoglm_demo.ui.compare import compare
from autoglm_demo.ui.overlay import overlay_hook
from tests.conftest import app_for, serve_app

MODEL = "autoglm-phone-9b"


def _cards(base: str) -> dict[str, dict[str, object]]:
    return {card["id"]: card for card in httpx.get(f"{base}/v1/models").json()["data"]}


def _ask(base: str, model: str, max_tokens: int = 8, **fields: object) -> httpx.Response:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Name a colour."}],
        "max_tokens": max_tokens,
        "temperature": 0,
        **fields,
    }
    return httpx.post(f"{base}/v1/chat/completions", json=body, timeout=120)


def test_precisions_accept_commas_and_refuse_unknown_names() -> None:
    assert parse_settings(["--precisions", "full,int8"]).precisions == ("full", "int8")
    assert parse_settings(["--precisions", "int4", "full"]).precisions == ("int4", "full")
    with pytest.raises(SystemExit, match="int3"):
        parse_settings(["--precisions", "full,int3"])


def test_a_precision_the_model_cannot_have_here_stops_the_start(tiny_llama_dir: Path) -> None:
    with pytest.raises(SystemExit, match="not available"):
        variant_specs(Settings(model=str(tiny_llama_dir), precisions=("int2",)))  # type: ignore[arg-type]


def test_every_transformers_variant_answers_and_reports_its_weights(tiny_llama_dir: Path) -> None:
    with serve_app(app_for(tiny_llama_dir, device="cpu", max_loaded_variants=0)) as base:
        for model in (f"{MODEL}-full", f"{MODEL}-int8", f"{MODEL}-int4"):
            response = _ask(base, model)
            assert response.status_code == 200, response.text
            assert response.json()["usage"]["completion_tokens"] == 8
        cards = _cards(base)
    full, int8, int4 = (cards[name] for name in (f"{MODEL}-full", f"{MODEL}-int8", f"{MODEL}-int4"))
    assert full["method"] == "transformers float32"
    assert (
        int8["method"].startswith("torch dynamic int8") and int8["dtype"] == "int8 (torch dynamic)"
    )
    assert int4["method"] == "bitsandbytes NF4" and int4["dtype"] == "nf4 (bitsandbytes)"
    assert all(card["status"] == "ready" for card in (full, int8, int4))
    # Only Linear layers are quantized (bitsandbytes also keeps lm_head), and embeddings
    # dominate a model this small, so only "smaller than full" holds for both.
    assert max(int8["weight_bytes"], int4["weight_bytes"]) < full["weight_bytes"]


def test_unknown_variant_is_a_404_listing_the_served_ones(tiny_llama_dir: Path) -> None:
    with serve_app(app_for(tiny_llama_dir, device="cpu", precisions=("full", "int8"))) as base:
        response = _ask(base, f"{MODEL}-int4")
        assert set(_cards(base)) == {f"{MODEL}-full", MODEL, f"{MODEL}-int8"}
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "model_not_found" and f"{MODEL}-int8" in error["message"]


def test_budget_unloads_the_least_recently_used_variant(tiny_llama_dir: Path) -> None:
    app = app_for(tiny_llama_dir, device="cpu", max_loaded_variants=2)
    with serve_app(app) as base:
        assert _ask(base, f"{MODEL}-int8").status_code == 200
        assert _ask(base, f"{MODEL}-full").status_code == 200  # now the more recent one
        assert _ask(base, f"{MODEL}-int4").status_code == 200
        states = {name: card["status"] for name, card in _cards(base).items()}
        assert states == {f"{MODEL}-full": "ready", MODEL: "ready",
                          f"{MODEL}-int8": "unloaded", f"{MODEL}-int4": "ready"}
        assert _ask(base, f"{MODEL}-int8").status_code == 200  # and it loads again on demand


def test_evicting_a_variant_does_not_break_its_stream_in_flight(tiny_llama_dir: Path) -> None:
    # The tiny model never ends a turn by itself, so the stream runs to max_tokens.
    app = app_for(tiny_llama_dir, device="cpu", max_loaded_variants=1)
    with serve_app(app) as base:
        sdk = openai.OpenAI(base_url=f"{base}/v1", api_key="EMPTY", max_retries=0)
        stream = sdk.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Go on."}],
            max_tokens=300,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = iter(stream)
        next(chunks)  # the stream has started on the full-precision variant
        other = threading.Thread(target=lambda: _ask(base, f"{MODEL}-int8"))
        other.start()  # loading int8 unloads full, whose stream must still finish
        rest = list(chunks)
        other.join(timeout=120)
        states = {name: card["status"] for name, card in _cards(base).items()}
    assert rest[-1].usage is not None and rest[-1].usage.completion_tokens == 300
    assert [c.choices[0].finish_reason for c in rest if c.choices][-1] == "length"
    assert states[MODEL] == "unloaded" and states[f"{MODEL}-int8"] == "ready"


def test_a_variant_loading_does_not_hold_up_the_others(tiny_llama_dir: Path) -> None:
    release = threading.Event()

    def held(on_phase: Callable[[str], None]) -> Runtime:
        on_phase("loading int8 (held by the test)")
        assert release.wait(timeout=60)
        return TransformersRuntime.load(str(tiny_llama_dir))

    def spec(precision: str, load: Callable[[Callable[[str], None]], Runtime]) -> VariantSpec:
        return VariantSpec("tiny", precision, "test", "transformers", lambda: [], load)

    full = Variant(
        (MODEL,), spec("full", lambda phase: TransformersRuntime.load(str(tiny_llama_dir)))
    )
    int8 = Variant((f"{MODEL}-int8",), spec("int8", held))
    pool = VariantPool([full, int8], full, lambda s: Engine(s.load), admission=Admission())
    with serve_app(create_app(Settings(), pool)) as base, ThreadPoolExecutor(1) as waiter:
        waiting = waiter.submit(_ask, base, f"{MODEL}-int8")
        for _ in range(100):  # bounded: until the load has started
            if _cards(base)[f"{MODEL}-int8"]["status"] == "loading":
                break
            threading.Event().wait(0.05)
        assert _cards(base)[f"{MODEL}-int8"]["status_detail"] == "loading int8 (held by the test)"
        assert _ask(base, MODEL).status_code == 200  # full answers while int8 loads
        assert not waiting.done()
        release.set()
        assert waiting.result().status_code == 200


def test_a_byte_budget_unloads_what_does_not_fit(tiny_llama_dir: Path) -> None:
    specs = variant_specs(Settings(model=str(tiny_llama_dir), device="cpu"))
    variants = [Variant((spec.precision,), spec) for spec in specs]
    full_bytes = sum(path.stat().st_size for path in specs[0].files())
    # Room for full precision and a little more, but not for a second variant beside it.
    pool = VariantPool(
        variants,
        variants[0],
        lambda spec: Engine(spec.load),
        admission=Admission(),
        max_bytes=full_bytes + 1000,
    )
    with serve_app(create_app(Settings(), pool)) as base:
        assert _ask(base, "full").status_code == 200
        assert _ask(base, "int8").status_code == 200
        states = {name: card["status"] for name, card in _cards(base).items()}
    assert states == {"full": "unloaded", "int8": "ready", "int4": "unloaded"}


@pytest.fixture(scope="module")
def base(offline_cache_dir: Path) -> Iterator[str]:
    """The offline default with every variant allowed to stay loaded."""
    with serve_app(app_for(None, cache_dir=offline_cache_dir, max_loaded_variants=0)) as url:
        yield url


@pytest.mark.slow
class TestOfflineDefaultVariants:

    def test_the_page_default_is_int8_on_llama_cpp(self, base: str) -> None:
        cards = _cards(base)
        default = [card for card in cards.values() if card["default"]]
        # Its own name, and the bare one: a client asking for the model gets the loaded variant.
        assert [card["id"] for card in default] == [f"{MODEL}-int8", MODEL]
        assert default[0]["runtime"] == "llama.cpp" and default[0]["dtype"] == "Q8_0"
        assert "requantized from the shipped Q4_1" in default[0]["method"]

    def test_each_variant_answers_through_the_api(self, base: str) -> None:
        sdk = openai.OpenAI(base_url=f"{base}/v1", api_key="EMPTY", max_retries=0)
        answers = {}
        for model in (f"{MODEL}-full", f"{MODEL}-int8", f"{MODEL}-int4"):
            reply = sdk.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": "What is the capital of France?"}],
                max_tokens=24,
                temperature=0,
            )
            answers[model] = reply.choices[0].message.content or ""
            assert reply.usage and reply.usage.completion_tokens > 0
        # Not the same words: greedy decoding on a 135M model flips on near-ties (here "The"
        # against "L'", 0.09 apart in the logits), which is what the quality bench measures.
        assert all(answer.strip() for answer in answers.values()), answers
        cards = _cards(base)
        sizes = [cards[f"{MODEL}-{p}"]["weight_bytes"] for p in ("full", "int8", "int4")]
        assert sizes[1] <= 0.3 * sizes[0] and sizes[2] < sizes[1]
        assert cards[f"{MODEL}-full"]["runtime"] == "llama.cpp"
        assert cards[f"{MODEL}-full"]["dtype"] == "F32"

    def test_llama_cpp_streams_stop_strings_and_seeds(self, base: str) -> None:
        counting = [{"role": "user", "content": "Count from 1 to 10, separated by commas."}]
        stopped = _ask(base, f"{MODEL}-int4", max_tokens=40, stop=["5"], messages=counting)
        choice = stopped.json()["choices"][0]
        assert choice["finish_reason"] == "stop"
        assert "4" in choice["message"]["content"] and "5" not in choice["message"]["content"]
        sampled = [
            _ask(base, f"{MODEL}-int8", max_tokens=20, temperature=1.0, seed=7).json()
            for _ in range(2)
        ]
        assert (
            sampled[0]["choices"][0]["message"]["content"]
            == sampled[1]["choices"][0]["message"]["content"]
        )

    def test_llama_cpp_keeps_multibyte_text_whole_while_streaming(self, base: str) -> None:
        sdk = openai.OpenAI(base_url=f"{base}/v1", api_key="EMPTY", max_retries=0)
        stream = sdk.chat.completions.create(
            model=f"{MODEL}-int4",
            messages=[{"role": "user", "content": "Write the Chinese word for 'hello': 你好"}],
            max_tokens=40,
            temperature=0,
            stream=True,
        )
        pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
        assert "你好" in "".join(pieces)  # greedy: the model writes the word back
        assert not any("\ufffd" in piece for piece in pieces)

    def test_switching_variants_mid_conversation_keeps_the_history(self, base: str) -> None:
        client = BackendClient(f"{base}/v1")
        options = ChatOptions(max_tokens=16, temperature=0, enable_thinking=False)
        turns = [Turn(text="My name is Ada. Say hello to me.")]

        async def answer(model: str) -> None:
            request = AnswerRequest(model, None, "", options)
            async for _ in stream_answer(
                client, turns, request, overlay=overlay_hook(Path("/tmp"))
            ):
                pass

        async def conversation() -> None:
            await answer(f"{MODEL}-int8")
            turns.append(Turn(text="What is my name?"))
            await answer(f"{MODEL}-int4")

        asyncio.run(conversation())
        first, second = turns[0].metrics, turns[1].metrics
        assert [turn.status for turn in turns] == [TurnStatus.DONE, TurnStatus.DONE]
        assert first and second and first.model.endswith("int8") and second.model.endswith("int4")
        # The second request carried the first question and its answer.
        assert second.prompt_tokens > first.prompt_tokens + first.completion_tokens

    def test_compare_returns_two_complete_answers(self, base: str) -> None:
        client = BackendClient(f"{base}/v1")
        options = ChatOptions(max_tokens=24, temperature=0, enable_thinking=False)
        requests = (
            AnswerRequest(f"{MODEL}-int8", "int8", "", options),
            AnswerRequest(MODEL, "full", "", options),
        )
        question = Turn(text="What is the capital of France?")

        async def run() -> tuple[list[str | None], tuple[list[Turn], list[Turn]]]:
            loading, last = [], None
            async for state in compare(client, question, requests, Path("/tmp")):
                loading.append(state.loading)
                last = state.sides
            assert last is not None
            return loading, last

        _, (side_a, side_b) = asyncio.run(run())
        for side, model in ((side_a, f"{MODEL}-int8"), (side_b, MODEL)):
            (turn,) = side
            assert turn.status is TurnStatus.DONE and turn.answer.strip()
            assert turn.metrics and turn.metrics.model == model and turn.metrics.ttft_s is not None
        assert question.answer == ""  # the question itself is left as it was asked
