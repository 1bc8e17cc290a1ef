"""Backend benchmark: time to first token (TTFT) and decode speed of the offline default.

The same greedy turn (SmolLM2-135M-Instruct, fp32 on the CPU) is timed three ways:

- `engine`: our `Engine` in this process, no HTTP: the floor for our server;
- `ours (HTTP)`: `python -m autoglm_demo serve` in a subprocess, read as SSE;
- `transformers serve`: our closest peer, on the same safetensors export, read the same way.

Every round runs all three back to back, in an order that rotates from round to round, so
the noise of a shared 2-core machine falls on all of them alike; the figures are medians
over rounds, with the best round beside them. Decode speed is
(completion tokens - 1) / (last token time - first token time). The memory-bandwidth
ceiling (bandwidth / weight bytes) is measured in the same run.

    python -m bench.bench_backend [--repeats 9] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import torch

from autoglm_demo.cli import build_pool
from autoglm_demo.engine.admission import Admission
from autoglm_demo.engine.engine import Engine, LoadState
from autoglm_demo.engine.offline_default import exported_model_dir
from autoglm_demo.engine.types import ChatMessage, Finished, SamplingParams, TextDelta
from autoglm_demo.settings import Settings
from bench.common import (
    DEFAULT_CACHE_DIR,
    DEFAULT_PROMPT,
    StreamTiming,
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

OURS_MODEL = "autoglm-phone-9b"
ENGINE, OURS, PEER = "engine", "ours (HTTP)", "transformers serve"

Measure = Callable[[], Awaitable[StreamTiming]]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_backend", description=__doc__)
    parser.add_argument("--repeats", type=int, default=9, help="measured rounds (after a warm-up)")
    parser.add_argument("--max-tokens", type=int, default=64, help="greedy tokens per answer")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--bandwidth-gib", type=float, default=1.0, help="array size for bandwidth")
    return parser.parse_args()


# -- memory bandwidth ------------------------------------------------------------------------


def read_bandwidth(gib: float, repeats: int = 7) -> dict[str, float]:
    """Read bandwidth in GB/s: numpy's one-thread sum, and torch's sum on all its threads
    (decoding reads the weights with torch's threads, so the higher one is the ceiling)."""
    array = np.ones(int(gib * 2**30) // 8)
    tensor = torch.from_numpy(array)
    return {
        "numpy_gb_s": array.nbytes / _median_seconds(array.sum, repeats) / 1e9,
        "torch_gb_s": array.nbytes / _median_seconds(tensor.sum, repeats) / 1e9,
    }


def _median_seconds(work: Callable[[], object], repeats: int) -> float:
    work()  # the first pass also faults the pages in
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return median(times)


# -- the three ways in -----------------------------------------------------------------------


def load_engine(cache_dir: Path) -> Engine:
    """Our engine, built exactly as `serve` builds it, loaded in this process."""
    pool = build_pool(
        Settings(cache_dir=cache_dir, device="cpu", dtype="float32", precisions=("full",))
    )
    engine = pool.start()
    engine.start_loading().join()
    if engine.status.state is not LoadState.READY:
        raise RuntimeError(engine.status.detail)
    return engine


async def timed_engine(engine: Engine, prompt: str, max_tokens: int) -> StreamTiming:
    """The turn the server runs for a request, minus HTTP: render, then generate."""
    started = time.perf_counter()
    first = last = None
    parts: list[str] = []
    completion_tokens = 0
    # The template arguments the server derives from a request that sets no flags.
    prepared = await engine.prepare([ChatMessage("user", prompt)], {"enable_thinking": True})
    params = SamplingParams(max_tokens=max_tokens, temperature=0)
    # The bench is the engine's only user, so a fresh admission always has room.
    async for event in engine.generate(prepared, params, Admission().enter()):
        if isinstance(event, TextDelta):
            last = time.perf_counter() - started
            first = last if first is None else first
            parts.append(event.text)
        elif isinstance(event, Finished):
            completion_tokens = event.completion_tokens
    assert first is not None and last is not None, "the engine produced no text"
    return StreamTiming(first, last, completion_tokens, "".join(parts))


def chat_body(model: str, prompt: str, max_tokens: int) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def start_servers(stack: ExitStack, cache_dir: Path, model_dir: Path) -> tuple[str, str]:
    """Our server and `transformers serve`, each in its own process; returns their base URLs."""
    env = offline_env(cache_dir)
    ours, peer = free_port(), free_port()
    stack.enter_context(
        server_process(
            [sys.executable, "-m", "autoglm_demo", "serve", "--port", str(ours),
             "--device", "cpu", "--dtype", "float32", "--log-level", "warning"],
            loopback_url(ours, "/health"),
            env,
        )
    )
    # FORCE_MODEL preloads the folder; requests must then name exactly that path.
    stack.enter_context(
        server_process(
            [str(Path(sys.executable).with_name("transformers")), "serve", str(model_dir),
             "--host", "127.0.0.1", "--port", str(peer), "--device", "cpu", "--dtype", "float32"],
            loopback_url(peer, "/health"),
            env,
        )
    )
    return loopback_url(ours), loopback_url(peer)


# -- the run ---------------------------------------------------------------------------------


async def run_rounds(measures: dict[str, Measure], repeats: int) -> dict[str, list[StreamTiming]]:
    """One warm-up each, then `repeats` rounds of all backends in a rotating order."""
    for measure in measures.values():
        await measure()
    names = list(measures)
    runs: dict[str, list[StreamTiming]] = {name: [] for name in names}
    for round_number in range(repeats):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            timing = await measures[name]()
            runs[name].append(timing)
            print(f"  round {round_number + 1} {name}: TTFT {timing.ttft_s * 1000:.0f} ms, "
                  f"{timing.decode_tok_s:.1f} tok/s, {timing.completion_tokens} tokens",
                  file=sys.stderr)
    return runs


async def measure_all(
    args: argparse.Namespace, engine: Engine, ours: str, peer: str, model_dir: Path
) -> tuple[dict[str, list[StreamTiming]], int]:
    """The rounds, and the weight size our server reports."""
    async with httpx.AsyncClient() as client:
        models = (await client.get(f"{ours}/v1/models")).json()["data"]
        measures: dict[str, Measure] = {
            ENGINE: lambda: timed_engine(engine, args.prompt, args.max_tokens),
            OURS: lambda: timed_sse(client, f"{ours}/v1/chat/completions",
                                    chat_body(OURS_MODEL, args.prompt, args.max_tokens)),
            PEER: lambda: timed_sse(client, f"{peer}/v1/chat/completions",
                                    chat_body(str(model_dir), args.prompt, args.max_tokens)),
        }
        return await run_rounds(measures, args.repeats), int(models[0]["weight_bytes"])


def summarise(runs: dict[str, list[StreamTiming]]) -> dict[str, dict[str, float]]:
    return {
        name: {
            "ttft_ms": median([t.ttft_s for t in timings]) * 1000,
            "decode_tok_s": median([t.decode_tok_s for t in timings]),
            # The best round: the one least touched by other processes' bursts of work.
            "best_ttft_ms": min(t.ttft_s for t in timings) * 1000,
            "best_decode_tok_s": max(t.decode_tok_s for t in timings),
            "completion_tokens_min": min(t.completion_tokens for t in timings),
            "completion_tokens_max": max(t.completion_tokens for t in timings),
        }
        for name, timings in runs.items()
    }


def targets(summary: dict[str, dict[str, float]], basis: str) -> list[tuple[str, bool, str]]:
    """(target, met, by how much) for each target, judged on the medians or the best rounds."""
    prefix = "best_" if basis == "best" else ""
    ttft = {name: s[f"{prefix}ttft_ms"] for name, s in summary.items()}
    rate = {name: s[f"{prefix}decode_tok_s"] for name, s in summary.items()}
    # Every path generates the same number of tokens, so decode time goes as 1 / rate.
    decode_overhead = rate[ENGINE] / rate[OURS] - 1
    ttft_overhead = ttft[OURS] - ttft[ENGINE]
    return [
        ("HTTP adds <= 5% to decode time", decode_overhead <= 0.05,
         f"{decode_overhead:+.1%} vs engine"),
        ("HTTP adds <= 20 ms to TTFT", ttft_overhead <= 20, f"{ttft_overhead:+.0f} ms vs engine"),
        ("TTFT ahead of transformers serve", ttft[OURS] < ttft[PEER],
         f"{ttft[OURS]:.0f} vs {ttft[PEER]:.0f} ms, {ttft[OURS] / ttft[PEER]:.2f}x"),
        ("decode ahead of transformers serve", rate[OURS] > rate[PEER],
         f"{rate[OURS]:.1f} vs {rate[PEER]:.1f} tok/s, {rate[OURS] / rate[PEER]:.2f}x"),
    ]


def verdicts(summary: dict[str, dict[str, float]]) -> list[str]:
    lines = []
    for (name, met, detail), (_, best_met, best_detail) in zip(
        targets(summary, "median"), targets(summary, "best")
    ):
        lines.append(f"- {name}: medians {'met' if met else 'NOT met'} ({detail}); "
                     f"best rounds {'met' if best_met else 'NOT met'} ({best_detail})")
    return lines


def report(summary: dict[str, dict[str, float]], ceiling_tok_s: float, bandwidth: dict[str, float],
           weight_bytes: int, same_text: dict[str, bool]) -> str:
    engine = summary[ENGINE]
    rows = [
        [name, f"{s['ttft_ms']:.0f}", f"{s['ttft_ms'] / engine['ttft_ms']:.2f}x",
         f"{s['decode_tok_s']:.1f}", f"{s['decode_tok_s'] / engine['decode_tok_s']:.2f}x",
         f"{s['decode_tok_s'] / ceiling_tok_s:.0%}",
         f"{s['best_ttft_ms']:.0f}", f"{s['best_decode_tok_s']:.1f}",
         f"{s['completion_tokens_min']}", "yes" if same_text[name] else "no"]
        for name, s in summary.items()
    ]
    table = markdown_table(
        ["path", "TTFT ms", "TTFT vs engine", "decode tok/s", "decode vs engine",
         "of ceiling", "best TTFT ms", "best tok/s", "tokens", "same text as engine"],
        rows,
    )
    lines = [
        table,
        "",
        f"Read bandwidth: numpy (1 thread) {bandwidth['numpy_gb_s']:.1f} GB/s, torch "
        f"({torch.get_num_threads()} threads) {bandwidth['torch_gb_s']:.1f} GB/s; weights "
        f"{weight_bytes / 1e6:.0f} MB, so the decode ceiling is {ceiling_tok_s:.1f} tok/s.",
        "",
        *verdicts(summary),
    ]
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    host = machine()  # before the run, so its load average is the machine's, not ours
    model_dir = exported_model_dir(args.cache_dir)
    bandwidth = read_bandwidth(args.bandwidth_gib)
    print(f"bandwidth {bandwidth}; loading the engine and both servers", file=sys.stderr)
    engine = load_engine(args.cache_dir)
    with ExitStack() as stack:
        ours, peer = start_servers(stack, args.cache_dir, model_dir)
        runs, weight_bytes = asyncio.run(measure_all(args, engine, ours, peer, model_dir))
    host["load_average_after"] = machine()["load_average_1_5_15m"]
    summary = summarise(runs)
    ceiling = max(bandwidth.values()) * 1e9 / weight_bytes
    reference = runs[ENGINE][0].text
    same_text = {name: all(t.text == reference for t in timings) for name, timings in runs.items()}
    print(report(summary, ceiling, bandwidth, weight_bytes, same_text))
    print(f"\nLoad average (1, 5, 15 min) before: {host['load_average_1_5_15m']}, "
          f"after: {host['load_average_after']}")
    path = write_results("backend", {
        "machine": host,
        "settings": {k: str(v) for k, v in vars(args).items()},
        "bandwidth": bandwidth,
        "weight_bytes": weight_bytes,
        "ceiling_tok_s": ceiling,
        "summary": summary,
        "same_text_as_engine": same_text,
        "targets": {
            basis: [{"target": n, "met": m, "detail": d} for n, m, d in targets(summary, basis)]
            for basis in ("median", "best")
        },
        "runs": {name: [_compact(t) for t in timings] for name, timings in runs.items()},
        "answer": reference,
    })
    print(f"\nraw results: {path}")


def _compact(timing: StreamTiming) -> dict[str, float]:
    """One run without its text (the text is kept once, as `answer`)."""
    row = asdict(timing)
    del row["text"]
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}


if __name__ == "__main__":
    main()
