"""Precision benchmark: what the int8 and int4 variants of the offline default cost and buy.

The offline default (SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF) is served at three
precisions, all on llama.cpp: `full` (F32: the Q4_1 weights, dequantized once), `int8` (Q8_0,
requantized once from the Q4_1 file) and `int4` (the Q4_1 file itself). transformers in
float32, on the same dequantized weights, is the independent reference for `full`.
For each one this measures:

- size: the weight bytes /v1/models reports once it is loaded, and the peak resident memory
  (VmHWM) of a server process that serves only that variant, after loading and one answer;
- speed: TTFT and decode tok/s of one greedy 128-token streamed answer through our server,
  beside llama.cpp's own server (`python -m llama_cpp.server`, same GGUF file, same threads,
  same greedy settings) for int8 and int4. All five paths alternate within each round, as
  in bench_backend: medians over rounds, best rounds beside them. The memory-bandwidth
  ceiling of each variant is the measured read bandwidth / its weight bytes;
- quality: teacher-forced over the shipped text bench/data/eval_text.txt, in windows of
  512 tokens (the same token ids and windows for every variant): each variant's perplexity,
  and how often its top-1 next token equals full precision's; and full precision (and an
  F16 file, to show why full is F32) against the transformers float32 reference;
- for reference, the weight reconstruction error of per-tensor affine int8 (the seed's
  scheme) and of Q8_0, over every 2-D weight of the float32 export.

Caveat: "full" is itself the shipped Q4_1 weights, dequantized. Quality here is the error of
the int8 and int4 runtimes against those exact float32 values, not the loss against the
original bf16 checkpoint, which is not shipped.

    python -m bench.bench_precision [--repeats 7] [--max-tokens 128]

Writes bench/results/precision.json, autoglm_demo/engine/measured_quality.json (which the
server reads to show quality) and docs/precision.png.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import torch

from autoglm_demo.engine.llama_cpp_runtime import MAX_CONTEXT, available_threads
from autoglm_demo.engine.offline_default import (
    FULL_TYPE,
    GGUF_NAME,
    requantized_gguf,
    shipped_gguf_path,
)
from bench.bench_backend import Measure, chat_body, read_bandwidth, run_rounds, summarise
from bench.common import (
    DEFAULT_CACHE_DIR,
    DEFAULT_PROMPT,
    LOOPBACK,
    REPO_ROOT,
    StreamTiming,
    assert_loopback,
    free_port,
    loopback_url,
    machine,
    markdown_table,
    median,
    offline_env,
    server_process,
    timed_sse,
    write_results,
)
from bench.reference_model import reference_model_dir

PRECISIONS = ("full", "int8", "int4")
QUANTIZED = ("int8", "int4")
OURS, PEER = "ours", "llama_cpp.server"
SERVED_NAME = {"full": "autoglm-phone-9b", "int8": "autoglm-phone-9b-int8",
               "int4": "autoglm-phone-9b-int4"}
# llama_cpp.server's defaults are repeat_penalty 1.1, top_k 40, min_p 0.05, top_p 0.95; ours
# switches the last three off, and the peer is asked for the same. Both are asked for no
# repetition penalty: ours serves the offline default with one, counted over the whole
# answer where llama.cpp's server counts the last 64 tokens, so the two greedy answers
# part after a few hundred characters. Without it they are the same, token for token.
PEER_SAMPLING = {"repeat_penalty": 1.0, "top_k": 0, "min_p": 0.0, "top_p": 1.0}
OURS_SAMPLING = {"repetition_penalty": 1.0}

EVAL_TEXT = REPO_ROOT / "bench" / "data" / "eval_text.txt"
QUALITY_JSON = REPO_ROOT / "autoglm_demo" / "engine" / "measured_quality.json"
PLOT = REPO_ROOT / "docs" / "precision.png"
WINDOW = 512


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_precision", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9, help="measured rounds (after a warm-up)")
    parser.add_argument("--max-tokens", type=int, default=128, help="greedy tokens per answer")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--bandwidth-gib", type=float, default=1.0, help="array size for bandwidth")
    args = parser.parse_args()
    if not (1 <= args.repeats <= 50 and 2 <= args.max_tokens <= 1024):
        parser.error("--repeats must be 1..50 and --max-tokens 2..1024")
    return args


def gguf_files(cache_dir: Path) -> dict[str, Path]:
    """The files the variants serve, exactly as the catalogue loads them."""
    return {"full": requantized_gguf(cache_dir, FULL_TYPE),
            "int8": requantized_gguf(cache_dir, "Q8_0"), "int4": shipped_gguf_path()}



# -- quality: teacher-forced over the shipped text -------------------------------------------


@dataclass(frozen=True)
class Predictions:
    """Per predicted position: the negative log-likelihood of the text's next token, and the
    model's own top-1 next token."""

    nll: np.ndarray
    top1: np.ndarray


