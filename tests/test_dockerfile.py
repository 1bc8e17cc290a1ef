"""The Docker image installs and runs the demo exactly as README tells people to."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tools import publish_space as space

ROOT = Path(__file__).resolve().parent.parent
# Flags that only make sense inside the image: no pip cache in a layer, a user install for
# the non-root user, and the PyTorch index that picks the CPU or CUDA build.
DOCKER_ONLY_FLAGS = {"--no-cache-dir": 0, "--user": 0, "--extra-index-url": 1}


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    split = (line.partition(" ") for line in lines if line and not line.startswith("#"))
    return [(word.upper(), rest.strip()) for word, _, rest in split]


def values(name: str) -> list[str]:
    return [rest for word, rest in instructions() if word == name]


def pip_installs(shell: str) -> list[list[str]]:
    """Each `pip install …` in a shell line, without the image-only flags."""
    installs = []
    for command in shell.split("&&"):
        words = shlex.split(command)
        if words[:2] != ["pip", "install"]:
            continue
        kept, skip = [], 0
        for word in words:
            if skip:
                skip -= 1
            elif word in DOCKER_ONLY_FLAGS:
                skip = DOCKER_ONLY_FLAGS[word]
            else:
                kept.append(word)
        installs.append(kept)
    return installs


def readme_run_line() -> str:
    """README's first command: from a fresh checkout to the running demo."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("```bash\n", 1)[1].split("\n", 1)[0]


def test_image_installs_and_runs_like_readme() -> None:
    """README's installs, with the transformers runtime added to the first: the image serves
    the real checkpoint (on a GPU), which README's light CPU install leaves out."""
    readme = readme_run_line()
    image_installs = [words for run in values("RUN") for words in pip_installs(run)]
    readme_installs = pip_installs(readme)
    assert len(image_installs) == len(readme_installs) == 2
    assert image_installs[0] == readme_installs[0] + ["-r", "requirements-transformers.txt"]
    assert image_installs[1:] == readme_installs[1:]
    requirement_files = [w for words in image_installs for w in words if w.endswith(".txt")]
    copied = next(args for args in values("COPY") if "requirements.txt" in args)
    assert all(name in copied for name in requirement_files)
    command = " ".join(json.loads(values("CMD")[-1]))
    assert readme.endswith("&& " + command) and command == "python app.py"


def test_image_installs_the_system_packages_with_readme_setup_script() -> None:
    setup = next(word for word in readme_run_line().split("&&")[0].split() if word.endswith(".sh"))
    assert any(args.startswith(setup + " ") for args in values("COPY"))
    assert any("bash /tmp/setup.sh" in run for run in values("RUN"))


def test_image_runs_as_uid_1000_on_the_space_port_with_data_on_a_volume() -> None:
    assert values("USER") == ["1000"]
    assert any("--uid 1000" in run for run in values("RUN"))
    assert values("EXPOSE") == [str(space.load_config().card["app_port"])]
    assert json.loads(values("VOLUME")[0]) == ["/data"]
    env = " ".join(values("ENV"))
    assert "AUTOGLM_CACHE_DIR=/data/" in env and "HF_HOME=/data/" in env
    assert "/health" in values("HEALTHCHECK")[0]


def test_space_build_arguments_are_declared() -> None:
    """A Docker Space passes its variables as build arguments; those not read as settings
    (AUTOGLM_*) are meant for the build, so the Dockerfile must declare them."""
    declared = {arg.split("=")[0] for arg in values("ARG")}
    wanted = {name for name in space.load_config().variables if not name.startswith("AUTOGLM_")}
    assert wanted and wanted <= declared


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install -r requirements-dev.txt)")
    result = subprocess.run([hadolint, "--no-color", str(ROOT / "Dockerfile")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
