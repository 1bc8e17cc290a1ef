"""Agent accuracy: the offline default's variants scored on the project's own episode set.

Draws the episode set (tools/episode_set.py: drawn phone screens in English and Chinese,
each step with its gold action) into export zips, with every step asked for at most
`--max-tokens` tokens, and runs the product's own command on them, in a fresh QA database,
once per variant (so that a run cut short keeps the variants it finished):

    python -m autoglm_demo eval --import episode-….zip … --variants int8 \\
        --qa-db sqlite:///…/qa.db --out …/int8

which replays each episode step by step, as the official agent asks, on each variant of the
embedded offline default (or whatever the extra arguments after `--` choose, such as
`--model`), and scores each answer against its step's target. From its eval.json this
reports, per variant: hits out of steps, the share with its 95% (Wilson) interval, the
median seconds per step (OCR of the screenshot, prompt and answer), and hits per kind of
gold action. Writes bench/results/agent_accuracy.json (with every answer) and prints the
Markdown table for docs/benchmarks.md.

    python -m bench.bench_eval [--max-tokens 64] [--variants full,int8,int4]
                               [--episodes en-back,zh-home] [--results-dir DIR] [-- EVAL-ARGS]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from autoglm_demo.scoring import Tally
from bench.common import REPO_ROOT, RESULTS_DIR, markdown_table, write_results
from tools.episode_set import Episode, episode_id, episode_set, write_set

# A 135M model writes no useful thought past this; the real model thinks for hundreds.
DEFAULT_MAX_TOKENS = 64
ANSWER_CHARS = 300  # of each answer kept in the results


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    chosen = choose(episode_set(), args.episodes)
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    results: dict[str, Any] = {"variants": [], "turns": []}
    run = {
        "command": shown_command(args),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "load_average_at_start": load_average(),
        "cpu_count": os.cpu_count(),
        "max_tokens": args.max_tokens,
        "episodes": len(chosen),
        "steps": sum(len(episode.steps) for episode in chosen),
        "wall_s": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as folder:
        work = Path(folder)
        paths = write_set(work / "episodes", chosen, args.max_tokens)
        # One eval per variant, and the results written after each: a run cut short by its
        # time limit keeps the variants it finished.
        for variant in variants:
            command = eval_command(paths, variant, work, args.eval_args)
            run["eval_command"] = " ".join(shlex.quote(part) for part in command)
            started = time.monotonic()
            status = subprocess.run(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL).returncode
            run["wall_s"][variant] = round(time.monotonic() - started, 1)
            report = read_report(work / variant / "eval.json", status)
            if status:
                run.setdefault("eval_exit_status", {})[variant] = status
            done = summarise(report, chosen)
            results["variants"] += done["variants"]
            results["turns"] += done["turns"]
            results["run"] = {**run, "load_average_at_end": load_average()}
            path = write_results("agent_accuracy", results, args.results_dir)
            print(f"{variant}: done in {run['wall_s'][variant]} s", file=sys.stderr)
    print(markdown(results))
    print(f"Wrote {path}", file=sys.stderr)


def read_report(path: Path, status: int) -> dict[str, Any]:
    """eval's report; one it wrote before exiting with an error is kept, and said so."""
    if not path.is_file():
        raise SystemExit(f"eval exited with status {status} and wrote no report")
    if status:
        print(f"eval wrote its report but exited with status {status}", file=sys.stderr)
    return json.loads(path.read_text(encoding="utf-8"))


def load_average() -> list[float]:
    return [round(load, 2) for load in os.getloadavg()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS)
    parser.add_argument("--variants", default="full,int8,int4")
    parser.add_argument("--episodes", default="", help="comma-separated keys; default: all")
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR, help="where agent_accuracy.json goes"
    )
    parser.add_argument("eval_args", nargs="*", help="after --: more arguments for eval")
    return parser.parse_args(argv)


def choose(episodes: list[Episode], keys: str) -> list[Episode]:
    if not keys:
        return episodes
    wanted = [key.strip() for key in keys.split(",") if key.strip()]
    known = {episode.key: episode for episode in episodes}
    unknown = [key for key in wanted if key not in known]
    if unknown:
        raise SystemExit(f"no episode {', '.join(unknown)}; the set has {', '.join(known)}")
    return [known[key] for key in wanted]


def eval_command(paths: list[Path], variant: str, work: Path, extra: list[str]) -> list[str]:
    """The eval command for one variant; every variant's replays go into one QA database."""
    imports = [part for path in paths for part in ("--import", str(path))]
    return [
        sys.executable, "-m", "autoglm_demo", "eval", *imports,
        "--variants", variant,
        "--qa-db", f"sqlite:///{work / 'qa.db'}",
        "--out", str(work / variant),
        *extra,
    ]  # fmt: skip


def shown_command(args: argparse.Namespace) -> str:
    parts = ["python", "-m", "bench.bench_eval", "--max-tokens", str(args.max_tokens)]
    parts += ["--variants", args.variants]
    if args.episodes:
        parts += ["--episodes", args.episodes]
    if args.eval_args:
        parts += ["--", *args.eval_args]
    return " ".join(shlex.quote(part) for part in parts)


def summarise(report: dict[str, Any], chosen: list[Episode]) -> dict[str, Any]:
    """Per variant: the tally, its interval, seconds per step and hits per gold action."""
    steps = {
        (episode_id(episode.key), seq): (episode, step)
        for episode in chosen
        for seq, step in enumerate(episode.steps)
    }
    turns = []
    for turn in report["turns"]:
        episode, step = steps[(turn["session_id"], turn["seq"])]
        turns.append(
            {
                "variant": turn["variant"],
                "episode": episode.key,
                "step": turn["seq"] + 1,
                "gold": step.target.action,
                "hit": turn["hit"],
                "reason": turn["reason"],
                "seconds": turn["seconds"],
                "answer": turn["answer"][:ANSWER_CHARS],
            }
        )
    variants = []
    for entry in report["variants"]:
        mine = [turn for turn in turns if turn["variant"] == entry["variant"]]
        tally = Tally(sum(turn["hit"] for turn in mine), len(mine))
        hits, totals = Counter(), Counter()
        for turn in mine:
            totals[turn["gold"]] += 1
            hits[turn["gold"]] += turn["hit"]
        variants.append(
            {
                "variant": entry["variant"],
                "model": entry["model"],
                "hits": tally.hits,
                "total": tally.total,
                "share": tally.share,
                "ci95": tally.interval(),
                "median_s_per_step": statistics.median(t["seconds"] for t in mine)
                if mine
                else None,
                "hits_by_gold_action": {
                    action: [hits[action], totals[action]] for action in sorted(totals)
                },
            }
        )
    return {"variants": variants, "turns": turns}


def markdown(results: dict[str, Any]) -> str:
    actions = sorted({a for v in results["variants"] for a in v["hits_by_gold_action"]})
    rows = []
    for variant in results["variants"]:
        low, high = variant["ci95"] or (0.0, 0.0)
        by_action = variant["hits_by_gold_action"]
        rows.append(
            [
                variant["variant"],
                f"{variant['hits']}/{variant['total']}",
                f"{variant['share']:.1%}" if variant["share"] is not None else "-",
                f"{low:.1%} – {high:.1%}",
                f"{variant['median_s_per_step']:.1f}" if variant["median_s_per_step"] else "-",
                *(
                    f"{by_action[a][0]}/{by_action[a][1]}" if a in by_action else "-"
                    for a in actions
                ),
            ]
        )
    headers = ["variant", "hits", "share", "95% interval", "median s/step", *actions]
    return markdown_table(headers, rows)


if __name__ == "__main__":
    main()
