"""How soon a disconnected client's generation stops freeing the model.

The server runs one generation at a time, so a request sent right after a client walks
away from a long stream can only start once that stream's generation has really stopped.
Each round: stream a long answer, read a few tokens, disconnect, and at once time a
one-token request; compare with the same one-token request on an idle server. The
difference is the time cancellation took (target: well under 1 s).

    python -m bench.bench_cancel [--repeats 7]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import httpx

from bench.common import (
    DEFAULT_CACHE_DIR,
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

LONG = {"messages": [{"role": "user", "content": "Tell a very long story."}], "max_tokens": 2000}
SHORT = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}


def body(shape: dict[str, Any]) -> dict[str, Any]:
    return {"model": "autoglm-phone-9b", "temperature": 0, "stream": True, **shape}


async def walk_away(client: httpx.AsyncClient, url: str, tokens: int) -> None:
    async with client.stream("POST", url, json=body(LONG), timeout=60) as response:
        seen = 0
        async for line in response.aiter_lines():
            seen += line.startswith("data: ")
            if seen >= tokens:
                return  # leaving the block closes the connection mid-stream


async def rounds(url: str, repeats: int) -> dict[str, list[float]]:
    idle, after_cancel = [], []
    async with httpx.AsyncClient() as client:
        await timed_sse(client, url, body(SHORT))  # warm-up
        for _ in range(repeats):
            idle.append((await timed_sse(client, url, body(SHORT))).ttft_s)
            await walk_away(client, url, tokens=10)
            after_cancel.append((await timed_sse(client, url, body(SHORT))).ttft_s)
    return {"idle_ttft_s": idle, "after_disconnect_ttft_s": after_cancel}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    port = free_port()
    command = [sys.executable, "-m", "autoglm_demo", "serve", "--port", str(port)]
    with server_process(command, loopback_url(port, "/health"), offline_env(DEFAULT_CACHE_DIR)):
        timings = asyncio.run(rounds(loopback_url(port, "/v1/chat/completions"), args.repeats))
    idle, after = median(timings["idle_ttft_s"]), median(timings["after_disconnect_ttft_s"])
    print(
        markdown_table(
            ["one-token request", "TTFT ms (median)"],
            [
                ["on an idle server", f"{idle * 1000:.0f}"],
                ["right after a client left a long stream", f"{after * 1000:.0f}"],
                ["cancellation took", f"{(after - idle) * 1000:.0f}"],
            ],
        )
    )
    write_results("cancel", {"machine": machine(), "repeats": args.repeats, **timings})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