def token_ids(model_dir: Path, text: str) -> list[int]:
    """The text's token ids (no BOS), from the tokenizer of the export; the GGUF's own
    tokenizer gives the same ids, checked when each GGUF is loaded."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)(text, add_special_tokens=False).input_ids


def windows(ids: list[int], size: int = WINDOW) -> list[list[int]]:
    """Consecutive windows with no overlap; each starts with an empty context."""
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def score(logits: torch.Tensor, window: list[int]) -> Predictions:
    """Row i of `logits` predicts token i + 1 of the window; the last row predicts nothing."""
    predicting = logits[:-1].float()
    targets = torch.tensor(window[1:])
    nll = -torch.log_softmax(predicting, dim=-1).gather(1, targets[:, None])[:, 0]
    return Predictions(nll.numpy(), predicting.argmax(dim=-1).numpy())


def joined(parts: list[Predictions]) -> Predictions:
    return Predictions(np.concatenate([p.nll for p in parts]),
                       np.concatenate([p.top1 for p in parts]))


def transformers_predictions(model_dir: Path, chunks: list[list[int]]) -> Predictions:
    """The reference: transformers, float32, on the export."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    with torch.inference_mode():
        return joined([score(model(torch.tensor([chunk])).logits[0], chunk) for chunk in chunks])


def llama_cpp_predictions(gguf: Path, chunks: list[list[int]], text: str) -> Predictions:
    """A variant on llama.cpp: every position's logits, one window at a time."""
    from llama_cpp import Llama

    threads = available_threads()
    llm = Llama(str(gguf), n_ctx=WINDOW, n_batch=WINDOW, n_ubatch=WINDOW, logits_all=True,
                n_threads=threads, n_threads_batch=threads, verbose=False)
    try:
        if llm.tokenize(text.encode("utf-8"), add_bos=False) != [i for c in chunks for i in c]:
            raise RuntimeError(f"{gguf.name} tokenizes the eval text differently")
        parts = []
        for chunk in chunks:
            llm.reset()
            llm.eval(chunk)
            parts.append(score(torch.from_numpy(llm.scores[: len(chunk)].copy()), chunk))
        return joined(parts)
    finally:
        llm.close()


def measure_quality(model_dir: Path, ggufs: dict[str, Path], f16: Path) -> dict[str, Any]:
    """Perplexity and top-1 agreement with full precision, for every variant; and how close
    full precision (F32) and an F16 file come to the transformers float32 reference."""
    text = EVAL_TEXT.read_text(encoding="utf-8")
    ids = token_ids(model_dir, text)
    chunks = windows(ids)
    reference = transformers_predictions(model_dir, chunks)
    gc.collect()  # the float32 model goes before the servers start
    predictions = {precision: llama_cpp_predictions(gguf, chunks, text)
                   for precision, gguf in ggufs.items()}
    next_tokens = np.array([i for chunk in chunks for i in chunk[1:]])

    def figures(p: Predictions, against: Predictions) -> dict[str, float]:
        return {
            "perplexity": float(np.exp(p.nll.astype(np.float64).mean())),
            "top1_agreement": float((p.top1 == against.top1).mean()),
            "top1_accuracy": float((p.top1 == next_tokens).mean()),  # against the text itself
            "mean_abs_nll_difference": float(np.abs(p.nll - against.nll).mean()),
        }

    f16_predictions = llama_cpp_predictions(f16, chunks, text)
    candidates = {"F32 (full)": predictions["full"], "F16": f16_predictions}
    return {"tokens": len(ids), "windows": len(chunks), "predicted_positions": len(next_tokens),
            "variants": {precision: figures(p, predictions["full"])
                         for precision, p in predictions.items()},
            "against_transformers_float32": {
                "transformers float32": figures(reference, reference),
                **{name: figures(p, reference) for name, p in candidates.items()}}}


