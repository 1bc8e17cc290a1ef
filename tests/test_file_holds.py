"""A file of the upload folder is deleted only when nothing holds it any more."""

from __future__ import annotations

import hashlib
from pathlib import Path

import gradio as gr

from autoglm_demo.conversation import Turn
from autoglm_demo.ui.file_holds import FileHolds, inside


def uploaded(folder: Path, content: bytes = b"png") -> Path:
    """A file where Gradio puts an upload: `<folder>/<sha256>/<name>`."""
    path = folder / hashlib.sha256(content).hexdigest() / "screen.png"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    return path


def page_with_a_session(holds: FileHolds, folder: Path) -> tuple[gr.Blocks, gr.State, str]:
    with gr.Blocks() as demo:
        turns = gr.State([])
    demo.state_holder.set_blocks(demo)
    holds.watch_page(demo, folder)
    return demo, turns, "session1234"


def test_a_file_goes_when_its_last_holder_lets_go(tmp_path: Path) -> None:
    holds = FileHolds()
    path = uploaded(tmp_path)
    [held] = inside([str(path), path, "https://example.com/screen.png", None], tmp_path)
    holds.hold([held])
    holds.hold([held])  # two calls that sent the same file share its path
    holds.let_go([held], tmp_path, held=True)
    assert path.exists()
    holds.let_go([held], tmp_path, held=True)
    assert not path.exists()
    assert not path.parent.exists() and tmp_path.exists()  # Gradio's folder for it went too


def test_the_pages_own_files_and_its_sessions_files_stay(tmp_path: Path) -> None:
    holds = FileHolds()
    example = uploaded(tmp_path, b"example")  # cached when the page was built
    demo, turns, session = page_with_a_session(holds, tmp_path)
    screenshot = uploaded(tmp_path, b"screenshot")
    kept = [Turn(text="Where?", images=[str(screenshot)])]
    demo.state_holder[session][turns._id] = kept
    holds.let_go(inside([example, screenshot], tmp_path), tmp_path)
    assert example.exists() and screenshot.exists()
    # The tab closes: its own state no longer holds the screenshot.
    holds.let_go(inside([example, screenshot], tmp_path), tmp_path, leaving=kept)
    assert example.exists() and not screenshot.exists()


def test_only_files_inside_the_folder_are_touched(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    folder.mkdir()
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"secret")
    named = [outside, folder, folder / ".." / "secret.png", folder / "sub"]
    assert list(inside(named, folder)) == [(folder / "sub").resolve()]
    FileHolds().let_go(inside([outside, folder], folder), folder)
    assert outside.exists() and folder.exists()
