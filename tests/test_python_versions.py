"""The Python versions the project says it runs on are those its pinned requirements install
on: pyproject's requires-python admits no version that a pinned package refuses (so pip
refuses a wrong Python at once, not halfway through the install), and README names the
same range. Read from the installed packages' own metadata."""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PINNED = ["requirements.txt", "requirements-models.txt"]
# Every Python a newcomer might have, now and for a while.
PYTHONS = [Version(f"3.{minor}") for minor in range(9, 16)]


def pins() -> dict[str, str]:
    """name -> version of every `name==version` line in the runtime requirement files."""
    found = {}
    for name in PINNED:
        for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
            match = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==([^\s;#]+)", line)
            if match:
                found[match[1]] = match[2]
    return found


def project_pythons() -> SpecifierSet:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return SpecifierSet(pyproject["project"]["requires-python"])


def test_requires_python_admits_only_pythons_every_pin_installs_on() -> None:
    declared = project_pythons()
    refused = []
    for name, version in pins().items():
        assert metadata.version(name) == version, f"{name}: the environment is not the pinned one"
        allowed = SpecifierSet(metadata.metadata(name).get("Requires-Python") or "")
        refused += [f"{name} {version} refuses Python {python}"
                    for python in PYTHONS if python in declared and python not in allowed]
    assert refused == []
    assert Version(f"{sys.version_info.major}.{sys.version_info.minor}") in declared


def test_readme_names_the_pythons_pyproject_admits() -> None:
    declared = project_pythons()
    admitted = [python for python in PYTHONS if python in declared]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_run = readme.split("## First run", 1)[1].split("\n## ", 1)[0]
    stated = "**Python " + " or ".join(str(python) for python in admitted) + "**"
    assert stated in first_run, f"README's First run should say {stated}"