# -- weight reconstruction error: the seed's int8 scheme beside Q8_0 -------------------------

Scheme = Callable[[np.ndarray], np.ndarray]
"""A quantization round trip: float32 weights in, their dequantized values out."""


def affine_int8(weight: np.ndarray) -> np.ndarray:
    """Per-tensor affine int8, the seed's scheme: one scale and one zero point, 256 levels."""
    low, high = float(weight.min()), float(weight.max())
    scale = (high - low) / 255 or 1.0
    zero_point = round(-low / scale) - 128
    levels = np.clip(np.round(weight / scale) + zero_point, -128, 127)
    return ((levels - zero_point) * scale).astype(np.float32)


def q8_0(weight: np.ndarray) -> np.ndarray:
    """Q8_0: symmetric int8 in blocks of 32 along each row, one float16 scale per block."""
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize, quantize

    kind = GGMLQuantizationType.Q8_0
    return dequantize(quantize(weight, kind), kind)


SCHEMES: dict[str, Scheme] = {
    "per-tensor affine int8 (seed)": affine_int8,
    "Q8_0 (per-32-block symmetric int8)": q8_0,
}


def weights_2d(model_dir: Path) -> Iterator[tuple[str, np.ndarray]]:
    """Every 2-D weight of the export; the 1-D norms stay float32 in every variant."""
    from safetensors import safe_open

    for file in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(file), framework="np") as weights:
            for key in weights.keys():  # noqa: SIM118 (safe_open is no dict)
                if len(weights.get_slice(key).get_shape()) == 2:
                    yield key, weights.get_tensor(key)


def tensor_error(weight: np.ndarray, scheme: Scheme) -> tuple[float, float]:
    """Relative RMSE and max abs error of one tensor after a round trip through `scheme`."""
    error = (scheme(weight) - weight).astype(np.float64)
    relative_rmse = math.sqrt((error**2).sum() / (weight.astype(np.float64) ** 2).sum())
    return relative_rmse, float(np.abs(error).max())


def reconstruction_error(model_dir: Path) -> dict[str, dict[str, Any]]:
    """Per scheme: relative RMSE averaged over tensors weighted by their parameter count, the
    largest absolute error of any weight, and the tensor with the largest relative RMSE."""
    rows: dict[str, list[tuple[str, int, float, float]]] = {name: [] for name in SCHEMES}
    for key, weight in weights_2d(model_dir):
        for name, scheme in SCHEMES.items():
            rows[name].append((key, weight.size, *tensor_error(weight, scheme)))
    result = {}
    for name, tensors in rows.items():
        parameters = sum(size for _, size, _, _ in tensors)
        worst = max(tensors, key=lambda row: row[2])
        result[name] = {
            "relative_rmse": sum(size * rmse for _, size, rmse, _ in tensors) / parameters,
            "max_abs_error": max(error for *_, error in tensors),
            "worst_tensor": worst[0],
            "worst_tensor_relative_rmse": worst[2],
            "tensors": len(tensors),
            "parameters": parameters,
        }
    return result


# -- the servers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One path under test: a variant, on our server or on llama.cpp's."""

    precision: str
    server: str
    url: str
    pid: int
    model: str
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.precision} {self.server}"

    def body(self, prompt: str, max_tokens: int, *, stream: bool = True) -> dict[str, Any]:
        body = {**chat_body(self.model, prompt, max_tokens), **self.extra, "stream": stream}
        return body if stream else {k: v for k, v in body.items() if k != "stream_options"}


