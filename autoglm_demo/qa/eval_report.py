"""An evaluation written out: eval.json (every figure and every scored answer), eval.md (the
accuracy table and the turns where the variants disagree) and eval.png (the shares with
their 95% intervals)."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import median
from typing import Any

from autoglm_demo.actions import PROBLEM_REASONS
from autoglm_demo.qa.evaluate import Evaluation, TurnScore
from autoglm_demo.scoring import Miss, Score

FORMAT = "autoglm-qa-eval"
VERSION = 1

# Why an answer missed, as the report says it: in English, whatever the language of the
# page the evaluation ran from (the page words the same misses in its own, ui/i18n.py).
MISS_REASONS = {
    Miss.NO_ACTION: "no action",
    Miss.WRONG_ACTION: "{got} instead of {expected}",
    Miss.WRONG_TEXT: "text {got!r} instead of {expected!r}",
    Miss.NO_START: "no start point",
    Miss.NO_END: "no end point",
    Miss.START_OFF: "start point off target",
    Miss.END_OFF: "end point off target",
    Miss.FAILED: "failed: {error}",
}


def miss_reason(score: Score) -> str:
    """Why `score` is a miss, in the report's words; "" for a hit."""
    if score.problem:  # a malformed action: how it breaks the grammar says it all
        return PROBLEM_REASONS[score.problem].format_map(score.facts)
    return MISS_REASONS[score.miss].format_map(score.facts) if score.miss else ""


def write_report(evaluation: Evaluation, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data, table, plot = folder / "eval.json", folder / "eval.md", folder / "eval.png"
    data.write_text(
        json.dumps(to_dict(evaluation), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    table.write_text(to_markdown(evaluation), encoding="utf-8")
    draw(evaluation, plot)
    return [data, table, plot]


def to_dict(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "tolerance": evaluation.tolerance,
        "variants": [_variant(evaluation, variant) for variant in evaluation.variants],
        "turns": [_score(score) for score in evaluation.scores],
        "disagreements": [
            {
                "session_id": turn.session_id,
                "turn_id": turn.turn_id,
                "seq": turn.seq,
                "question": turn.question,
                "answers": {score.variant: _score(score) for score in turn.scores},
            }
            for turn in evaluation.disagreements
        ],
        "replays": [
            {"variant": variant, "session_id": session_id, "replay_session_id": replay_id}
            for (variant, session_id), replay_id in evaluation.replays.items()
        ],
    }


def _variant(evaluation: Evaluation, variant: str) -> dict[str, Any]:
    tally = evaluation.tallies[variant]
    interval = tally.interval()
    return {
        "variant": variant,
        "model": evaluation.models[variant],
        "hits": tally.hits,
        "total": tally.total,
        "share": tally.share,
        "ci95": list(interval) if interval else None,
        "seconds_per_step": _seconds_per_step(evaluation, variant),
    }


def _seconds_per_step(evaluation: Evaluation, variant: str) -> float | None:
    """The median: a variant's first step also waits for it to load."""
    times = [score.seconds for score in evaluation.scores if score.variant == variant]
    return median(times) if times else None


def _score(score: TurnScore) -> dict[str, Any]:
    return {
        "session_id": score.session_id,
        "turn_id": score.turn_id,
        "seq": score.seq,
        "variant": score.variant,
        "answer": score.answer,
        "hit": score.score.hit,
        "miss": score.score.miss.value if score.score.miss else None,
        "reason": miss_reason(score.score),
        "seconds": score.seconds,
        "replay_turn_id": score.replay_turn_id,
    }


def to_markdown(evaluation: Evaluation) -> str:
    lines = [
        f"Scored with a tolerance of {evaluation.tolerance:g} of the screen's diagonal.",
        "",
        "| variant | model | hits/total | share | 95% CI | s/step (median) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for variant in evaluation.variants:
        row = _variant(evaluation, variant)
        interval = row["ci95"]
        lines.append(
            f"| {_cell(variant)} | {_cell(row['model'])} | {row['hits']}/{row['total']} "
            f"| {_percent(row['share'])} "
            f"| {f'{_percent(interval[0])}–{_percent(interval[1])}' if interval else '—'} "
            f"| {_figure(row['seconds_per_step'])} |"
        )
    lines += ["", "## Turns where the variants disagree", ""]
    if not evaluation.disagreements:
        return "\n".join([*lines, "None: every variant hit or missed the same turns.", ""])
    lines += [
        "| session | step | question | " + " | ".join(map(_cell, evaluation.variants)) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in evaluation.variants) + " |",
    ]
    for turn in evaluation.disagreements:
        by_variant = {score.variant: score for score in turn.scores}
        cells = [_verdict(by_variant.get(variant)) for variant in evaluation.variants]
        lines.append(
            f"| {turn.session_id[:8]} | {turn.seq + 1} | {_cell(turn.question, 60)} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join([*lines, ""])


def _verdict(score: TurnScore | None) -> str:
    if score is None:
        return "—"
    mark = "✓" if score.score.hit else f"✗ {miss_reason(score.score)}:"
    return _cell(f"{mark} {score.answer}", 80)


def _cell(text: str, limit: int = 200) -> str:
    """Text that stays inside one Markdown table cell, as text: one line, pipes escaped,
    and no HTML (a model's answer may hold anything)."""
    line = " ".join(text.split())
    line = line if len(line) <= limit else line[: limit - 1] + "…"
    return line.replace("&", "&amp;").replace("<", "&lt;").replace("|", "\\|")


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def draw(evaluation: Evaluation, target: Path) -> None:
    """Each variant's share of hits, with its 95% interval as an error bar."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the command runs unattended
    from matplotlib import pyplot

    names = list(evaluation.variants)
    shares, below, above = [], [], []
    for variant in names:
        tally = evaluation.tallies[variant]
        share, interval = tally.share or 0.0, tally.interval() or (0.0, 0.0)
        shares.append(share)
        below.append(share - interval[0] if tally.total else 0.0)
        above.append(interval[1] - share if tally.total else 0.0)
    figure, axes = pyplot.subplots(figsize=(1.6 * len(names) + 2, 3.6))
    axes.bar(names, shares, yerr=[below, above], capsize=6, color="#4c72b0")
    for index, variant in enumerate(names):
        tally = evaluation.tallies[variant]
        # At the foot of the bar, clear of the error bar.
        axes.annotate(
            f"{tally.hits}/{tally.total}", (index, 0.02), ha="center", va="bottom", color="white"
        )
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("share of marked turns hit")
    axes.set_title("Accuracy per variant (95% Wilson interval)")
    figure.tight_layout()
    figure.savefig(target, dpi=100)
    pyplot.close(figure)
