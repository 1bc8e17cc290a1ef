"""Load benchmark: many concurrent streaming clients against one server, checked for corruption.

`python -m autoglm_demo serve` (the offline default, fp32 on the CPU) runs in a subprocess on
loopback. First each prompt's greedy answer is fetched once, whole (not streamed). Then
`--clients` clients loop for `--seconds`: each sends a streaming chat request (greedy,
`--max-tokens`), reads the SSE stream to the end and checks it: it ends with `data: [DONE]`,
every chunk parses, no in-band error, and the streamed answer (and trace) equals the whole
one for that prompt. A 429 is counted and the client sleeps for its Retry-After. No request
starts after the deadline; those in flight then get a bounded grace period to finish.

Reported: completed streams, 429s, errors, corrupted streams, p50/p95 time to first token
(client clock, from the request to the first chunk carrying text, queueing included),
aggregate completion tokens per second over the run, and the server's peak RSS (its process
tree, sampled every 0.5 s). Results are kept in bench/results/load.json, one entry per
configuration.

    python -m bench.bench_load [--clients 16] [--seconds 60] [--max-queue 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

from bench.common import (
    DEFAULT_CACHE_DIR,
    RESULTS_DIR,
    assert_loopback,
    free_port,
    loopback_url,
    machine,
    markdown_table,
    offline_env,
    server_process,
)

MODEL = "autoglm-phone-9b"
PROMPTS = (
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain in two sentences what a phone screenshot is.",
    "List three fruits.",
)
GRACE_S = 120.0  # the most we wait, after the deadline, for streams in flight
REQUEST_TIMEOUT_S = 180.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_load", description=__doc__)
    parser.add_argument("--clients", type=int, default=16, help="concurrent streaming clients")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long clients send")
    parser.add_argument("--max-tokens", type=int, default=32, help="greedy tokens per answer")
    parser.add_argument(
        "--max-queue", type=int, default=None, help="serve --max-queue (default: the server's)"
    )
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    args = parser.parse_args()
    if not (1 <= args.clients <= 256 and 1 <= args.seconds <= 3600):
        parser.error("--clients must be 1..256 and --seconds 1..3600")
    return args


@dataclass
class Tally:
    completed: int = 0
    rejected_429: int = 0
    errors: int = 0
    corrupted: int = 0
    completion_tokens: int = 0
    ttft_s: list[float] = field(default_factory=list)
    retry_after_s: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the first few, for the report

    def note(self, problem: str) -> None:
        if len(self.problems) < 10:
            self.problems.append(problem)


def body(prompt: str, max_tokens: int, stream: bool) -> dict[str, Any]:
    request: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": stream,
    }
    if stream:
        request["stream_options"] = {"include_usage": True}
    return request


async def reference_answers(
    client: httpx.AsyncClient, url: str, max_tokens: int
) -> dict[str, tuple[str, str]]:
    """(answer, trace) of every prompt, whole and greedy: what every stream must reproduce."""
    answers = {}
    for prompt in PROMPTS:
        response = await client.post(
            url, json=body(prompt, max_tokens, False), timeout=REQUEST_TIMEOUT_S
        )
        response.raise_for_status()
        message = response.json()["choices"][0]["message"]
        answers[prompt] = (message["content"], message.get("reasoning_content") or "")
    return answers


class Corrupted(Exception):
    pass


async def one_stream(
    client: httpx.AsyncClient, url: str, prompt: str, max_tokens: int, tally: Tally,
    expected: tuple[str, str],
) -> float | None:
    """One streamed request, read to the end and checked. Returns the Retry-After of a 429."""
    started = time.perf_counter()
    first: float | None = None
    answer, trace, events = [], [], []
    tokens = 0
    async with client.stream(
        "POST", url, json=body(prompt, max_tokens, True), timeout=REQUEST_TIMEOUT_S
    ) as response:
        if response.status_code == 429:
            await response.aread()
            tally.rejected_429 += 1
            retry_after = float(response.headers.get("retry-after", "1"))
            tally.retry_after_s.append(retry_after)
            return retry_after
        if response.status_code != 200:
            await response.aread()
            tally.errors += 1
            tally.note(f"HTTP {response.status_code}: {response.text[:200]}")
            return None
        try:
            async for line in response.aiter_lines():
                if not line:
                    continue
                if not line.startswith("data: "):
                    raise Corrupted(f"not an SSE data line: {line[:80]!r}")
                data = line[len("data: ") :]
                events.append(data)
                if data == "[DONE]":
                    continue
                if events[:-1] and events[-2] == "[DONE]":
                    raise Corrupted("data after [DONE]")
                chunk = json.loads(data)  # JSONDecodeError is corruption too
                if "error" in chunk:
                    raise Corrupted(f"in-band error: {chunk['error']}")
                if chunk.get("usage"):
                    tokens = int(chunk["usage"]["completion_tokens"])
                for choice in chunk["choices"]:
                    delta = choice["delta"]
                    text = (delta.get("content") or "") + (delta.get("reasoning_content") or "")
                    if text and first is None:
                        first = time.perf_counter() - started
                    answer.append(delta.get("content") or "")
                    trace.append(delta.get("reasoning_content") or "")
            if not events or events[-1] != "[DONE]":
                raise Corrupted(f"stream does not end with [DONE] (last: {events[-1:]})")
            if ("".join(answer), "".join(trace)) != expected:
                raise Corrupted(f"answer differs from the greedy one: {''.join(answer)[:80]!r}")
            if first is None:
                raise Corrupted("no text streamed")
        except (Corrupted, json.JSONDecodeError, KeyError, TypeError) as error:
            tally.corrupted += 1
            tally.note(f"corrupted ({prompt[:20]}…): {error}")
            return None
    tally.completed += 1
    tally.completion_tokens += tokens
    tally.ttft_s.append(first)
    return None


async def client_loop(
    number: int, url: str, max_tokens: int, deadline: float, tally: Tally,
    expected: dict[str, tuple[str, str]],
) -> None:
    async with httpx.AsyncClient() as client:
        turn = number  # clients start on different prompts
        while time.monotonic() < deadline:
            prompt = PROMPTS[turn % len(PROMPTS)]
            turn += 1
            try:
                retry_after = await one_stream(
                    client, url, prompt, max_tokens, tally, expected[prompt]
                )
            except httpx.HTTPError as error:
                tally.errors += 1
                tally.note(f"{type(error).__name__}: {error}")
                retry_after = 1.0
            if retry_after is not None:
                await asyncio.sleep(max(0.0, min(retry_after, deadline - time.monotonic())))


class RssSampler:
    """Peak resident memory of a process and its children, sampled every `interval_s`."""

    def __init__(self, pid: int, interval_s: float = 0.5) -> None:
        self._process = psutil.Process(pid)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.peak_bytes = 0
        self.samples = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                tree = [self._process, *self._process.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in tree if p.is_running())
            except psutil.Error:
                rss = 0
            self.peak_bytes = max(self.peak_bytes, rss)
            self.samples += 1
            self._stop.wait(self._interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def server_pid(port: int) -> int:
    """Our `serve` child: server_process keeps its Popen to itself."""
    for child in psutil.Process().children():
        if str(port) in child.cmdline():
            return child.pid
    raise RuntimeError(f"no child process serving port {port}")


async def run_load(args: argparse.Namespace, base: str) -> dict[str, Any]:
    url = base + "/v1/chat/completions"
    assert_loopback(url)
    async with httpx.AsyncClient() as client:
        expected = await reference_answers(client, url, args.max_tokens)
    tally = Tally()
    started = time.monotonic()
    deadline = started + args.seconds
    tasks = [
        asyncio.create_task(client_loop(i, url, args.max_tokens, deadline, tally, expected))
        for i in range(args.clients)
    ]
    done, pending = await asyncio.wait(tasks, timeout=args.seconds + GRACE_S)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        if task.exception() is not None:
            tally.errors += 1
            tally.note(f"client crashed: {task.exception()!r}")
    elapsed = time.monotonic() - started
    ttft = np.array(tally.ttft_s) if tally.ttft_s else np.array([float("nan")])
    return {
        "completed_streams": tally.completed,
        "rejected_429": tally.rejected_429,
        "errors": tally.errors,
        "corrupted_streams": tally.corrupted,
        "unfinished_at_grace_end": len(pending),
        "ttft_p50_s": round(float(np.percentile(ttft, 50)), 3),
        "ttft_p95_s": round(float(np.percentile(ttft, 95)), 3),
        "completion_tokens": tally.completion_tokens,
        "elapsed_s": round(elapsed, 2),
        "aggregate_tok_s": round(tally.completion_tokens / elapsed, 2),
        "retry_after_s_median": float(np.median(tally.retry_after_s))
        if tally.retry_after_s
        else None,
        "problems": tally.problems,
        "expected_answers": {prompt: answer for prompt, (answer, _) in expected.items()},
    }


def main() -> None:
    args = parse_args()
    port = free_port()
    command = [sys.executable, "-m", "autoglm_demo", "serve", "--port", str(port),
               "--device", "cpu", "--dtype", "float32", "--log-level", "warning"]
    if args.max_queue is not None:
        command += ["--max-queue", str(args.max_queue)]
    with server_process(command, loopback_url(port, "/health"), offline_env(args.cache_dir)):
        with RssSampler(server_pid(port)) as rss:
            figures = asyncio.run(run_load(args, loopback_url(port)))
    figures["server_peak_rss_mib"] = round(rss.peak_bytes / 2**20, 1)
    figures["rss_samples"] = rss.samples

    label = f"clients{args.clients}_seconds{args.seconds:g}_maxqueue{args.max_queue or 'default'}"
    config = {"clients": args.clients, "seconds": args.seconds, "max_tokens": args.max_tokens,
              "max_queue": args.max_queue, "max_concurrent": "server default (1)",
              "command": " ".join(command[1:])}
    print(markdown_table(
        ["clients", "seconds", "max-queue", "completed", "429s", "errors", "corrupted",
         "TTFT p50", "TTFT p95", "tok/s (all clients)", "server peak RSS"],
        [[str(args.clients), f"{args.seconds:g}", str(args.max_queue or "default"),
          str(figures["completed_streams"]), str(figures["rejected_429"]), str(figures["errors"]),
          str(figures["corrupted_streams"]), f"{figures['ttft_p50_s']:.2f} s",
          f"{figures['ttft_p95_s']:.2f} s", f"{figures['aggregate_tok_s']:.1f}",
          f"{figures['server_peak_rss_mib']:.0f} MiB"]],
    ))
    for problem in figures["problems"]:
        print("  -", problem)

    # One file, one entry per configuration, so runs with other settings are kept beside it.
    path = RESULTS_DIR / "load.json"
    RESULTS_DIR.mkdir(exist_ok=True)
    kept = json.loads(path.read_text()) if path.exists() else {}
    runs = kept.get("runs", {})
    runs[label] = {"config": config, "machine": machine(), "results": figures}
    path.write_text(json.dumps({"runs": runs}, indent=1, ensure_ascii=False) + "\n")
    print(f"\nwritten to {path} ({label})")


if __name__ == "__main__":
    main()
