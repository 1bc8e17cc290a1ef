"""README stays true to the code it documents."""

from __future__ import annotations

from pathlib import Path

from autoglm_demo.settings import settings_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_readme_settings_table_matches_the_settings() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings_markdown() in readme, (
        "README's settings table is stale; regenerate it with python -c "
        "'from autoglm_demo.settings import settings_markdown; print(settings_markdown())'"
    )


def test_ci_runs_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = readme.split("&& python -m pytest", 1)[1].split("\n", 1)[0]
    assert f"python -m pytest{command}" in ci
