"""Actions land on the right pixels of the screenshot, whatever its size."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from autoglm_demo.actions import Action, parse_actions
from autoglm_demo.ui.chat_tab import EXAMPLE_SCREENSHOT
from autoglm_demo.ui.overlay import MARK_COLOUR, draw_actions, save_overlay, to_pixels
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
