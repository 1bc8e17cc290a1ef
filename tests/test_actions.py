"""The AutoGLM action parser: the shapes the model writes, garbage, and round trips."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from autoglm_demo.actions import Action, format_action, parse_actions


def test_parses_every_action_kind_in_order() -> None:
    answer = (
        'do(action="Tap", element=[500,120]) then '
        'do(action="Swipe", start=[500, 800], end=[500,200]) '
        'do(action="Long Press", element=[10,20]) do(action="Double Tap", element=[30,40]) '
        'do(action="Type", text="wifi") do(action="Launch", app="设置") do(action="Back") '
        'do(action="Home") do(action="Wait", duration="2 seconds") finish(message="Done (all)")'
    )
    actions = parse_actions(answer)
    assert [a.name for a in actions] == [
        "Tap",
        "Swipe",
        "Long Press",
        "Double Tap",
        "Type",
        "Launch",
        "Back",
        "Home",
        "Wait",
        "finish",
    ]
    assert actions[0].point == (500, 120)
    assert (actions[1].point, actions[1].end) == ((500, 800), (500, 200))
    assert actions[4].text == "wifi"
    assert actions[5].text == "设置"
    assert actions[8].extras == {"duration": "2 seconds"}
    assert actions[9].text == "Done (all)"  # a ")" inside quotes does not end the call


def test_quotes_escapes_and_spacing() -> None:
    [action] = parse_actions("do( action = 'Type' , text = \"say \\\"hi\\\"\" )")
    assert action == Action("Type", text='say "hi"')


def test_skips_calls_that_cannot_be_drawn_or_replayed() -> None:
    assert parse_actions('do(action="Tap")') == []  # a tap without a target
    assert parse_actions('do(action="Swipe", start=[1,2])') == []
    assert parse_actions('do(element=[1,2])') == []  # no action name
    assert parse_actions("I would tap the search box.") == []


@given(st.text())
def test_never_raises_on_arbitrary_text(answer: str) -> None:
    for action in parse_actions(answer):
        assert isinstance(action, Action)


_coordinate = st.integers(0, 1000).map(float)
_point = st.tuples(_coordinate, _coordinate)
_text = st.text(min_size=1, max_size=30)
_actions = st.one_of(
    st.builds(Action, st.sampled_from(["Tap", "Long Press", "Double Tap"]), point=_point),
    st.builds(Action, st.just("Swipe"), point=_point, end=_point),
    st.builds(Action, st.sampled_from(["Type", "Launch"]), text=_text),
    st.builds(Action, st.sampled_from(["Back", "Home"])),
    st.builds(Action, st.just("finish"), text=_text),
)


@given(st.lists(_actions, max_size=5), st.sampled_from(["\n", " ", "</answer> <answer>"]))
def test_round_trip_of_generated_actions(actions: list[Action], separator: str) -> None:
    answer = separator.join(format_action(action) for action in actions)
    assert parse_actions(answer) == actions