def start_ours(stack: ExitStack, env: dict[str, str], precision: str) -> Endpoint:
    """`serve` with only this variant, so that its process's memory is that variant's."""
    port = free_port()
    process = stack.enter_context(server_process(
        [sys.executable, "-m", "autoglm_demo", "serve", "--port", str(port), "--device", "cpu",
         "--precisions", precision, "--max-loaded-variants", "0", "--log-level", "warning"],
        loopback_url(port, "/health"),
        env,
    ))
    return Endpoint(
        precision, OURS, loopback_url(port), process.pid, SERVED_NAME[precision], OURS_SAMPLING
    )


def start_peer(stack: ExitStack, env: dict[str, str], precision: str, gguf: Path) -> Endpoint:
    """llama.cpp's own OpenAI server on the same file, with our context size and threads."""
    port, threads = free_port(), str(available_threads())
    process = stack.enter_context(server_process(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
         "--n_ctx", str(MAX_CONTEXT), "--n_threads", threads, "--n_threads_batch", threads,
         "--host", LOOPBACK, "--port", str(port)],
        loopback_url(port, "/v1/models"),
        env,
    ))
    return Endpoint(precision, PEER, loopback_url(port), process.pid, gguf.name, PEER_SAMPLING)


def start_all(stack: ExitStack, cache_dir: Path, ggufs: dict[str, Path]) -> list[Endpoint]:
    """Every path, ordered so that ours and llama_cpp.server on one file run back to back."""
    env = offline_env(cache_dir)
    endpoints = [start_ours(stack, env, "full")]
    for precision, gguf in ggufs.items():
        endpoints += [start_ours(stack, env, precision), start_peer(stack, env, precision, gguf)]
    return endpoints


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set size so far (VmHWM), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


# -- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    text: str
    prompt_tokens: int
    completion_tokens: int


async def whole_answer(client: httpx.AsyncClient, endpoint: Endpoint, prompt: str,
                       max_tokens: int) -> Answer:
    """One answer, not streamed, with its usage; it must run to `max_tokens`."""
    url = f"{endpoint.url}/v1/chat/completions"
    assert_loopback(url)
    response = await client.post(url, json=endpoint.body(prompt, max_tokens, stream=False),
                                 timeout=300)
    response.raise_for_status()
    data = response.json()
    usage = data["usage"]
    answer = Answer(data["choices"][0]["message"]["content"] or "", usage["prompt_tokens"],
                    usage["completion_tokens"])
    if answer.completion_tokens != max_tokens:
        raise RuntimeError(f"{endpoint.name} stopped after {answer.completion_tokens} of "
                           f"{max_tokens} tokens; choose a prompt with a longer answer")
    return answer


async def timed_stream(client: httpx.AsyncClient, endpoint: Endpoint, prompt: str,
                       max_tokens: int, reference: Answer) -> StreamTiming:
    """A streamed answer. llama_cpp.server streams no usage, so its token count is that of
    its whole answer, which the streamed text must then equal."""
    timing = await timed_sse(client, f"{endpoint.url}/v1/chat/completions",
                             endpoint.body(prompt, max_tokens))
    if timing.completion_tokens:
        return timing
    if timing.text != reference.text:
        raise RuntimeError(f"{endpoint.name} streamed another text than its whole answer, "
                           "so its token count is unknown")
    return dataclasses.replace(timing, completion_tokens=reference.completion_tokens)


async def measure_speed(endpoints: list[Endpoint], args: argparse.Namespace) -> dict[str, Any]:
    """Memory after loading and one answer; then a second whole answer, which counts the
    tokens of every later one; then the alternating rounds of streamed answers.

    The first answer after loading evaluates the whole prompt; later ones find it cached but
    for its last token, and llama.cpp's logits differ slightly between the two ways. So the
    reference answer is the second one, computed the way every round is."""
    async with httpx.AsyncClient() as client:
        for endpoint in endpoints:
            await whole_answer(client, endpoint, args.prompt, args.max_tokens)
        peak_after_answer = {e.name: peak_rss_bytes(e.pid) for e in endpoints}
        answers = {e.name: await whole_answer(client, e, args.prompt, args.max_tokens)
                   for e in endpoints}
        weight_bytes = {e.precision: await served_weight_bytes(client, e)
                        for e in endpoints if e.server == OURS}
        measures: dict[str, Measure] = {
            e.name: _measure(client, e, args.prompt, args.max_tokens, answers[e.name])
            for e in endpoints
        }
        runs = await run_rounds(measures, args.repeats)
    return {"answers": answers, "weight_bytes": weight_bytes, "runs": runs,
            "peak_rss_after_answer": peak_after_answer,
            "peak_rss_after_rounds": {e.name: peak_rss_bytes(e.pid) for e in endpoints}}


