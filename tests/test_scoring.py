"""Scoring answers against marked targets, and the accuracy interval."""

from __future__ import annotations

import pytest

from autoglm_demo.qa.eval_report import miss_reason
from autoglm_demo.scoring import Miss, Region, Tally, Target, score_answer
from autoglm_demo.ui.qa_view import score_text

TAP_BOX = Target("Tap", start=Region.box((400, 100), (200, 50)))  # dragged either way


@pytest.mark.parametrize(
    ("answer", "miss", "facts", "reason", "chinese"),
    [
        ('do(action="Tap", element=[300,75])', None, {}, "", "✓ 正确"),
        ('do(action="Tap", element=[200,50])', None, {}, "", "✓ 正确"),  # on the edge
        (
            'do(action="Tap", element=[401,75])',
            Miss.START_OFF,
            {},
            "start point off target",
            "✗ 错误: 点击位置或滑动起点不在目标上",
        ),
        (
            'do(action="Long Press", element=[300,75])',
            Miss.WRONG_ACTION,
            {"got": "Long Press", "expected": "Tap"},
            "Long Press instead of Tap",
            "✗ 错误: Long Press，而不是 Tap",
        ),
        ("The button is at the top.", Miss.NO_ACTION, {}, "no action", "✗ 错误: 回答中没有动作"),
        (
            'Sure. do(action="Tap", element=[300,75])',
            Miss.MALFORMED,
            {},
            "text before the action",
            "✗ 错误: 动作格式错误：动作前有多余的文字",
        ),
        (
            'do(action="Tap", element=[300,1075])',
            Miss.MALFORMED,
            {"argument": "element"},
            "element is outside 0-1000",
            "✗ 错误: 动作格式错误：element 超出 0-1000 的范围",
        ),
    ],
)
def test_a_tap_hits_inside_the_box_only(
    answer: str, miss: Miss | None, facts: dict[str, str], reason: str, chinese: str
) -> None:
    score = score_answer(answer, TAP_BOX)
    assert (score.hit, score.miss, dict(score.facts)) == (miss is None, miss, facts)
    assert miss_reason(score) == reason  # as eval.json and eval.md say it
    assert score_text(score, "zh") == chinese  # as the Chinese page says it


def test_a_point_target_allows_a_share_of_the_screen_diagonal() -> None:
    target = Target("Tap", start=Region.point(500, 500))
    phone = (1080, 2400)  # diagonal 2632 px: 5% is 131.6 px
    # 60/1000 of the width is 64.8 px: on target; 60/1000 of the height is 144 px: off.
    assert score_answer('do(action="Tap", element=[560,500])', target, phone).hit
    assert not score_answer('do(action="Tap", element=[500,560])', target, phone).hit
    assert score_answer('do(action="Tap", element=[500,560])', target, phone, 0.06).hit


def test_a_swipe_must_start_and_end_on_target() -> None:
    target = Target("Swipe", start=Region.point(500, 800), end=Region.box((400, 100), (600, 300)))
    assert score_answer('do(action="Swipe", start=[510,790], end=[500,200])', target).hit
    missed = score_answer('do(action="Swipe", start=[510,790], end=[500,700])', target)
    assert (missed.hit, missed.miss) == (False, Miss.END_OFF)
    lifted = score_answer('do(action="Tap", element=[510,790])', target)
    assert lifted.miss is Miss.WRONG_ACTION


def test_type_and_launch_compare_their_text_but_not_finish() -> None:
    typed = Target("Type", text="Hello  World")
    assert score_answer('do(action="Type", text="hello world")', typed).hit
    wrong = score_answer('do(action="Type", text="hello")', typed)
    assert (wrong.miss, dict(wrong.facts)) == (
        Miss.WRONG_TEXT,
        {"got": "hello", "expected": "Hello  World"},
    )
    assert miss_reason(wrong) == "text 'hello' instead of 'Hello  World'"
    launch = Target("Launch", text="微信")
    assert score_answer('do(action="Launch", app="微信")', launch).hit
    assert not score_answer('do(action="Launch", app="淘宝")', launch).hit
    done = Target("finish", text="Done")
    assert score_answer('finish(message="All set")', done).hit


def test_wilson_interval() -> None:
    assert Tally(0, 0).interval() is None and Tally(0, 0).share is None
    low, high = Tally(8, 10).interval()
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert Tally(0, 5).interval()[0] == pytest.approx(0.0, abs=1e-12)
    assert Tally(5, 5).interval()[1] == pytest.approx(1.0)
