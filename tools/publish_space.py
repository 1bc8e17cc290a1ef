"""Publish the demo as a Hugging Face Space, from spaces.yaml (the Space's one source).

    python -m tools.publish_space render [--output FILE]   the Space's README.md
    python -m tools.publish_space push --repo OWNER/NAME   create or update the Space

The Space's README is the repository's README under a front matter rendered from the
`card` section. `push` uploads the same files that go into the Docker build context (it
reads .dockerignore), so the Space builds exactly what `docker build .` builds here.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

ROOT = Path(__file__).resolve().parent.parent
TOKEN_VARIABLE = "HF_TOKEN"


@dataclass(frozen=True)
class SpaceConfig:
    card: dict[str, Any]
    variables: dict[str, str]
    secrets: dict[str, str]  # name → what it is for; values never live in the file


class SpaceHub(Protocol):
    """The part of huggingface_hub.HfApi that `push` uses (tests pass a recorder)."""

    def create_repo(
        self, repo_id: str, *, repo_type: str, space_sdk: str, exist_ok: bool
    ) -> Any: ...

    def add_space_variable(self, repo_id: str, key: str, value: str) -> Any: ...

    def add_space_secret(self, repo_id: str, key: str, value: str, *, description: str) -> Any: ...

    def upload_folder(
        self,
        *,
        repo_id: str,
        repo_type: str,
        folder_path: Path,
        ignore_patterns: list[str],
        commit_message: str,
    ) -> Any: ...

    def upload_file(
        self,
        *,
        repo_id: str,
        repo_type: str,
        path_or_fileobj: bytes,
        path_in_repo: str,
        commit_message: str,
    ) -> Any: ...


def load_config(root: Path = ROOT) -> SpaceConfig:
    data = yaml.safe_load((root / "spaces.yaml").read_text(encoding="utf-8"))
    return SpaceConfig(
        card=data["card"],
        variables={key: str(value) for key, value in data.get("variables", {}).items()},
        secrets=dict(data.get("secrets", {})),
    )


def render_readme(config: SpaceConfig, root: Path = ROOT) -> str:
    front_matter = yaml.safe_dump(config.card, sort_keys=False, allow_unicode=True)
    body = (root / "README.md").read_text(encoding="utf-8")
    return f"---\n{front_matter}---\n\n{body}"


def ignore_patterns(root: Path = ROOT) -> list[str]:
    """.dockerignore's patterns in huggingface_hub's fnmatch terms, plus README.md.

    Docker's `name` also drops everything under it, and `**/` also matches at the top;
    fnmatch needs both spelled out. README.md is replaced by the rendered one.
    """
    patterns = ["README.md"]
    for line in (root / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        for pattern in dict.fromkeys((line, line.removeprefix("**/"))):
            patterns += [pattern, f"{pattern}/*"]
    return patterns


def push(repo_id: str, api: SpaceHub, env: Mapping[str, str], root: Path = ROOT) -> list[str]:
    """Create or update the Space; returns the secrets left for its settings page."""
    config = load_config(root)
    api.create_repo(repo_id, repo_type="space", space_sdk="docker", exist_ok=True)
    for key, value in config.variables.items():
        api.add_space_variable(repo_id, key, value)
    unset = []
    for key, description in config.secrets.items():
        if env.get(key):
            api.add_space_secret(repo_id, key, env[key], description=description)
        else:
            unset.append(key)
    api.upload_folder(
        repo_id=repo_id,
        repo_type="space",
        folder_path=root,
        ignore_patterns=ignore_patterns(root),
        commit_message="Update the demo",
    )
    # Last, so the Space's final build sees the card that matches the uploaded files.
    api.upload_file(
        repo_id=repo_id,
        repo_type="space",
        path_or_fileobj=render_readme(config, root).encode("utf-8"),
        path_in_repo="README.md",
        commit_message="Update the Space card from spaces.yaml",
    )
    return unset


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tools.publish_space",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="Write the Space's README.md.")
    render.add_argument("--output", type=Path, help="File to write (default: stdout).")
    upload = commands.add_parser(
        "push", help=f"Create or update the Space (needs {TOKEN_VARIABLE})."
    )
    upload.add_argument("--repo", required=True, help="The Space, as OWNER/NAME.")
    args = parser.parse_args(argv)

    if args.command == "render":
        text = render_readme(load_config())
        if args.output:
            args.output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return

    token = env.get(TOKEN_VARIABLE)
    if not token:
        raise SystemExit(
            f"push needs a Hugging Face token with write access in {TOKEN_VARIABLE} "
            "(create one at https://huggingface.co/settings/tokens); nothing was uploaded."
        )
    from huggingface_hub import HfApi  # only push needs it

    unset = push(args.repo, HfApi(token=token), env)
    print(f"Pushed https://huggingface.co/spaces/{args.repo}")
    if unset:
        print("Not set (set them in the Space's settings if you want them): " + ", ".join(unset))


if __name__ == "__main__":
    main()