def _measure(client: httpx.AsyncClient, endpoint: Endpoint, prompt: str, max_tokens: int,
             reference: Answer) -> Measure:
    return lambda: timed_stream(client, endpoint, prompt, max_tokens, reference)


async def served_weight_bytes(client: httpx.AsyncClient, endpoint: Endpoint) -> int:
    """What /v1/models reports for the variant, now that it is loaded."""
    url = f"{endpoint.url}/v1/models"
    assert_loopback(url)
    cards = (await client.get(url, timeout=30)).json()["data"]
    card = next(card for card in cards if card["id"] == endpoint.model)
    if card["status"] != "ready":
        raise RuntimeError(f"{endpoint.name} is {card['status']}, not ready")
    return int(card["weight_bytes"])


# -- figures, targets and the report ----------------------------------------------------------


def variant_rows(speed: dict[str, Any], summary: dict[str, dict[str, float]],
                 ceiling_gb_s: float) -> dict[str, dict[str, float]]:
    """Per variant: size, memory and our server's speed, against full and the ceiling."""
    full_bytes, full_rate = speed["weight_bytes"]["full"], summary[f"full {OURS}"]
    rows = {}
    for precision in PRECISIONS:
        ours, weights = summary[f"{precision} {OURS}"], speed["weight_bytes"][precision]
        ceiling = ceiling_gb_s * 1e9 / weights
        rows[precision] = {
            "weight_bytes": weights,
            "weight_ratio_to_full": weights / full_bytes,
            "peak_rss_bytes": speed["peak_rss_after_answer"][f"{precision} {OURS}"],
            "ttft_ms": ours["ttft_ms"],
            "decode_tok_s": ours["decode_tok_s"],
            "best_decode_tok_s": ours["best_decode_tok_s"],
            "decode_speedup_vs_full": ours["decode_tok_s"] / full_rate["decode_tok_s"],
            "best_decode_speedup_vs_full":
                ours["best_decode_tok_s"] / full_rate["best_decode_tok_s"],
            "ceiling_tok_s": ceiling,
            "of_ceiling": ours["decode_tok_s"] / ceiling,
        }
    return rows


def peer_ratios(summary: dict[str, dict[str, float]],
                runs: dict[str, list[StreamTiming]]) -> dict[str, dict[str, float]]:
    """Our decode speed over llama_cpp.server's on the same file: the ratio of the medians, of
    the best rounds, and the median of each round's ratio (the two ran in the same round,
    back to back but where the rotation splits them)."""
    ratios = {}
    for precision in QUANTIZED:
        ours, theirs = summary[f"{precision} {OURS}"], summary[f"{precision} {PEER}"]
        pairs = zip(runs[f"{precision} {OURS}"], runs[f"{precision} {PEER}"], strict=False)
        paired = [a.decode_tok_s / b.decode_tok_s for a, b in pairs]
        ratios[precision] = {"median": ours["decode_tok_s"] / theirs["decode_tok_s"],
                             "best": ours["best_decode_tok_s"] / theirs["best_decode_tok_s"],
                             "paired_median": median(paired)}
    return ratios


