"""Accuracy per variant on real servers on loopback: the trained tiny model always answers
TAGGED_REPLY (a tap at [500,100]), so every hit and miss is known in advance. An episode is
asked step by step in the official agent's shape, and the `eval` command writes the same
figures unattended."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from autoglm_demo.answering import AnswerRequest
from autoglm_demo.client import BackendClient, BackendModel, ChatOptions, ClientEvent
from autoglm_demo.qa.eval_report import miss_reason, to_markdown
from autoglm_demo.qa.evaluate import (
    Disagreement,
    Evaluation,
    Progress,
    TurnScore,
    UnknownVariant,
    evaluate,
)
from autoglm_demo.qa.export import write_zip
from autoglm_demo.qa.media import MediaFolder
from autoglm_demo.qa.recorder import QaSession, Recorder
from autoglm_demo.qa.records import RecordedOptions, RecordStatus, SessionRecord
from autoglm_demo.qa.store import QaStore
from autoglm_demo.scoring import (
    DEFAULT_TOLERANCE,
    Miss,
    Region,
    Score,
    Tally,
    Target,
    score_answer,
)
from autoglm_demo.ui.marking import score_recorded
from tests.conftest import TAGGED_REPLY
from tests.qa_support import finished_turn

TAP = 'do(action="Tap", element=[500,100])'
THINK = TAGGED_REPLY.split("</think>")[0].removeprefix("<think>")
TASK = "Search for coffee"
SCREEN = '{"current_app": "System Home"}'
PROMPT = "Answer with one action."
# The model taps [500,100] on every step. Screens are 540x1200: 5% of the diagonal is
# 65.8 px, 2% is 26.3 px.
STEPS = [
    Target("Tap", Region(400, 50, 600, 150)),  # hit: inside the box
    Target("Tap", Region.point(900, 900)),  # miss: far off
    Target("Back"),  # miss: a tap instead of Back
    None,  # not marked: asked, not scored
    Target("Tap", Region.point(500, 140)),  # 48 px away: a hit at 5%, a miss at 2%
]


def png(colour: tuple[int, int, int], size: tuple[int, int] = (540, 1200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


class Listening(BackendClient):
    """The real client, noting the messages of every request it sends."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.sent: list[list[dict[str, Any]]] = []

    async def stream_chat(
        self, model: str, messages: list[dict[str, Any]], options: ChatOptions, **kw: Any
    ) -> AsyncIterator[ClientEvent]:
        self.sent.append(messages)
        async for event in super().stream_chat(model, messages, options, **kw):
            yield event


class TwoServers(BackendClient):
    """One client over two real servers: variant "tapper" is the trained model, "talker"
    the random one, which never answers with an action."""

    def __init__(self, tapper: str, talker: str) -> None:
        super().__init__(tapper)
        self.servers = {"tapper": BackendClient(tapper), "talker": BackendClient(talker)}

    async def list_models(self) -> list[BackendModel]:
        return [BackendModel(name, {}) for name in self.servers]

    async def stream_chat(
        self, model: str, messages: list[dict[str, Any]], options: ChatOptions, **kw: Any
    ) -> AsyncIterator[ClientEvent]:
        async for event in self.servers[model].stream_chat(
            "autoglm-phone-9b", messages, options, **kw
        ):
            yield event

    async def close(self) -> None:
        for client in self.servers.values():
            await client.close()
        await super().close()


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Recorder]:
    started = Recorder(QaStore(f"sqlite:///{tmp_path / 'qa.sqlite3'}"), store_media=True)
    yield started
    started.close()


def make_episode(store: QaStore) -> SessionRecord:
    shots = [(f"step{i}.png", png((i * 40, 80, 160))) for i in range(len(STEPS))]
    # A short prompt: the tiny model's context is 2048 byte-sized tokens.
    return store.create_episode(TASK, shots, STEPS, system_prompt=PROMPT)


def run(
    client: BackendClient,
    sessions: list[SessionRecord],
    variants: list[str],
    recorder: Recorder,
    folder: Path,
    **options: Any,
) -> Evaluation:
    async def go() -> Evaluation:
        try:
            return await evaluate(
                client,
                sessions,
                variants,
                MediaFolder(recorder.store, folder),
                **options,
                recorder=recorder,
            )
        finally:
            await client.close()

    found = asyncio.run(go())
    recorder.flush()
    return found


