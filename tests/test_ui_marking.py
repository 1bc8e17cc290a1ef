"""Clicks on a screenshot become the target a tester marks, in AutoGLM's 0-1000 space."""

from __future__ import annotations

import pytest

from autoglm_demo.scoring import Region, Target, score_answer
from autoglm_demo.ui.marking import Draft, Shape, draft_of, missing, to_relative
from autoglm_demo.ui.overlay import to_pixels


@pytest.mark.parametrize(
    ("pixel", "size", "point"),
    [
        ((0, 0), (720, 1600), (0, 0)),
        ((719, 1599), (720, 1600), (1000, 1000)),
        ((360, 400), (721, 1601), (500, 250)),
        ((-5, 2000), (720, 1600), (0, 1000)),  # clamped onto the screen
    ],
)
def test_a_clicked_pixel_becomes_relative_coordinates(pixel, size, point) -> None:
    assert to_relative(pixel, size) == point


def test_a_marked_point_is_drawn_where_it_was_clicked() -> None:
    # Whole 0-1000 units, as the model writes them: a unit is 1.6 pixels on this screen.
    for pixel in ((37, 911), (500, 20), (719, 0)):
        drawn = to_pixels(to_relative(pixel, (720, 1600)), (720, 1600))
        assert abs(drawn[0] - pixel[0]) <= 1 and abs(drawn[1] - pixel[1]) <= 1, pixel


def test_two_clicks_make_a_box_whichever_corners_they_are() -> None:
    draft = Draft("Tap", Shape.BOX).click((600, 300))
    assert draft.target(None) is None and missing(draft, None) == ["mark_need_corner_2"]
    draft = draft.click((200, 100))
    assert draft.complete and missing(draft, None) == []
    assert draft.target(None) == Target("Tap", Region(200, 100, 600, 300))
    # A third click starts a new box.
    assert draft.click((10, 10)).clicks == ((10, 10),)


def test_a_swipe_needs_its_start_then_its_end() -> None:
    draft = Draft("Swipe", Shape.POINT)
    assert missing(draft, None) == ["mark_swipe_start", "mark_need_point"]
    draft = draft.click((500, 800))
    assert missing(draft, None) == ["mark_swipe_end", "mark_need_point"]
    target = draft.click((500, 200)).target(None)
    assert target == Target("Swipe", Region.point(500, 800), Region.point(500, 200))
    answer = 'do(action="Swipe", start=[505,790], end=[498,210])'
    assert score_answer(answer, target, (1080, 2400)).hit


def test_actions_without_a_place_take_no_clicks_and_type_needs_its_text() -> None:
    back = Draft("Back")
    assert back.needed == 0 and back.click((1, 2)) == back
    assert back.target(None) == Target("Back")
    typing = Draft("Type")
    assert typing.target("  ") is None and missing(typing, "") == ["mark_need_text"]
    assert typing.target(" wifi ") == Target("Type", text="wifi")


def test_a_stored_mark_comes_back_as_the_draft_that_makes_it() -> None:
    for target in (
        Target("Tap", Region(200, 100, 600, 300)),
        Target("Long Press", Region.point(40, 50)),
        Target("Swipe", Region(1, 2, 3, 4), Region(5, 6, 7, 8)),
        Target("Launch", text="Settings"),
    ):
        assert draft_of(target).target(target.text) == target
    assert draft_of(None) == Draft()
