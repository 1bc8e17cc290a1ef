"""The agent-accuracy benchmark end to end, on two steps and a tiny model whose answer is
known: it always taps [500,100], so both steps of the "go back" episode (Back, then finish)
are misses, for the reason the scorer gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bench_eval


@pytest.mark.slow
def test_the_benchmark_scores_an_episode_through_the_eval_command(
    tagged_backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench_eval.main(
        ["--episodes", "en-back", "--variants", "full", "--max-tokens", "48",
         "--results-dir", str(tmp_path), "--", "--backend-url", tagged_backend]
    )  # fmt: skip
    results = json.loads((tmp_path / "agent_accuracy.json").read_text())
    (variant,) = results["variants"]
    assert (variant["variant"], variant["hits"], variant["total"]) == ("full", 0, 2)
    assert variant["hits_by_gold_action"] == {"Back": [0, 1], "finish": [0, 1]}
    low, high = variant["ci95"]
    assert low == 0 and 0.5 < high < 0.9  # Wilson's interval for 0 of 2
    assert variant["median_s_per_step"] > 0
    turns = results["turns"]
    assert [(t["episode"], t["step"], t["gold"]) for t in turns] == [
        ("en-back", 1, "Back"),
        ("en-back", 2, "finish"),
    ]
    assert all('do(action="Tap", element=[500,100])' in t["answer"] for t in turns)
    assert [t["reason"] for t in turns] == ["Tap instead of Back", "Tap instead of finish"]
    assert results["run"]["steps"] == 2 and "--backend-url" in results["run"]["command"]
    assert "| full | 0/2 | 0.0% |" in capsys.readouterr().out
