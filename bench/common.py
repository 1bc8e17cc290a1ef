"""What both benchmarks share: servers in their own processes on loopback, SSE streams timed
chunk by chunk, medians, and the way results are printed and kept.

Servers run as subprocesses so that the measuring client never shares a GIL with the code
it measures. Every URL is checked to be on 127.0.0.1, and every wait is bounded.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from autoglm_demo.settings import parse_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
LOOPBACK = "127.0.0.1"
DEFAULT_CACHE_DIR = parse_settings([]).cache_dir  # the product's own: AUTOGLM_CACHE_DIR or ~/.cache
# Long enough for 64 greedy tokens to pass the EOS of a chatty small model.
DEFAULT_PROMPT = (
    "Write a long, detailed story about a lighthouse keeper who finds a message in a bottle."
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def loopback_url(port: int, path: str = "") -> str:
    return f"http://{LOOPBACK}:{port}{path}"


def assert_loopback(url: str) -> None:
    """All benchmark traffic stays on this machine."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError(f"not a loopback URL: {url}")


def offline_env(cache_dir: Path) -> dict[str, str]:
    """The environment for every server we start: cached weights, and no way to phone home."""
    return {
        **os.environ,
        "AUTOGLM_CACHE_DIR": str(cache_dir),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "NO_PROXY": LOOPBACK,
    }


@contextmanager
def server_process(
    args: Sequence[str],
    ready_url: str,
    env: dict[str, str],
    *,
    timeout_s: float = 300,
    then_url: str | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server, wait (bounded) until `ready_url` answers 200, then `then_url` if given
    (`python app.py`'s page is mounted after its /health can answer), and stop it afterwards.
    Yields the process (its pid, for measuring its memory)."""
    assert_loopback(ready_url)
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            list(args), cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            for url in filter(None, (ready_url, then_url)):
                _wait_ready(process, url, timeout_s, log)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


def _wait_ready(process: subprocess.Popen[bytes], url: str, timeout_s: float, log: Any) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"{process.args} exited early:\n{log.read()[-4000:]}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    log.seek(0)
    raise TimeoutError(f"{url} not ready after {timeout_s} s:\n{log.read()[-4000:]}")


@dataclass(frozen=True)
class StreamTiming:
    """One streamed answer, timed on the client's clock (seconds from the request)."""

    ttft_s: float
    last_token_s: float
    completion_tokens: int
    text: str

    @property
    def decode_tok_s(self) -> float:
        # The first token belongs to the TTFT; the rate covers the tokens after it.
        return (self.completion_tokens - 1) / (self.last_token_s - self.ttft_s)


async def timed_sse(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], *, timeout_s: float = 180
) -> StreamTiming:
    """POST a streaming chat completion and timestamp every chunk that carries text."""
    assert_loopback(url)
    first = last = None
    parts: list[str] = []
    usage: dict[str, int] = {}
    started = time.perf_counter()
    async with client.stream("POST", url, json=body, timeout=timeout_s) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                raise RuntimeError(f"{url} failed mid-stream: {chunk['error']}")
            usage = chunk.get("usage") or usage
            text = "".join(_delta_text(choice["delta"]) for choice in chunk.get("choices", ()))
            if text:
                last = time.perf_counter() - started
                first = last if first is None else first
                parts.append(text)
    if first is None or last is None:
        raise RuntimeError(f"{url} streamed no text")
    return StreamTiming(first, last, int(usage.get("completion_tokens", 0)), "".join(parts))


def _delta_text(delta: dict[str, Any]) -> str:
    return (delta.get("reasoning_content") or "") + (delta.get("content") or "")


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """The host as the run found it; the load average says how busy the shared cores were."""
    import torch
    import transformers

    return {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "transformers": transformers.__version__,
        "load_average_1_5_15m": [round(load, 2) for load in os.getloadavg()],
    }


def write_results(name: str, data: dict[str, Any], folder: Path = RESULTS_DIR) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path
