"""Actions land on the right pixels of the screenshot, whatever its size."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from autoglm_demo.actions import Action, parse_actions
from autoglm_demo.scoring import Region, Target
from autoglm_demo.ui.chat_tab import EXAMPLE_SCREENSHOT
from autoglm_demo.ui.overlay import (
    MARK_COLOUR,
    TARGET_COLOUR,
    draw_actions,
    save_overlay,
    to_pixels,
)
from tools.example_screenshot import render_settings_screen


@pytest.mark.parametrize(
    ("point", "size", "pixel"),
    [
        ((0, 0), (720, 1600), (0, 0)),
        ((1000, 1000), (720, 1600), (719, 1599)),
        ((500, 250), (1081, 2401), (540, 600)),
    ],
)
def test_relative_coordinates_map_to_pixels(point, size, pixel) -> None:
    assert to_pixels(point, size) == pixel


def test_tap_is_drawn_at_its_relative_position() -> None:
    blank = Image.new("RGB", (400, 800), (255, 255, 255))
    drawn = draw_actions(blank, parse_actions('do(action="Tap", element=[250,750])'))
    assert drawn.getpixel((100, 600)) == MARK_COLOUR  # 250/1000*399, 750/1000*799: the dot's centre
    assert drawn.getpixel((300, 200)) == (255, 255, 255)  # far from the mark, untouched
    assert blank.getpixel((100, 600)) == (255, 255, 255)  # the input is not modified


def test_swipe_arrow_runs_between_its_points() -> None:
    blank = Image.new("RGB", (500, 1000), (255, 255, 255))
    drawn = draw_actions(blank, [Action("Swipe", point=(500, 800), end=(500, 200))])
    for y in (300, 500, 700):  # along the shaft
        assert drawn.getpixel((250, y)) == MARK_COLOUR
    assert drawn.getpixel((100, 500)) == (255, 255, 255)


def test_actions_without_a_place_get_a_label() -> None:
    blank = Image.new("RGB", (400, 800), (255, 255, 255))
    drawn = draw_actions(blank, [Action("Back")])
    assert drawn.getbbox() is not None
    assert drawn.crop((0, 0, 200, 60)).getcolors(10_000) != [(200 * 60, (255, 255, 255))]


def test_save_overlay_on_the_shipped_screenshot(tmp_path: Path) -> None:
    target = save_overlay(
        EXAMPLE_SCREENSHOT, parse_actions('do(action="Tap", element=[500,195])'), tmp_path / "o.png"
    )
    with Image.open(target) as image:
        assert image.size == (720, 1600)
        assert image.getpixel(to_pixels((500, 195), image.size)) == MARK_COLOUR


def test_shipped_screenshot_is_the_generators_output() -> None:
    with Image.open(EXAMPLE_SCREENSHOT) as shipped:
        assert shipped.convert("RGB").tobytes() == render_settings_screen().tobytes()


# The marked target: drawn in its own colour, beside the model's action.

BLANK = (255, 255, 255)


def test_a_marked_box_is_drawn_as_its_outline_in_the_target_colour() -> None:
    blank = Image.new("RGB", (401, 801), BLANK)
    target = Target("Tap", Region.box((100, 100), (500, 300)))
    drawn = draw_actions(blank, [], target)
    left, top = to_pixels((100, 100), drawn.size)  # (40, 80)
    right, bottom = to_pixels((500, 300), drawn.size)  # (200, 240)
    for edge in ((left, 160), (right, 160), (120, top), (120, bottom)):
        assert drawn.getpixel(edge) == TARGET_COLOUR, edge
    assert drawn.getpixel((120, 160)) == BLANK  # the box is an outline: its inside shows


def test_the_target_and_the_action_are_told_apart() -> None:
    blank = Image.new("RGB", (401, 801), BLANK)
    action = parse_actions('do(action="Tap", element=[750,750])')
    drawn = draw_actions(blank, action, Target("Tap", Region.point(250, 250)))
    assert drawn.getpixel(to_pixels((750, 750), drawn.size)) == MARK_COLOUR  # the model's dot
    # The marked point: a cross-hair in a square, in the other colour.
    assert drawn.getpixel(to_pixels((250, 250), drawn.size)) == TARGET_COLOUR
    assert TARGET_COLOUR != MARK_COLOUR


def test_a_swipe_target_marks_its_start_and_end_joined_by_dashes() -> None:
    blank = Image.new("RGB", (501, 1001), BLANK)
    target = Target("Swipe", Region.point(500, 800), Region.point(500, 200))
    drawn = draw_actions(blank, [], target)
    column = [drawn.getpixel((250, y)) for y in range(260, 740)]
    for end in ((250, 800), (250, 200)):
        assert drawn.getpixel(end) == TARGET_COLOUR
    # Dashed: the line between them is partly drawn and partly not.
    assert TARGET_COLOUR in column and BLANK in column


def test_a_target_without_a_place_gets_a_label_in_the_target_colour() -> None:
    blank = Image.new("RGB", (400, 800), BLANK)
    drawn = draw_actions(blank, [], Target("Type", text="wifi"))
    corner = drawn.crop((0, 0, 200, 60)).getcolors(10_000)
    assert any(colour == TARGET_COLOUR for _, colour in corner)