def targets(rows: dict[str, dict[str, float]], quality: dict[str, Any],
            ratios: dict[str, dict[str, float]]) -> list[tuple[str, bool, str]]:
    """(target, met, detail); speed targets are judged on medians and on best rounds."""
    int8, q = rows["int8"], quality["variants"]
    ppl_change = q["int8"]["perplexity"] / q["full"]["perplexity"] - 1
    result = [
        ("int8 weights <= 0.3x full", int8["weight_ratio_to_full"] <= 0.3,
         f"{int8['weight_ratio_to_full']:.3f}x"),
        ("int8 decode >= 3x full", int8["decode_speedup_vs_full"] >= 3,
         (f"medians {int8['decode_speedup_vs_full']:.2f}x, "
          f"best rounds {int8['best_decode_speedup_vs_full']:.2f}x")),
        ("int8 top-1 agreement >= 95%", q["int8"]["top1_agreement"] >= 0.95,
         f"{q['int8']['top1_agreement']:.2%}"),
        ("int8 perplexity within 3% of full", abs(ppl_change) <= 0.03, f"{ppl_change:+.2%}"),
    ]
    for precision in QUANTIZED:
        ratio = ratios[precision]
        result.append((f"{precision}: ours >= 0.95x llama_cpp.server decode",
                       ratio["median"] >= 0.95,
                       (f"medians {ratio['median']:.2f}x, best rounds {ratio['best']:.2f}x, "
                        f"median of per-round ratios {ratio['paired_median']:.2f}x")))
    return result


def report(rows: dict[str, dict[str, float]], summary: dict[str, dict[str, float]],
           quality: dict[str, Any], errors: dict[str, dict[str, Any]],
           ratios: dict[str, dict[str, float]], speed: dict[str, Any],
           verdicts: list[tuple[str, bool, str]], bandwidth: dict[str, float]) -> str:
    q = quality["variants"]
    size_speed = markdown_table(
        ["variant", "weights MiB", "vs full", "peak RSS MiB", "TTFT ms", "decode tok/s",
         "vs full", "best tok/s", "ceiling tok/s", "of ceiling", "perplexity", "vs full",
         "top-1 agreement"],
        [[p, f"{r['weight_bytes'] / 2**20:.0f}", f"{r['weight_ratio_to_full']:.3f}x",
          f"{r['peak_rss_bytes'] / 2**20:.0f}", f"{r['ttft_ms']:.0f}",
          f"{r['decode_tok_s']:.1f}", f"{r['decode_speedup_vs_full']:.2f}x",
          f"{r['best_decode_tok_s']:.1f}", f"{r['ceiling_tok_s']:.0f}",
          f"{r['of_ceiling']:.0%}", f"{q[p]['perplexity']:.3f}",
          f"{q[p]['perplexity'] / q['full']['perplexity'] - 1:+.2%}",
          f"{q[p]['top1_agreement']:.2%}"] for p, r in rows.items()],
    )
    peer = markdown_table(
        ["variant", "server", "TTFT ms", "decode tok/s", "best TTFT ms", "best tok/s",
         "ours / theirs (median, best, per round)", "peak RSS MiB", "prompt tokens",
         "same text"],
        [[p, server, f"{s['ttft_ms']:.0f}", f"{s['decode_tok_s']:.1f}", f"{s['best_ttft_ms']:.0f}",
          f"{s['best_decode_tok_s']:.1f}",
          f"{ratios[p]['median']:.2f}x, {ratios[p]['best']:.2f}x, "
          f"{ratios[p]['paired_median']:.2f}x" if server == OURS else "",
          f"{speed['peak_rss_after_answer'][name] / 2**20:.0f}",
          str(speed["answers"][name].prompt_tokens),
          "yes" if speed["answers"][name].text == speed["answers"][f"{p} {PEER}"].text else "no"]
         for p in QUANTIZED for server in (OURS, PEER)
         for name, s in [(f"{p} {server}", summary[f"{p} {server}"])]],
    )
    reconstruction = markdown_table(
        ["scheme", "relative RMSE (parameter-weighted)", "max abs error", "worst tensor"],
        [[name, f"{e['relative_rmse']:.4f}", f"{e['max_abs_error']:.4f}",
          f"{e['worst_tensor']} ({e['worst_tensor_relative_rmse']:.4f})"]
         for name, e in errors.items()],
    )
    tensors = next(iter(errors.values()))
    return "\n".join([
        quality_table(quality), "",
        size_speed, "",
        (f"Read bandwidth {max(bandwidth.values()):.1f} GB/s (numpy "
         f"{bandwidth['numpy_gb_s']:.1f}, torch {bandwidth['torch_gb_s']:.1f}); quality over "
         f"{quality['tokens']} tokens in {quality['windows']} windows of {WINDOW}."), "",
        peer, "",
        (f"Weight reconstruction error over the {tensors['tensors']} 2-D weights "
         f"({tensors['parameters'] / 1e6:.1f} M parameters) of the float32 export:"), "",
        reconstruction, "",
        *[f"- {name}: {'met' if met else 'NOT met'} ({detail})" for name, met, detail in verdicts],
    ])


