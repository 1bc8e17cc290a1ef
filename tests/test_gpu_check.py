"""bench/gpu_check.py's dry run: the same script, on a tiny configuration on the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import gpu_check


def test_the_dry_run_measures_a_screenshot_through_the_runtime(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = gpu_check.main(["--dry-run", "--json", str(tmp_path / "figures.json")])
    # 270x600 -> 280x588 pixels -> 10x21 merged patches of 28: 210 image tokens, plus text.
    assert 210 < figures.prompt_tokens < 260
    assert figures.decode_tokens == 8 and figures.decode_tok_s > 0
    assert figures.vision_ms > 0 and figures.ttft_ms > 0
    assert figures.decode_weight_gb > 0
    printed = capsys.readouterr().out
    assert "TTFT (screenshot to first token)" in printed and "bandwidth ceiling" in printed
    assert (
        json.loads((tmp_path / "figures.json").read_text())["prompt_tokens"]
        == figures.prompt_tokens
    )
