"""OCR that can point: each line of text with its place, in 0-1000 coordinates of the
original image, read by the real rapidocr from pictures with text drawn at known places."""

from __future__ import annotations

import pytest
from PIL import Image

from autoglm_demo.engine.ocr import ImageReader, TextLine, ocr_ready, reading_order
from autoglm_demo.engine.types import ChatMessage
from tools.phone_screens import Screen

# How far a found box's edge may sit from the drawn ink, as a share of the text's height:
# rapidocr widens each box it detects by a margin that grows with the text.
TOLERANCE = 0.3


@pytest.fixture(scope="module")
def reader() -> ImageReader:
    return ImageReader()


def draw(size: tuple[int, int], texts: dict[str, tuple[tuple[int, int], int]]) -> Screen:
    """A white picture of `size` with each text drawn at its (x, y) in its font size."""
    screen = Screen(Image.new("RGB", size, "white"))
    for text, (xy, font_size) in texts.items():
        screen.text(xy, text, font_size, name=text)
    return screen


def slack(screen: Screen, name: str) -> tuple[float, float, float, float]:
    """How far each edge of `name`'s box may be off, in 0-1000 units of its axis."""
    width, height = screen.image.size
    _left, top, _right, bottom = screen.elements[name]
    margin = TOLERANCE * (bottom - top)
    x, y = margin * 1000 / width + 1, margin * 1000 / height + 1  # + 1: rounding
    return x, y, x, y


def assert_found_where_drawn(reader: ImageReader, screen: Screen) -> list[TextLine]:
    lines = reader.read_lines(screen.image)
    found = {line.text.replace(" ", ""): line for line in lines}
    for name in screen.elements:
        line = found.get(name.replace(" ", ""))
        assert line, f"{name!r} not read; OCR found {[line.text for line in lines]}"
        drawn = screen.box(name)
        assert all(
            abs(a - b) <= limit
            for a, b, limit in zip(line.box, drawn, slack(screen, name), strict=True)
        ), f"{name!r}: found at {line.box}, drawn at {drawn}"
        x, y = line.centre  # what a model copies into a tap lands on the text
        assert drawn[0] <= x <= drawn[2] and drawn[1] <= y <= drawn[3]
    return lines


def test_boxes_on_a_phone_screen_land_where_the_text_was_drawn(reader: ImageReader) -> None:
    screen = draw(
        (720, 1600),
        {
            "Settings": ((40, 100), 44),
            "蓝牙": ((520, 110), 36),
            "Battery saver": ((60, 700), 34),
            "搜索设置": ((300, 1400), 36),
        },
    )
    lines = assert_found_where_drawn(reader, screen)
    assert [line.text.replace(" ", "") for line in lines] == [
        "Settings",
        "蓝牙",
        "Batterysaver",
        "搜索设置",
    ]


def test_boxes_map_back_through_scaling_and_padding(reader: ImageReader) -> None:
    # 3000x600: scaled to 2000x400 and padded to 2000x500 before OCR (see ocr_ready).
    screen = draw(
        (3000, 600),
        {"Wi-Fi": ((150, 90), 90), "Airplane mode": ((1300, 300), 90), "热点": ((2600, 420), 90)},
    )
    ready = ocr_ready(screen.image)
    assert ready.image.size == (2000, 500) and ready.content == (2000, 400)
    assert_found_where_drawn(reader, screen)


def test_boxes_map_back_on_a_tall_strip_padded_sideways(reader: ImageReader) -> None:
    # 360x1700: within the size limit, but narrower than a quarter, so padded to 425 wide.
    screen = draw((360, 1700), {"Messages": ((30, 80), 44), "发送": ((200, 1500), 44)})
    ready = ocr_ready(screen.image)
    assert ready.image.size == (425, 1700) and ready.content == (360, 1700)
    assert_found_where_drawn(reader, screen)


def test_lines_are_handed_over_as_tap_points_under_a_labelled_format(
    reader: ImageReader,
) -> None:
    screen = draw((720, 1600), {"Bluetooth": ((40, 300), 40)})
    (message,) = reader.inline_images([ChatMessage("user", "Turn on Bluetooth", [screen.image])])
    header, legend, line, end, _blank, question = message.text.split("\n")
    assert header == "[Image 1, OCR text]" and end == "[End of image 1]"
    assert "[x,y]" in legend
    x, y = reader.read_lines(screen.image)[0].centre
    assert line == f"[{x},{y}] Bluetooth"
    assert question == "Turn on Bluetooth"


def test_a_picture_without_text_says_so(reader: ImageReader) -> None:
    (message,) = reader.inline_images([ChatMessage("user", "?", [Image.new("RGB", (64, 64))])])
    assert message.text == "[Image 1: OCR found no text]\n\n?"


def line(text: str, box: tuple[int, int, int, int]) -> TextLine:
    return TextLine(text, box)


def test_reading_order_is_rows_top_down_then_left_to_right() -> None:
    # A row whose label sits a little lower than its value still reads label first.
    lines = [
        line("value", (700, 98, 900, 120)),
        line("below", (50, 200, 300, 230)),
        line("label", (50, 102, 300, 124)),
        line("title", (50, 10, 400, 60)),
    ]
    assert [line.text for line in reading_order(lines)] == ["title", "label", "value", "below"]