def quality_table(quality: dict[str, Any]) -> str:
    """Full precision (F32) and an F16 file beside the transformers float32 reference."""
    return markdown_table(
        ["against transformers float32", "perplexity", "top-1 agreement", "mean |NLL difference|"],
        [[name, f"{f['perplexity']:.4f}", f"{f['top1_agreement']:.2%}",
          f"{f['mean_abs_nll_difference']:.5f}"]
         for name, f in quality["against_transformers_float32"].items()],
    )


def plot(rows: dict[str, dict[str, float]], summary: dict[str, dict[str, float]],
         quality: dict[str, Any], path: Path) -> None:
    """Three panels: weights, decode speed beside llama_cpp.server and the bandwidth ceiling,
    and quality against full precision."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, x = list(rows), np.arange(len(rows))
    fig, (size, speed, agreement) = plt.subplots(1, 3, figsize=(15, 5))
    mib = [rows[p]["weight_bytes"] / 2**20 for p in names]
    size.bar(x, mib, 0.6, color="#4c72b0")
    size.axhline(mib[0] * 0.3, color="grey", linestyle="--", linewidth=1,
                 label="int8 target: 0.3x full")
    size.legend(fontsize=8, loc="upper right")
    for i, p in enumerate(names):
        size.annotate(f"{mib[i]:.0f} MiB\n{rows[p]['weight_ratio_to_full']:.2f}x", (i, mib[i]),
                      ha="center", va="bottom", fontsize=9)
    size.set(title="Weights (weight_bytes from /v1/models)", ylabel="MiB", xticks=x,
             xticklabels=names, ylim=(0, max(mib) * 1.2))

    ours = [rows[p]["decode_tok_s"] for p in names]
    theirs = {i: summary[f"{p} {PEER}"]["decode_tok_s"]
              for i, p in enumerate(names) if p in QUANTIZED}
    speed.bar(x - 0.2, ours, 0.4, label="ours (HTTP)", color="#4c72b0")
    speed.bar(list(theirs), list(theirs.values()), 0.4, label="llama_cpp.server", color="#dd8452",
              align="edge")
    for i, p in enumerate(names):
        ceiling = rows[p]["ceiling_tok_s"]
        speed.hlines(ceiling, i - 0.4, i + 0.4, color="black", linewidth=2,
                     label="bandwidth ceiling" if i == 0 else None)
        speed.annotate(f"ceiling {ceiling:.0f}", (i, ceiling), ha="center", va="bottom", fontsize=8)
        speed.annotate(f"{ours[i]:.0f}", (i - 0.2, ours[i]), ha="center", va="bottom", fontsize=9)
    for i, rate in theirs.items():
        speed.annotate(f"{rate:.0f}", (i + 0.2, rate), ha="center", va="bottom", fontsize=9)
    speed.set(title="Decode speed (medians; greedy, 128 tokens)", ylabel="tokens / s (log)",
              xticks=x, xticklabels=names, yscale="log",
              ylim=(min(ours) / 2, max(rows[p]["ceiling_tok_s"] for p in names) * 4))
    speed.legend(fontsize=8, loc="upper left")

    q = quality["variants"]
    agree = [q[p]["top1_agreement"] * 100 for p in names]
    agreement.bar(x, agree, 0.6, color="#55a868")
    agreement.axhline(95, color="grey", linestyle="--", linewidth=1, label="int8 target: 95%")
    agreement.legend(fontsize=8, loc="lower left")
    for i, p in enumerate(names):
        change = q[p]["perplexity"] / q["full"]["perplexity"] - 1
        agreement.annotate(f"{agree[i]:.1f}%\nperplexity\n{q[p]['perplexity']:.2f} ({change:+.1%})",
                           (i, agree[i]), ha="center", va="bottom", fontsize=9)
    agreement.set(title=f"Quality vs full ({quality['tokens']} tokens of Python's docs)",
                  ylabel="top-1 agreement with full (%)", xticks=x, xticklabels=names,
                  ylim=(90, 103))
    fig.suptitle("SmolLM2-135M-Instruct (the offline default): precision variants on "
                 f"{available_threads()} CPU threads")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_quality(quality: dict[str, Any]) -> None:
    """The figures the server shows beside each variant, in the shape it reads."""
    data = {
        "source_file": GGUF_NAME,
        "source_bytes": shipped_gguf_path().stat().st_size,
        "text": str(EVAL_TEXT.relative_to(REPO_ROOT)),
        "tokens": quality["tokens"],
        "measured": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "variants": {
            precision: {"perplexity": round(figures["perplexity"], 4),
                        "top1_agreement": round(figures["top1_agreement"], 4)}
            for precision, figures in quality["variants"].items()
        },
    }
    QUALITY_JSON.write_text(json.dumps(data, indent=1) + "\n")


def main() -> None:
    args = parse_args()
    host = machine()  # before the run, so its load average is the machine's, not ours
    model_dir, ggufs = reference_model_dir(args.cache_dir), gguf_files(args.cache_dir)
    print("quality: teacher-forced perplexity and top-1 agreement", file=sys.stderr)
    quality = measure_quality(model_dir, ggufs, requantized_gguf(args.cache_dir, "F16"))
    print("weight reconstruction error", file=sys.stderr)
    errors = reconstruction_error(model_dir)
    bandwidth = read_bandwidth(args.bandwidth_gib)
    print(f"bandwidth {bandwidth}; starting 3 of our servers and 2 llama_cpp.server",
          file=sys.stderr)
    with ExitStack() as stack:
        endpoints = start_all(stack, args.cache_dir, ggufs)
        speed = asyncio.run(measure_speed(endpoints, args))
    host["load_average_after"] = machine()["load_average_1_5_15m"]
    summary = summarise(speed["runs"])
    rows = variant_rows(speed, summary, max(bandwidth.values()))
    ratios = peer_ratios(summary, speed["runs"])
    verdicts = targets(rows, quality, ratios)
    print(report(rows, summary, quality, errors, ratios, speed, verdicts, bandwidth))
    print(f"\nLoad average (1, 5, 15 min) before: {host['load_average_1_5_15m']}, "
          f"after: {host['load_average_after']}")
    path = write_results("precision", {
        "machine": host,
        "settings": {k: str(v) for k, v in vars(args).items()} | {"window": WINDOW,
                                                                  "threads": available_threads()},
        "files": {"reference": str(model_dir.name), **{p: g.name for p, g in ggufs.items()}},
        "bandwidth": bandwidth,
        "variants": rows,
        "quality": quality,
        "reconstruction_error": errors,
        "ours_over_llama_cpp_server": ratios,
        "summary": summary,
        "peak_rss_bytes": {"after_one_answer": speed["peak_rss_after_answer"],
                           "after_rounds": speed["peak_rss_after_rounds"]},
        "answers": {name: dataclasses.asdict(a) for name, a in speed["answers"].items()},
        "targets": [{"target": n, "met": m, "detail": d} for n, m, d in verdicts],
        "runs": {name: [{"ttft_s": round(t.ttft_s, 4), "last_token_s": round(t.last_token_s, 4),
                         "completion_tokens": t.completion_tokens} for t in timings]
                 for name, timings in speed["runs"].items()},
    })
    write_quality(quality)
    plot(rows, summary, quality, PLOT)
    print(f"\nraw results: {path}; quality for the server: {QUALITY_JSON}; plot: {PLOT}")


if __name__ == "__main__":
    main()