def test_an_episode_is_asked_step_by_step_in_the_official_shape_and_scored(
    tagged_backend: str, recorder: Recorder, tmp_path: Path
) -> None:
    episode = make_episode(recorder.store)
    listening = Listening(tagged_backend)
    progress: list[Progress] = []
    found = run(listening, [episode], ["full"], recorder, tmp_path / "m", on_step=progress.append)

    assert found.models == {"full": "autoglm-phone-9b-full"}
    assert [s.answer for s in found.scores] == [TAP] * 4
    assert [(s.seq, s.score.hit) for s in found.scores] == [
        (0, True),
        (1, False),
        (2, False),
        (4, True),
    ]
    assert miss_reason(found.scores[1].score) == "start point off target"
    assert miss_reason(found.scores[2].score) == "Tap instead of Back"
    tally = found.tallies["full"]
    assert (tally.hits, tally.total) == (2, 4)
    assert [(p.done, p.total) for p in progress] == [(i, 5) for i in range(1, 6)]
    assert progress[3].score is None and found.disagreements == ()

    # The official agent's shape: the system prompt, the task once, each earlier step's
    # think/answer, and only the latest screenshot.
    assert len(listening.sent) == 5
    for step, messages in enumerate(listening.sent):
        assert messages[0] == {"role": "system", "content": PROMPT}
        users = [m for m in messages[1:] if m["role"] == "user"]
        answers = [m["content"] for m in messages[1:] if m["role"] == "assistant"]
        assert (
            len(users) == step + 1
            and answers == [f"<think>{THINK}</think><answer>{TAP}</answer>"] * step
        )
        assert [m["role"] for m in messages[1:]] == ["user", "assistant"] * step + ["user"]
        images = [[p for p in m["content"] if p["type"] == "image_url"] for m in users]
        assert [len(found) for found in images] == [0] * step + [1]
        texts = [p["text"] for m in users for p in m["content"] if p["type"] == "text"]
        # The task is stated once; each step says which app is on screen, as the official
        # agent does (it names the launcher or an app it does not know "System Home").
        assert texts == [f"{TASK}\n\n{SCREEN}"] + [f"** Screen Info **\n\n{SCREEN}"] * step
    last_image = listening.sent[-1][-1]["content"][0]["image_url"]["url"]
    assert last_image.startswith("data:image/png;base64,")

    # The replay is recorded as a session of its own, each step with its answer and target.
    replayed = recorder.store.session(found.replays[("full", episode.id)])
    assert replayed.replay_of == episode.id and replayed.task == TASK
    assert [t.replay_of for t in replayed.turns] == [t.id for t in episode.turns]
    assert [t.target for t in replayed.turns] == STEPS
    assert all(t.status is RecordStatus.DONE and t.answer == TAP for t in replayed.turns)
    assert [s.replay_turn_id for s in found.scores] == [t.id for t in replayed.turns if t.target]
    assert recorder.store.session(episode.id) == episode  # the original is left as it was


def test_the_tolerance_decides_a_near_miss(
    tagged_backend: str, recorder: Recorder, tmp_path: Path
) -> None:
    episode = make_episode(recorder.store)
    found = run(
        BackendClient(tagged_backend),
        [episode],
        ["autoglm-phone-9b"],
        recorder,
        tmp_path,
        tolerance=0.02,
    )
    assert [(s.seq, s.score.hit) for s in found.scores][-1] == (4, False)
    assert found.tallies["autoglm-phone-9b"].hits == 1


def test_the_turns_where_variants_disagree_are_listed(
    tagged_backend: str, random_backend: str, recorder: Recorder, tmp_path: Path
) -> None:
    episode = make_episode(recorder.store)
    found = run(
        TwoServers(tagged_backend, random_backend),
        [episode],
        ["tapper", "talker"],
        recorder,
        tmp_path,
    )
    assert (found.tallies["tapper"].hits, found.tallies["talker"].hits) == (2, 0)
    assert [d.seq for d in found.disagreements] == [0, 4]  # the steps the tapper hits
    first = found.disagreements[0]
    assert [s.variant for s in first.scores] == ["tapper", "talker"]
    assert first.question == TASK and not first.scores[1].score.hit
    table = to_markdown(found)
    assert (
        "| tapper | tapper | 2/4 | 50.0% |" in table and "| talker | talker | 0/4 | 0.0% |" in table
    )
    assert f"| {episode.id[:8]} | 1 | {TASK} | ✓ {TAP} |" in table


def test_an_unknown_variant_is_refused_before_anything_is_asked(
    tagged_backend: str, recorder: Recorder, tmp_path: Path
) -> None:
    episode = make_episode(recorder.store)
    listening = Listening(tagged_backend)
    with pytest.raises(UnknownVariant, match="no variant 'int3'.*autoglm-phone-9b-full"):
        run(listening, [episode], ["full", "int3"], recorder, tmp_path)
    assert listening.sent == []


