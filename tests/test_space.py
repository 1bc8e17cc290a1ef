"""The Hugging Face Space: a card that Hugging Face accepts, and a push that sends it all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from huggingface_hub.utils import filter_repo_objects

from autoglm_demo.settings import settings_table
from tools import publish_space as space

# Every key that Hugging Face's Spaces configuration reference accepts in a Space's README
# front matter: https://huggingface.co/docs/hub/spaces-config-reference (huggingface/hub-docs,
# docs/hub/spaces-config-reference.md). `license` is card metadata of every repository type:
# https://huggingface.co/docs/hub/repositories-licenses
ALLOWED_KEYS = {
    "title", "emoji", "colorFrom", "colorTo", "sdk", "python_version", "sdk_version",
    "suggested_hardware", "suggested_storage", "app_file", "app_build_command", "app_port",
    "base_path", "fullWidth", "header", "short_description", "models", "datasets", "tags",
    "thumbnail", "pinned", "hf_oauth", "hf_oauth_scopes", "hf_oauth_expiration_minutes",
    "hf_oauth_authorized_org", "hf_oauth_redirect_path", "disable_embedding",
    "startup_duration_timeout", "custom_headers", "preload_from_hub", "license",
}
COLORS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}
HARDWARE = {  # the reference's valid `suggested_hardware` flavours
    "cpu-basic", "cpu-upgrade", "t4-small", "t4-medium", "l4x1", "l4x4", "l40sx1", "l40sx4",
    "l40sx8", "a10g-small", "a10g-large", "a10g-largex2", "a10g-largex4", "a100-large",
    "a100x4", "a100x8",
}


def front_matter(readme: str) -> dict[str, Any]:
    assert readme.startswith("---\n")
    return yaml.safe_load(readme.split("---\n", 2)[1])


def test_card_uses_only_keys_the_spaces_reference_allows() -> None:
    card = front_matter(space.render_readme(space.load_config()))
    assert set(card) <= ALLOWED_KEYS, set(card) - ALLOWED_KEYS
    assert card["sdk"] == "docker" and card["app_port"] == 7860
    assert {card["colorFrom"], card["colorTo"]} <= COLORS
    assert card["suggested_hardware"] in HARDWARE
    assert "zai-org/AutoGLM-Phone-9B" in card["models"]


def test_space_settings_name_real_settings_and_listen_on_every_interface() -> None:
    config = space.load_config()
    known = {env for _, env, _, _ in settings_table()}
    names = [*config.variables, *config.secrets]
    assert {name for name in names if name.startswith("AUTOGLM_")} <= known
    assert config.variables["AUTOGLM_HOST"] == "0.0.0.0"


def test_render_writes_card_then_readme(tmp_path: Path) -> None:
    output = tmp_path / "SPACE_README.md"
    space.main(["render", "--output", str(output)])
    text = output.read_text(encoding="utf-8")
    assert front_matter(text) == space.load_config().card
    assert text.endswith((space.ROOT / "README.md").read_text(encoding="utf-8"))


class RecordingHub:
    """Stands in for huggingface_hub.HfApi: records each call instead of making it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self.calls.append((name, args, kwargs))


def test_push_creates_the_space_and_uploads_files_card_variables_and_secrets() -> None:
    hub = RecordingHub()
    unset = space.push("me/autoglm", hub, env={"AUTOGLM_API_KEY": "k1"})
    config = space.load_config()
    names = [name for name, _, _ in hub.calls]
    created = {"repo_type": "space", "space_sdk": "docker", "exist_ok": True}
    assert hub.calls[0] == ("create_repo", ("me/autoglm",), created)
    assert [args for name, args, _ in hub.calls if name == "add_space_variable"] == [
        ("me/autoglm", key, value) for key, value in config.variables.items()
    ]
    assert [args for name, args, _ in hub.calls if name == "add_space_secret"] == [
        ("me/autoglm", "AUTOGLM_API_KEY", "k1")
    ]
    assert unset == ["AUTOGLM_PAGE_AUTH"]
    assert names[-2:] == ["upload_folder", "upload_file"]
    folder, card = hub.calls[-2][2], hub.calls[-1][2]
    assert folder["repo_type"] == card["repo_type"] == "space"
    assert folder["folder_path"] == space.ROOT
    assert card["path_in_repo"] == "README.md"
    assert card["path_or_fileobj"] == space.render_readme(config).encode("utf-8")

    sent = [
        "app.py",
        "Dockerfile",
        "requirements.txt",
        "requirements-transformers.txt",
        "scripts/setup.sh",
        "spaces.yaml",
        "tools/publish_space.py",
    ]
    kept_out = [
        ".venv/bin/python",
        ".git/HEAD",
        "README.md",
        "test-artifacts/page-en.png",
        "__pycache__/app.cpython-311.pyc",
        "tools/__pycache__/publish_space.cpython-311.pyc",
        ".pytest_cache/v/cache/nodeids",
    ]
    uploaded = list(filter_repo_objects(sent + kept_out, ignore_patterns=folder["ignore_patterns"]))
    assert uploaded == sent


def test_push_refuses_without_a_token() -> None:
    with pytest.raises(SystemExit, match="HF_TOKEN"):
        space.main(["push", "--repo", "me/autoglm"], env={})
