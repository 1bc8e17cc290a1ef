"""Phone-agent mode, the action badge and the sample_messages export, without a browser."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from autoglm_demo import phone_agent
from autoglm_demo.actions import check_answer
from autoglm_demo.conversation import Turn, TurnStatus, request_messages
from autoglm_demo.ui import handlers
from autoglm_demo.ui.chat_tab import EXAMPLE_SCREENSHOT
from autoglm_demo.ui.overlay import overlay_hook
from autoglm_demo.ui.view import render

SHOT = str(EXAMPLE_SCREENSHOT)


@pytest.mark.parametrize("language", phone_agent.PRESET_LANGUAGES)
def test_preset_states_the_grammar_asks_to_think_and_carries_the_date(language: str) -> None:
    prompt = phone_agent.preset_prompt(language, date(2026, 11, 30))
    assert ("2026-11-30, Monday" if language == "en" else "2026年11月30日，星期一") in prompt
    assert "<think>" in prompt and "<answer>" in prompt
    assert "1000" in prompt
    for call in (
        'do(action="Tap", element=[x,y])',
        'do(action="Swipe", start=[x1,y1], end=[x2,y2])',
        'do(action="Launch", app=',
        'do(action="Type", text=',
        'do(action="Back")',
        'do(action="Long Press", element=[x,y])',
        'do(action="Double Tap", element=[x,y])',
        'do(action="Home")',
        'do(action="Wait", duration=',
        'do(action="Take_over", message=',
        "finish(message=",
    ):
        assert call in prompt, call


def test_every_example_call_in_the_preset_passes_the_grammar() -> None:
    """The preset teaches only what the badge accepts (placeholders filled in)."""
    prompt = phone_agent.preset_prompt("en", date(2026, 1, 1))
    lines = [
        line
        for line in prompt.splitlines()
        if line.startswith("- do(") or line.startswith("- finish(")
    ]
    for line in lines:
        call = line[2:].split(")")[0] + ")"
        call = (
            call.replace("[x,y]", "[500,500]")
            .replace("[x1,y1]", "[1,2]")
            .replace("[x2,y2]", "[3,4]")
        )
        assert check_answer(call).kind == "valid", call


def agent_turns() -> list[Turn]:
    return [
        Turn(
            "打开设置",
            images=[SHOT],
            reasoning="桌面上有设置图标。",
            answer='do(action="Launch", app="设置")',
            status=TurnStatus.DONE,
            current_app="System Home",
        ),
        Turn("", images=[SHOT], current_app="设置"),
    ]


def test_agent_history_is_the_official_agents() -> None:
    system, first, reply, last = request_messages(agent_turns(), "PROMPT", agent=True)
    assert system == {"role": "system", "content": "PROMPT"}
    # The first question: task, then the screen info; its screenshot is no longer sent.
    assert first["content"] == [
        {"type": "text", "text": '打开设置\n\n{"current_app": "System Home"}'}
    ]
    assert reply == {
        "role": "assistant",
        "content": (
            '<think>桌面上有设置图标。</think><answer>do(action="Launch", app="设置")</answer>'
        ),
    }
    # The latest question: its screenshot, then the screen-info update.
    assert [part["type"] for part in last["content"]] == ["image_url", "text"]
    assert last["content"][1]["text"] == '** Screen Info **\n\n{"current_app": "设置"}'


def test_free_chat_keeps_every_image_and_drops_the_reasoning() -> None:
    first, reply, last = request_messages(agent_turns(), "", agent=False)
    assert [part["type"] for part in first["content"]] == ["image_url", "text"]
    assert first["content"][1]["text"] == "打开设置"
    assert reply["content"] == 'do(action="Launch", app="设置")'
    assert [part["type"] for part in last["content"]] == ["image_url"]


def test_screen_info_only_with_a_current_app() -> None:
    assert phone_agent.user_text("task", None, first=True) == "task"
    assert (
        phone_agent.user_text("next", "微信", first=False)
        == 'next\n\n** Screen Info **\n\n{"current_app": "微信"}'
    )


@pytest.mark.parametrize(
    ("answer", "kind", "reason"),
    [
        ('do(action="Tap", element=[500,230])', "valid", ""),
        ('do(action="Swipe", start=[500,800], end=[500,200])', "valid", ""),
        ('do(action="Type", text="say \\"hi\\" (twice)")', "valid", ""),
        ('finish(message="已完成")', "valid", ""),
        ("The screen shows the settings app.", "not_action", ""),
        ("I would undo that.", "not_action", ""),
        ('do(action="Tap", element=[500,1230])', "malformed", "element is outside 0-1000"),
        ('do(action="Tap")', "malformed", "Tap needs element"),
        ('do(action="Tap", element="centre")', "malformed", "element must be [x,y]"),
        ('do(action="Fly")', "malformed", "unknown action 'Fly'"),
        ('do(action="Tap", element=[1,2]', "malformed", "the call is not closed"),
        ('I tap do(action="Back")', "malformed", "text before the action"),
        ('do(action="Back") and then finish', "malformed", "text after the action"),
        ("finish()", "malformed", 'finish needs message="…"'),
    ],
)
def test_answers_are_checked_against_the_grammar(answer: str, kind: str, reason: str) -> None:
    verdict = check_answer(answer)
    assert (verdict.kind, verdict.reason) == (kind, reason)
    assert (verdict.action is not None) == (kind == "valid")


def test_badge_under_each_finished_answer() -> None:
    turns = [
        Turn("a", answer='do(action="Back")', status=TurnStatus.DONE),
        Turn("b", answer='do(action="Tap", element=[2000,1])', status=TurnStatus.DONE),
        Turn("c", answer="Hello.", status=TurnStatus.DONE),
        Turn("d", answer='do(action="Ba', status=TurnStatus.STREAMING),
    ]
    shown = json.dumps(render(turns, "en"), ensure_ascii=False)
    assert "valid action" in shown
    assert "malformed: element is outside 0-1000" in shown
    assert "not an action" in shown
    assert shown.count("<sub>") == 3  # none while the last answer still streams
    # On the Chinese page, how the answer breaks the grammar is said in Chinese too.
    chinese = json.dumps(render(turns[1:2], "zh"), ensure_ascii=False)
    assert "动作格式错误: element 超出 0-1000 的范围" in chinese and "outside" not in chinese


def test_malformed_action_is_not_drawn(tmp_path: Path) -> None:
    good = Turn("a", images=[SHOT], answer='do(action="Tap", element=[500,500])')
    bad = Turn("b", images=[SHOT], answer='do(action="Tap", element=[500,5000])')
    draw = overlay_hook(tmp_path)
    assert draw(good) is not None
    assert draw(bad) is None


def test_export_is_the_request_of_the_last_answered_turn(tmp_path: Path) -> None:
    turns = agent_turns()
    turns[1].answer, turns[1].status = 'do(action="Tap", element=[500,100])', TurnStatus.DONE
    turns.append(Turn("never answered", status=TurnStatus.FAILED))
    path = handlers.export_last_turn(turns, "PROMPT", True, tmp_path)
    assert path is not None and path.name == "sample_messages.json"
    messages = json.loads(path.read_text(encoding="utf-8"))
    assert messages == request_messages(turns[:2], "PROMPT", agent=True)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert handlers.export_last_turn([Turn("q")], "", False, tmp_path) is None


def test_which_models_count_as_reasoning() -> None:
    from autoglm_demo.client import BackendModel
    from autoglm_demo.ui.models import ServedModels

    served = ServedModels(
        (
            BackendModel(
                "ours-loaded", {"runtime": "llama.cpp", "capabilities": {"reasoning": False}}
            ),
            BackendModel(
                "ours-glm", {"runtime": "transformers", "capabilities": {"reasoning": True}}
            ),
            BackendModel("ours-unloaded", {"runtime": "transformers", "capabilities": None}),
            BackendModel("vllm", {"owned_by": "vllm", "root": "zai-org/AutoGLM-Phone-9B"}),
        )
    )
    assert not served.reasoning("ours-loaded")
    assert served.reasoning("ours-glm")
    assert not served.reasoning("ours-unloaded")  # not known yet: never cut
    assert served.reasoning("vllm")  # vLLM's cards have no flag; it serves AutoGLM here
