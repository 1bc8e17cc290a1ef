"""Hostile clients of the page, measured: memory per oversized body, time per login guess.

`python app.py --backend-url ... --page-auth ...` runs in a subprocess (no model loads).
Without logging in, the client posts 200 MiB to Gradio's queue and call routes, once with
the size declared and once chunked, and reads the server's resident memory (VmRSS) and
its peak (VmHWM) from /proc after each. Then it tries 40 wrong passwords from one address
and times them.

    python -m bench.bench_page_hostile [--app OTHER_TREE/app.py]

--app runs another checkout's app.py the same way, to compare before and after a change.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    DEFAULT_CACHE_DIR,
    REPO_ROOT,
    free_port,
    loopback_url,
    markdown_table,
    offline_env,
    server_process,
    write_results,
)

OFFERED = 200 * 2**20
GUESSES = 40


def memory_mib(pid: int) -> dict[str, float]:
    """Resident and peak resident memory of `pid`, in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}


def post_offering(url: str, *, declared: bool) -> tuple[int | str, int]:
    """POST 200 MiB of zeros; the status (or the error) and the bytes the server took."""
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        chunk = b"\0" * 2**20
        while sent < OFFERED:
            sent += len(chunk)
            yield chunk

    headers = {"content-type": "application/json"}
    if declared:
        headers["content-length"] = str(OFFERED)
    try:
        return httpx.post(url, content=body(), headers=headers, timeout=120).status_code, sent
    except httpx.HTTPError as error:
        return type(error).__name__, sent


def hostile_bodies(base: str, pid: int) -> list[dict[str, Any]]:
    rows = []
    for path in ("/gradio_api/queue/join", "/gradio_api/call/chat"):
        for declared in (True, False):
            before = memory_mib(pid)
            status, sent = post_offering(base + path, declared=declared)
            time.sleep(1)  # let the server finish with the request
            after = memory_mib(pid)
            rows.append({
                "route": path, "body": "Content-Length" if declared else "chunked",
                "status": status, "sent_mib": round(sent / 2**20),
                "rss_before_mib": round(before["VmRSS"]), "rss_after_mib": round(after["VmRSS"]),
                "peak_growth_mib": round(after["VmHWM"] - before["VmHWM"]),
            })
    return rows


def wrong_passwords(base: str) -> dict[str, Any]:
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    with httpx.Client(base_url=base) as client:
        for _ in range(GUESSES):
            status = client.post("/login", data={"username": "demo", "password": "guess"})
            statuses[status.status_code] = statuses.get(status.status_code, 0) + 1
    elapsed = time.perf_counter() - started
    return {"guesses": GUESSES, "seconds": round(elapsed, 3),
            "ms_per_guess": round(1000 * elapsed / GUESSES, 1), "statuses": statuses}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", type=Path, default=REPO_ROOT / "app.py")
    parser.add_argument("--label", default="this tree", help="heading for the printed table")
    args = parser.parse_args(argv)
    port = free_port()
    base = loopback_url(port)
    command = [
        sys.executable, str(args.app), "--port", str(port), "--host", "127.0.0.1",
        "--backend-url", loopback_url(free_port()) + "/v1", "--page-auth", "demo:secret",
        "--log-level", "warning",
    ]
    with server_process(command, base + "/", offline_env(DEFAULT_CACHE_DIR)) as server:
        bodies = hostile_bodies(base, server.pid)
        logins = wrong_passwords(base)
    print(f"## {args.label}\n")
    print(markdown_table(list(bodies[0]), [[str(value) for value in row.values()] for row in bodies]))
    print(f"\n{logins}")
    if args.app == REPO_ROOT / "app.py":  # another tree's figures are printed, not kept
        write_results("page_hostile", {"bodies": bodies, "logins": logins})


if __name__ == "__main__":
    main()
