"""Render the example phone screenshot the page ships (an Android settings screen).

No real screenshot may be shipped, so the project draws its own: deterministic (fixed
layout, Pillow's bundled font), so re-rendering gives the same picture. Re-render with
`python -m tools.example_screenshot`.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from autoglm_demo.ui.chat_tab import EXAMPLE_SCREENSHOT

SIZE = (720, 1600)  # a common 9:20 phone aspect ratio at a size cheap to send

_BACKGROUND = (247, 248, 252)
_TEXT = (30, 32, 38)
_MUTED = (110, 114, 124)
_SEARCH = (232, 234, 242)

# (title, subtitle, icon colour): what a stock Android settings list shows.
_ENTRIES: tuple[tuple[str, str, tuple[int, int, int]], ...] = (
    ("Network & internet", "Wi-Fi, mobile, data usage", (26, 115, 232)),
    ("Connected devices", "Bluetooth, pairing", (0, 150, 136)),
    ("Apps", "Recent apps, default apps", (233, 30, 99)),
    ("Notifications", "Notification history, conversations", (255, 152, 0)),
    ("Battery", "82% - About 1 day left", (76, 175, 80)),
    ("Storage", "46% used - 69 GB free", (121, 85, 72)),
    ("Sound & vibration", "Volume, haptics, Do Not Disturb", (156, 39, 176)),
    ("Display", "Dark theme, font size, brightness", (63, 81, 181)),
    ("Wallpaper & style", "Colours, themed icons", (0, 188, 212)),
    ("Security & privacy", "Screen lock, Find My Device", (96, 125, 139)),
)


def render_settings_screen() -> Image.Image:
    image = Image.new("RGB", SIZE, _BACKGROUND)
    draw = ImageDraw.Draw(image)
    _status_bar(draw)
    _title_and_search(draw)
    top = 400
    for title, subtitle, colour in _ENTRIES:
        _entry(draw, top, title, subtitle, colour)
        top += 118
    _navigation_bar(draw)
    return image


def write_example_screenshot(path: Path = EXAMPLE_SCREENSHOT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    render_settings_screen().save(path, format="PNG", optimize=True)
    return path


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _status_bar(draw: ImageDraw.ImageDraw) -> None:
    draw.text((36, 22), "9:41", fill=_TEXT, font=_font(30))
    for step in range(4):  # signal bars, then the battery
        height = 8 + step * 6
        draw.rectangle((560 + step * 12, 50 - height, 568 + step * 12, 50), fill=_TEXT)
    draw.rounded_rectangle((624, 26, 680, 50), radius=5, outline=_TEXT, width=3)
    draw.rectangle((629, 31, 666, 45), fill=_TEXT)


def _title_and_search(draw: ImageDraw.ImageDraw) -> None:
    draw.text((40, 150), "Settings", fill=_TEXT, font=_font(64))
    draw.rounded_rectangle((32, 268, 688, 356), radius=44, fill=_SEARCH)
    draw.ellipse((66, 294, 98, 326), outline=_MUTED, width=4)  # magnifier
    draw.line((94, 322, 108, 336), fill=_MUTED, width=5)
    draw.text((130, 294), "Search settings", fill=_MUTED, font=_font(32))


def _entry(
    draw: ImageDraw.ImageDraw, top: int, title: str, subtitle: str, colour: tuple[int, int, int]
) -> None:
    draw.ellipse((44, top + 20, 108, top + 84), fill=colour)
    draw.ellipse((66, top + 42, 86, top + 62), fill=(255, 255, 255))
    draw.text((140, top + 18), title, fill=_TEXT, font=_font(34))
    draw.text((140, top + 62), subtitle, fill=_MUTED, font=_font(25))


def _navigation_bar(draw: ImageDraw.ImageDraw) -> None:
    draw.rounded_rectangle((260, 1560, 460, 1572), radius=6, fill=_TEXT)


if __name__ == "__main__":
    print(write_example_screenshot())
