"""Start-up benchmark: how long a newcomer waits, and what an int8-only server holds in memory.

Measured in one run, each a median over `--repeats` rounds, on the offline default with its
converted files already in the cache folder (a warm start; the first start's one-off work is
timed by tests/test_readme_install.py and stated in README):

- `python app.py --help`: process start to exit;
- warm start to healthy: `python app.py` from process start until /health answers 200 (the
  default variant, int8 on llama.cpp, is loaded), polled every 20 ms; and, in the same
  start, until / answers 200 (the page is mounted: it is built after the API serves);
- memory: `python -m autoglm_demo serve --precisions int8` beside llama.cpp's own server
  (`python -m llama_cpp.server`) on the same Q8_0 file, with the same context and threads,
  both running at once; resident memory (VmRSS) and its peak (VmHWM) after each has
  answered one 32-token request.

    python -m bench.bench_startup [--repeats 5] [--peer-app OTHER_TREE/app.py]

--peer-app times another checkout's app.py (its own autoglm_demo, this environment) in the
same rounds, alternating with ours, so that a change is compared on the same machine load.
Writes bench/results/startup.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from autoglm_demo.engine.llama_cpp_runtime import MAX_CONTEXT, available_threads
from autoglm_demo.engine.offline_default import requantized_gguf
from bench.common import (
    DEFAULT_CACHE_DIR,
    LOOPBACK,
    free_port,
    loopback_url,
    machine,
    markdown_table,
    median,
    offline_env,
    server_process,
    write_results,
)

TARGETS = {"help_s": 1.0, "warm_start_s": 5.0, "rss_ratio": 1.3}
POLL_S = 0.02


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_startup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="rounds of each timing")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--peer-app", type=Path, help="another checkout's app.py to time too")
    args = parser.parse_args()
    if not 1 <= args.repeats <= 20:
        parser.error("--repeats must be 1..20")
    return args


def time_help(env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "app.py", "--help"], env=env, check=True,
                   capture_output=True, timeout=120)
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process (all its threads) so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class WarmStart:
    """Seconds from starting `python app.py`, wall and the process's CPU time (a figure that
    a busy shared machine inflates far less), until /health answers 200, then until /
    (the page) does."""

    healthy_s: float
    healthy_cpu_s: float
    page_s: float
    page_cpu_s: float


def time_warm_start(env: dict[str, str], app: Path = Path("app.py"),
                    timeout_s: float = 120) -> WarmStart:
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(app), "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_for(path: str) -> tuple[float, float]:
        while time.perf_counter() - started < timeout_s:
            if process.poll() is not None:
                raise RuntimeError(f"app.py exited with {process.returncode}")
            try:
                if httpx.get(loopback_url(port, path), timeout=2).status_code == 200:
                    return time.perf_counter() - started, cpu_seconds(process.pid)
            except httpx.HTTPError:
                pass
            time.sleep(POLL_S)
        raise TimeoutError(f"app.py's {path} did not answer 200 within {timeout_s} s")

    try:
        return WarmStart(*wait_for("/health"), *wait_for("/"))
    finally:
        process.terminate()
        process.wait(timeout=30)


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, from /proc, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def answer(base_url: str, model: str) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "Name three colours."}],
            "max_tokens": 32, "temperature": 0}
    response = httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=600)
    response.raise_for_status()


def side_by_side_memory(env: dict[str, str], gguf: Path) -> dict[str, dict[str, int]]:
    """Ours serving only int8, and llama_cpp.server on the same file, running at once."""
    threads = str(available_threads())
    ours_port, peer_port = free_port(), free_port()
    ours_args = [sys.executable, "-m", "autoglm_demo", "serve", "--port", str(ours_port),
                 "--precisions", "int8", "--log-level", "warning"]
    peer_args = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
                 "--n_ctx", str(MAX_CONTEXT), "--n_threads", threads, "--n_threads_batch",
                 threads, "--host", LOOPBACK, "--port", str(peer_port)]
    with ExitStack() as stack:
        ours = stack.enter_context(
            server_process(ours_args, loopback_url(ours_port, "/health"), env))
        peer = stack.enter_context(
            server_process(peer_args, loopback_url(peer_port, "/v1/models"), env))
        answer(loopback_url(ours_port), "autoglm-phone-9b")
        answer(loopback_url(peer_port), gguf.name)
        return {"ours": memory_kib(ours.pid), "llama_cpp.server": memory_kib(peer.pid)}


def report(figures: dict[str, float], memory: dict[str, dict[str, int]],
           verdicts: Sequence[tuple[str, bool, str]]) -> str:
    rows = [[name, f"{kib['VmRSS'] / 1024:.0f}", f"{kib['VmHWM'] / 1024:.0f}"]
            for name, kib in memory.items()]
    return "\n\n".join([
        markdown_table(["measure", "median"], [
            ["`python app.py --help`", f"{figures['help_s']:.2f} s"],
            ["warm start to healthy", f"{figures['warm_start_s']:.2f} s"],
            ["its CPU time (user + system)", f"{figures['warm_start_cpu_s']:.2f} s"],
            ["warm start to the page", f"{figures['page_s']:.2f} s"],
            ["its CPU time (user + system)", f"{figures['page_cpu_s']:.2f} s"],
        ]),
        markdown_table(["int8-only server", "RSS MiB", "peak RSS MiB"], rows),
        markdown_table(["target", "met", "measured"],
                       [[name, "yes" if met else "no", detail] for name, met, detail in verdicts]),
    ])


def peer_table(ours: Sequence[WarmStart], peer: Sequence[WarmStart]) -> str:
    rows = [[label] + [f"{median([getattr(start, field) for start in starts]):.2f} s"
                       for starts in (ours, peer)]
            for label, field in [("warm start to healthy", "healthy_s"),
                                 ("its CPU time", "healthy_cpu_s"),
                                 ("warm start to the page", "page_s"),
                                 ("its CPU time", "page_cpu_s")]]
    return markdown_table(["median", "this tree", "peer"], rows)


def main() -> None:
    args = parse_args()
    host = machine()
    env = offline_env(args.cache_dir)
    gguf = requantized_gguf(args.cache_dir, "Q8_0")  # made now, so every start below is warm
    time_warm_start(env)  # warm-up: the OS file cache holds what the timed starts read
    helps = [time_help(env) for _ in range(args.repeats)]
    starts, peer_starts = [], []
    for round_ in range(args.repeats):
        if args.peer_app and round_ % 2:  # alternate who goes first
            peer_starts.append(time_warm_start(env, args.peer_app))
        starts.append(time_warm_start(env))
        if args.peer_app and not round_ % 2:
            peer_starts.append(time_warm_start(env, args.peer_app))
    memory = side_by_side_memory(env, gguf)
    figures = {"help_s": median(helps),
               "warm_start_s": median([start.healthy_s for start in starts]),
               "warm_start_cpu_s": median([start.healthy_cpu_s for start in starts]),
               "page_s": median([start.page_s for start in starts]),
               "page_cpu_s": median([start.page_cpu_s for start in starts]),
               "rss_ratio": memory["ours"]["VmRSS"] / memory["llama_cpp.server"]["VmRSS"]}
    verdicts = [
        ("`--help` <= 1 s", figures["help_s"] <= TARGETS["help_s"], f"{figures['help_s']:.2f} s"),
        ("warm start to healthy <= 5 s", figures["warm_start_s"] <= TARGETS["warm_start_s"],
         f"{figures['warm_start_s']:.2f} s"),
        ("int8-only RSS <= 1.3x llama_cpp.server", figures["rss_ratio"] <= TARGETS["rss_ratio"],
         f"{figures['rss_ratio']:.2f}x"),
    ]
    host["load_average_after"] = machine()["load_average_1_5_15m"]
    print(report(figures, memory, verdicts))
    if peer_starts:
        print(f"\n{args.peer_app}, in the same rounds:\n\n" + peer_table(starts, peer_starts))
    print(f"\nLoad average (1, 5, 15 min) before: {host['load_average_1_5_15m']}, "
          f"after: {host['load_average_after']}")
    path = write_results("startup", {
        "machine": host, "repeats": args.repeats, "file": gguf.name,
        "help_s": [round(t, 3) for t in helps],
        "warm_starts": [{name: round(value, 3) for name, value in asdict(start).items()}
                        for start in starts],
        "peer_app": str(args.peer_app) if args.peer_app else None,
        "peer_warm_starts": [{name: round(value, 3) for name, value in asdict(start).items()}
                             for start in peer_starts],
        "medians": figures, "memory_kib": memory,
        "targets": [{"target": n, "met": m, "detail": d} for n, m, d in verdicts],
    })
    print(f"\nraw results: {path}")


if __name__ == "__main__":
    main()