def eval_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autoglm_demo", "eval", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_eval_command_writes_json_markdown_and_a_plot(
    tagged_backend: str, tmp_path: Path
) -> None:
    # An episode made elsewhere, handed over as an export zip, and a session already stored.
    source = QaStore(f"sqlite:///{tmp_path / 'source.sqlite3'}")
    episode = make_episode(source)
    blobs = [source.blob(ref.sha256 or "") for t in episode.turns for ref in t.images]
    write_zip(episode, dict.fromkeys(b for b in blobs if b), tmp_path / "episode.zip")
    source.close()
    db = f"sqlite:///{tmp_path / 'qa.sqlite3'}"
    stored = make_episode(QaStore(db))
    out = tmp_path / "out"
    common = ["--backend-url", tagged_backend, "--qa-db", db, "--out", str(out)]

    done = eval_command(
        "--import",
        str(tmp_path / "episode.zip"),
        "--session",
        stored.id,
        "--variants",
        "full,int8",
        *common,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    figures = {v["variant"]: v for v in report["variants"]}
    assert set(figures) == {"full", "int8"}
    for variant in ("full", "int8"):
        assert (figures[variant]["hits"], figures[variant]["total"]) == (4, 8)
        low, high = figures[variant]["ci95"]
        assert figures[variant]["share"] == 0.5 and 0.2 < low < 0.5 < high < 0.8
        assert figures[variant]["seconds_per_step"] > 0
    assert figures["int8"]["model"] == "autoglm-phone-9b-int8"
    assert len(report["turns"]) == 16 and report["disagreements"] == []
    assert {r["session_id"] for r in report["replays"]} == {episode.id, stored.id}
    table = (out / "eval.md").read_text(encoding="utf-8")
    assert "| full | autoglm-phone-9b-full | 4/8 | 50.0% | 21.5%–78.5% |" in table
    assert "None: every variant hit or missed the same turns." in table
    with Image.open(out / "eval.png") as plot:
        assert plot.format == "PNG" and plot.size[0] > 200
    assert "[full] 1/20" in done.stderr and "[int8] 20/20" in done.stderr  # per step

    # Run again on the same file: it is not imported twice, and the figures are the same.
    again = eval_command("--import", str(tmp_path / "episode.zip"), "--variants", "full", *common)
    assert again.returncode == 0 and "already imported" in again.stderr

    unknown = eval_command("--session", "f" * 32, "--variants", "full", *common)
    assert unknown.returncode != 0 and f"no QA session {'f' * 32}" in unknown.stderr
    bad = eval_command("--session", stored.id, "--variants", "full,int3", *common)
    assert bad.returncode != 0 and "no variant 'int3'" in bad.stderr
    assert "Traceback" not in unknown.stderr + bad.stderr


def test_eval_without_a_backend_url_asks_the_embedded_server_in_its_own_process(
    tagged_model_dir: Path, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'qa.sqlite3'}"
    store = QaStore(db)
    shots = [(f"step{i}.png", png((i * 40, 80, 160))) for i in range(len(STEPS))]
    # The phone-agent preset prompt, as an episode uploaded on the page has it: long for
    # the tiny model's 2048-token context, and each step adds the earlier steps' answers.
    episode = store.create_episode(TASK, shots, STEPS)
    store.close()
    served = ["--model", str(tagged_model_dir), "--device", "cpu", "--qa-db", db]
    common = ["--session", episode.id, "--variants", "full", *served]

    # Asked with the options recorded with the steps (1024 tokens), the later steps do not
    # fit: the backend refuses them, and each counts as a miss that says why.
    recorded = eval_command(*common, "--out", str(tmp_path / "recorded"))
    assert recorded.returncode == 0, recorded.stderr
    turns = json.loads((tmp_path / "recorded" / "eval.json").read_text("utf-8"))["turns"]
    refused = [turn for turn in turns if turn["miss"] == "failed"]
    assert refused and all("max_tokens is 1024" in turn["reason"] for turn in refused)

    # With fewer tokens every step fits, and the model taps [500,100] on each: the box of
    # step 1 and the point of step 5 are hits; step 2's point and step 3's Back are not.
    shorter = eval_command(*common, "--max-tokens", "256", "--out", str(tmp_path / "short"))
    assert shorter.returncode == 0, shorter.stderr
    report = json.loads((tmp_path / "short" / "eval.json").read_text("utf-8"))
    [full] = report["variants"]
    assert (full["variant"], full["model"]) == ("full", "autoglm-phone-9b-full")
    assert (full["hits"], full["total"], full["share"]) == (2, 4, 0.5)
    assert [(t["seq"], t["answer"], t["hit"], t["miss"]) for t in report["turns"]] == [
        (0, TAP, True, None),
        (1, TAP, False, "start_off"),
        (2, TAP, False, "wrong_action"),
        (4, TAP, True, None),
    ]
    assert "| full | autoglm-phone-9b-full | 2/4 | 50.0% |" in shorter.stdout
    # The replay is recorded in the QA database, as the QA tab records one.
    [replay] = report["replays"]
    stored = QaStore(db)
    replayed = stored.session(replay["replay_session_id"])
    stored.close()
    assert replayed.replay_of == episode.id
    assert [turn.options.max_tokens for turn in replayed.turns] == [256] * len(STEPS)

    bad = eval_command(*common, "--max-tokens", "0", "--out", str(tmp_path / "bad"))
    assert bad.returncode != 0 and "--max-tokens must be at least 1" in bad.stderr


def test_an_answer_stays_text_in_its_markdown_cell() -> None:
    hostile = "do(x) | <script>alert(1)</script>\n| next | row |"
    scores = (
        TurnScore("s" * 32, "t", 0, "a", hostile, Score.missed(Miss.NO_ACTION), 1.0),
        TurnScore("s" * 32, "t", 0, "b", TAP, Score(True), 1.0),
    )
    found = Evaluation(
        ("a", "b"),
        {"a": "a", "b": "b"},
        {"a": Tally(0, 1), "b": Tally(1, 1)},
        scores,
        (Disagreement("s" * 32, "t", 0, "q", scores),),
        0.05,
    )
    row = to_markdown(found).splitlines()[-1]
    assert "<script>" not in row and "&lt;script>" in row and "\n" not in row
    cells = re.split(r"(?<!\\)\|", row)[1:-1]  # split at the pipes that are not escaped
    assert len(cells) == 5 and cells[3].startswith(" ✗ ") and cells[4].startswith(" ✓ ")


def test_a_step_the_backend_refuses_is_a_miss_that_says_why(
    tagged_backend: str, recorder: Recorder, tmp_path: Path
) -> None:
    episode = make_episode(recorder.store)
    # More tokens than the tiny model's context holds: the server refuses the first step.
    first = dataclasses.replace(episode.turns[0], options=RecordedOptions(max_tokens=4096))
    refused = dataclasses.replace(episode, turns=(first, *episode.turns[1:]))
    found = run(BackendClient(tagged_backend), [refused], ["full"], recorder, tmp_path)
    assert found.scores[0].answer == "" and not found.scores[0].score.hit
    assert found.scores[0].score.miss is Miss.FAILED
    assert miss_reason(found.scores[0].score).startswith(
        "failed: The backend refused the request (400)"
    )
    assert [s.score.hit for s in found.scores[1:]] == [False, False, True]  # the rest go on


def test_a_turn_of_several_screenshots_is_scored_on_its_last_by_the_page_and_by_eval(
    tagged_backend: str, recorder: Recorder, tmp_path: Path
) -> None:
    # The tap at [500,100] against a point marked at [900,100]: 0.4 of the screen's width
    # away. On the earlier screen (540x1200) that is 216 px, more than 5% of its diagonal
    # (66 px): a miss. On the screen now (100x1000) it is 40 px, within 5% (50 px): a hit.
    earlier, now = tmp_path / "earlier.png", tmp_path / "now.png"
    earlier.write_bytes(png((200, 60, 60)))
    now.write_bytes(png((60, 200, 60), (100, 1000)))
    asked = AnswerRequest("autoglm-phone-9b", None, PROMPT, ChatOptions(0.0, max_tokens=512))
    session = QaSession()
    recorder.record(session, [finished_turn("Open search", TAP, [str(earlier), str(now)])], asked)
    recorder.flush()
    target = Target("Tap", Region.point(900, 100))
    [turn] = recorder.store.session(session.id).turns
    recorder.store.set_target(turn.id, target)
    marked = recorder.store.session(session.id)
    media = MediaFolder(recorder.store, tmp_path / "m")
    assert not score_answer(TAP, target, (540, 1200)).hit  # on the earlier screen: a miss

    shown = score_recorded(marked.turns[0], media, DEFAULT_TOLERANCE)  # the mark panel's ✓
    found = run(BackendClient(tagged_backend), [marked], ["full"], recorder, tmp_path / "m")
    assert shown is not None and shown.hit
    assert [(s.answer, s.score.hit) for s in found.scores] == [(TAP, True)]
