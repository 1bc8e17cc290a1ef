"""Render the example phone screenshot the page ships (an Android settings screen).

No real screenshot may be shipped, so the project draws its own: deterministic (fixed
layout, Pillow's bundled font), so re-rendering gives the same picture. Re-render with
`python -m tools.example_screenshot`.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from autoglm_demo.ui.chat_tab import EXAMPLE_SCREENSHOT
from tools.phone_screens import BACKGROUND, FIELD, MUTED, SIZE, TEXT, navigation_bar, status_bar

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
    image = Image.new("RGB", SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image)
    status_bar(draw)
    _title_and_search(draw)
    top = 400
    for title, subtitle, colour in _ENTRIES:
        _entry(draw, top, title, subtitle, colour)
        top += 118
    navigation_bar(draw)
    return image


def write_example_screenshot(path: Path = EXAMPLE_SCREENSHOT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    render_settings_screen().save(path, format="PNG", optimize=True)
    return path


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _title_and_search(draw: ImageDraw.ImageDraw) -> None:
    draw.text((40, 150), "Settings", fill=TEXT, font=_font(64))
    draw.rounded_rectangle((32, 268, 688, 356), radius=44, fill=FIELD)
    draw.ellipse((66, 294, 98, 326), outline=MUTED, width=4)  # magnifier
    draw.line((94, 322, 108, 336), fill=MUTED, width=5)
    draw.text((130, 294), "Search settings", fill=MUTED, font=_font(32))


def _entry(
    draw: ImageDraw.ImageDraw, top: int, title: str, subtitle: str, colour: tuple[int, int, int]
) -> None:
    draw.ellipse((44, top + 20, 108, top + 84), fill=colour)
    draw.ellipse((66, top + 42, 86, top + 62), fill=(255, 255, 255))
    draw.text((140, top + 18), title, fill=TEXT, font=_font(34))
    draw.text((140, top + 62), subtitle, fill=MUTED, font=_font(25))


if __name__ == "__main__":
    print(write_example_screenshot())
