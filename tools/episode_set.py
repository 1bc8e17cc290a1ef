"""The project's own episode set: drawn phone screens with known right actions.

Multi-step tasks on a phone (turn on Bluetooth, send a message, search the web, allow a
permission, scroll to a setting, go back, go home), each in English and in Chinese. Every
step is a screenshot drawn with Pillow (phone_screens.py) and its gold `Target`, taken from
where the renderer drew the element: a Tap target is the whole tappable element (a list
row, a field, a button), so any point a person would tap on it is a hit.

The set is written as one QA export zip per episode, the format `eval --import` and the QA
tab read. The output is the same bytes on every run: the ids derive from the episode, the
timestamps and the system prompt's date are fixed, and so are the zip entries' dates.

    python -m tools.episode_set FOLDER [--qa-db sqlite:///qa.db]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image

from autoglm_demo.phone_agent import preset_prompt
from autoglm_demo.qa.episodes import build_episode
from autoglm_demo.qa.export import write_zip
from autoglm_demo.qa.records import Blob, SessionRecord
from autoglm_demo.qa.store import QaStore, SessionExists
from autoglm_demo.scoring import Region, Target
from tools.phone_screens import Screen

LANGUAGES = ("en", "zh")
CREATED = datetime(2026, 1, 5, 9, 41, tzinfo=timezone.utc)  # every episode's fixed timestamp
_IDS = uuid.UUID("6f1d4bb0-53a4-4c1e-9a7c-3f3e1c0e5a10")  # namespace of the episodes' ids

# Every word drawn or asked, per language. The app names are what Launch must name.
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "settings": "Settings",
        "messages": "Messages",
        "browser": "Browser",
        "maps": "Maps",
        "camera": "Camera",
        "clock": "Clock",
        "calendar": "Calendar",
        "contacts": "Contacts",
        "search_settings": "Search settings",
        "network": "Network & internet",
        "network_sub": "Wi-Fi, mobile, data usage",
        "connected": "Connected devices",
        "connected_sub": "Bluetooth, pairing",
        "apps": "Apps",
        "apps_sub": "Recent apps, default apps",
        "notifications": "Notifications",
        "notifications_sub": "Notification history",
        "battery": "Battery",
        "battery_sub": "82% - About 1 day left",
        "storage": "Storage",
        "storage_sub": "46% used - 69 GB free",
        "sound": "Sound & vibration",
        "sound_sub": "Volume, haptics",
        "display": "Display",
        "display_sub": "Dark theme, font size",
        "wallpaper": "Wallpaper & style",
        "wallpaper_sub": "Colours, themed icons",
        "security": "Security & privacy",
        "security_sub": "Screen lock, Find My Device",
        "accounts": "Passwords & accounts",
        "accounts_sub": "Saved passwords, autofill",
        "system": "System",
        "system_sub": "Languages, time, backup",
        "about": "About phone",
        "about_sub": "Pixel 8",
        "model": "Model",
        "android": "Android version",
        "bluetooth": "Bluetooth",
        "bluetooth_off": "Off",
        "bluetooth_on": "On - visible as Pixel 8",
        "pair": "Pair new device",
        "preferences": "Connection preferences",
        "dark": "Dark theme",
        "font_size": "Font size",
        "brightness": "Brightness level",
        "search_messages": "Search messages",
        "alice": "Alice",
        "alice_last": "See you at 7?",
        "bob": "Bob",
        "bob_last": "Thanks!",
        "mum": "Mum",
        "mum_last": "Call me later",
        "carol": "Carol",
        "carol_last": "Photo",
        "text_message": "Text message",
        "send": "Send",
        "on_my_way": "On my way",
        "search_web": "Search or type URL",
        "query": "weather Beijing",
        "result_1": "Beijing weather forecast",
        "result_1_sub": "weather.example.com",
        "result_2": "Beijing - Wikipedia",
        "result_2_sub": "en.wikipedia.org",
        "result_3": "Air quality in Beijing",
        "result_3_sub": "aqi.example.org",
        "forecast": "Sunny, 12°C",
        "location_title": "Allow Maps to access",
        "location_text": "this device's location?",
        "allow": "Allow",
        "deny": "Don't allow",
        "explore": "Explore nearby",
        "task_bluetooth": "Turn on Bluetooth.",
        "task_message": 'Send "On my way" to Alice.',
        "task_search": "Search the web for the weather in Beijing and open the forecast.",
        "task_location": "Open Maps and allow it to use the location.",
        "task_about": "Open About phone in Settings.",
        "task_back": "Go back to the list of settings.",
        "task_home": "Go to the home screen.",
    },
    "zh": {
        "settings": "设置",
        "messages": "信息",
        "browser": "浏览器",
        "maps": "地图",
        "camera": "相机",
        "clock": "时钟",
        "calendar": "日历",
        "contacts": "联系人",
        "search_settings": "搜索设置项",
        "network": "网络和互联网",
        "network_sub": "WLAN、移动网络、流量",
        "connected": "已连接的设备",
        "connected_sub": "蓝牙、配对",
        "apps": "应用",
        "apps_sub": "最近使用的应用、默认应用",
        "notifications": "通知",
        "notifications_sub": "通知历史记录",
        "battery": "电池",
        "battery_sub": "82% - 大约还能用1天",
        "storage": "存储",
        "storage_sub": "已使用46% - 剩余69 GB",
        "sound": "声音和振动",
        "sound_sub": "音量、触感反馈",
        "display": "显示",
        "display_sub": "深色主题、字号",
        "wallpaper": "壁纸和个性化",
        "wallpaper_sub": "颜色、主题图标",
        "security": "安全和隐私",
        "security_sub": "屏幕锁定、查找我的设备",
        "accounts": "密码和帐号",
        "accounts_sub": "已保存的密码、自动填充",
        "system": "系统",
        "system_sub": "语言、时间、备份",
        "about": "关于手机",
        "about_sub": "Pixel 8",
        "model": "型号",
        "android": "Android 版本",
        "bluetooth": "蓝牙",
        "bluetooth_off": "已关闭",
        "bluetooth_on": "已开启 - 显示为 Pixel 8",
        "pair": "与新设备配对",
        "preferences": "连接偏好设置",
        "dark": "深色主题",
        "font_size": "字号",
        "brightness": "亮度",
        "search_messages": "搜索信息",
        "alice": "王芳",
        "alice_last": "七点见？",
        "bob": "李强",
        "bob_last": "谢谢！",
        "mum": "妈妈",
        "mum_last": "晚点给我打电话",
        "carol": "张伟",
        "carol_last": "图片",
        "text_message": "输入信息",
        "send": "发送",
        "on_my_way": "我在路上了",
        "search_web": "搜索或输入网址",
        "query": "北京天气",
        "result_1": "北京天气预报",
        "result_1_sub": "weather.example.com",
        "result_2": "北京 - 维基百科",
        "result_2_sub": "zh.wikipedia.org",
        "result_3": "北京空气质量",
        "result_3_sub": "aqi.example.org",
        "forecast": "晴，12°C",
        "location_title": "要允许“地图”获取",
        "location_text": "此设备的位置信息吗？",
        "allow": "允许",
        "deny": "拒绝",
        "explore": "探索周边",
        "task_bluetooth": "打开蓝牙。",
        "task_message": "给王芳发一条信息：我在路上了",
        "task_search": "在浏览器里搜索北京天气，并打开天气预报。",
        "task_location": "打开地图，并允许它使用位置信息。",
        "task_about": "在设置里打开“关于手机”。",
        "task_back": "返回设置列表。",
        "task_home": "回到桌面。",
    },
}


@dataclass(frozen=True)
class Step:
    """One screenshot and its right action. `label` is the text drawn on the element a
    point target covers (None for actions without a point)."""

    screen: Screen
    target: Target
    label: str | None = None


@dataclass(frozen=True)
class Episode:
    key: str  # short and unique in the set: "en-bluetooth"
    language: str
    task: str
    steps: tuple[Step, ...]


# The right actions.


def tap(screen: Screen, name: str, label: str) -> Step:
    """Tap anywhere on the element drawn under `name`, whose text is `label`."""
    return Step(screen, Target("Tap", start=Region(*screen.box(name))), label)


def act(screen: Screen, action: str, text: str | None = None) -> Step:
    """An action without a point: Launch, Type, Back, Home or finish."""
    return Step(screen, Target(action, text=text))


def swipe_up(screen: Screen) -> Step:
    """Scroll a list down: start in its lower part, end in its upper part."""
    lower, upper = Region(150, 560, 850, 900), Region(150, 120, 850, 480)
    return Step(screen, Target("Swipe", start=lower, end=upper))


# The screens.

_APPS = (
    ("settings", (96, 125, 139)),
    ("messages", (26, 115, 232)),
    ("browser", (255, 152, 0)),
    ("maps", (76, 175, 80)),
    ("camera", (63, 81, 181)),
    ("clock", (121, 85, 72)),
    ("calendar", (233, 30, 99)),
    ("contacts", (0, 150, 136)),
)

# The settings list: (title, subtitle, icon colour) keys into WORDS, top to bottom.
_SETTINGS = (
    ("network", (26, 115, 232)),
    ("connected", (0, 150, 136)),
    ("apps", (233, 30, 99)),
    ("notifications", (255, 152, 0)),
    ("battery", (76, 175, 80)),
    ("storage", (121, 85, 72)),
    ("sound", (156, 39, 176)),
    ("display", (63, 81, 181)),
    ("wallpaper", (0, 188, 212)),
    ("security", (96, 125, 139)),
    ("accounts", (205, 220, 57)),
    ("system", (158, 158, 158)),
    ("about", (26, 115, 232)),
)
_SHOWN_SETTINGS = 10  # rows that fit under the title and search field


def launcher(words: dict[str, str]) -> Screen:
    screen = Screen.phone()
    screen.text((240, 200), "9:41", 110)
    for number, (key, colour) in enumerate(_APPS):
        row, column = divmod(number, 4)
        screen.app_icon(40 + column * 172, 520 + row * 260, words[key], colour, name=key)
    screen.field((40, 1380, 680, 1470), words["search_web"], name="search")
    return screen


def settings_list(words: dict[str, str], scrolled: bool = False) -> Screen:
    """The settings list, from its top, or scrolled to its end."""
    screen = Screen.phone()
    entries = _SETTINGS[-_SHOWN_SETTINGS:] if scrolled else _SETTINGS[:_SHOWN_SETTINGS]
    top = 120
    if not scrolled:
        screen.heading(words["settings"])
        screen.field((32, 230, 688, 318), words["search_settings"], name="search")
        top = 360
    for key, colour in entries:
        screen.row(top, words[key], words[f"{key}_sub"], colour, name=key)
        top += 118
    return screen


def page(
    words: dict[str, str], title: str, rows: tuple[tuple[str, str, bool | None], ...]
) -> Screen:
    """An inner settings page: a back arrow, its title, and rows of (title, subtitle, switch)."""
    screen = Screen.phone()
    screen.heading(words[title], back=True)
    top = 240
    for key, subtitle, toggle in rows:
        screen.row(top, words[key], subtitle, toggle=toggle, name=key)
        top += 118
    return screen


def connected_devices(words: dict[str, str], bluetooth: bool) -> Screen:
    state = words["bluetooth_on" if bluetooth else "bluetooth_off"]
    return page(
        words,
        "connected",
        (("bluetooth", state, bluetooth), ("pair", "", None), ("preferences", "", None)),
    )


def display_page(words: dict[str, str]) -> Screen:
    return page(
        words,
        "display",
        (("dark", "", False), ("font_size", "", None), ("brightness", "80%", None)),
    )


def about_page(words: dict[str, str]) -> Screen:
    return page(words, "about", (("model", "Pixel 8", None), ("android", "15", None)))


def conversations(words: dict[str, str]) -> Screen:
    screen = Screen.phone()
    screen.heading(words["messages"])
    screen.field((32, 230, 688, 318), words["search_messages"], name="search")
    top = 360
    for key, colour in (
        ("alice", (233, 30, 99)),
        ("bob", (0, 150, 136)),
        ("mum", (255, 152, 0)),
        ("carol", (63, 81, 181)),
    ):
        screen.row(top, words[key], words[f"{key}_last"], colour, name=key)
        top += 118
    return screen


def chat(
    words: dict[str, str], typed: str = "", focused: bool = False, sent: bool = False
) -> Screen:
    """The conversation with Alice: her last message, the input field and the send button."""
    screen = Screen.phone()
    screen.heading(words["alice"], back=True)
    screen.bubble(300, words["alice_last"], mine=False)
    if sent:
        screen.bubble(400, words["on_my_way"], mine=True)
    bottom = 1060 if focused else 1540
    screen.field(
        (24, bottom - 100, 540, bottom - 10), words["text_message"], typed, focused, name="input"
    )
    screen.button((560, bottom - 100, 696, bottom - 10), words["send"], name="send")
    if focused:
        screen.keyboard()
    return screen


def browser(words: dict[str, str], typed: str = "", focused: bool = False) -> Screen:
    screen = Screen.phone()
    screen.text((200, 360), words["browser"], 72)
    screen.field((40, 520, 680, 620), words["search_web"], typed, focused, name="search")
    if focused:
        screen.keyboard()
    return screen


def results(words: dict[str, str]) -> Screen:
    screen = Screen.phone()
    screen.field((24, 110, 696, 200), words["search_web"], words["query"], name="search")
    top = 260
    for number in (1, 2, 3):
        box = (24, top, 696, top + 150)
        screen.draw.rounded_rectangle(box, radius=24, fill=(255, 255, 255))
        screen.text((56, top + 28), words[f"result_{number}"], 34, name=f"result_{number}.label")
        screen.text((56, top + 84), words[f"result_{number}_sub"], 24, (32, 120, 60))
        screen.mark(f"result_{number}", box)
        top += 180
    return screen


def forecast(words: dict[str, str]) -> Screen:
    screen = Screen.phone()
    screen.field((24, 110, 696, 200), words["search_web"], words["result_1_sub"], name="address")
    screen.text((56, 300), words["result_1"], 44)
    screen.text((56, 420), words["forecast"], 64)
    return screen


def maps(words: dict[str, str], asking: bool) -> Screen:
    """The map with its search field, under the location question while `asking`."""
    screen = Screen.phone()
    for step in range(0, 720, 90):  # streets
        screen.draw.line((step, 300, step + 300, 1500), fill=(214, 222, 214), width=14)
    screen.field((32, 110, 688, 200), words["explore"], name="search")
    if asking:
        screen.dialog(words["location_title"], words["location_text"])
        screen.button((110, 820, 610, 900), words["allow"], name="allow")
        screen.button((110, 930, 610, 1010), words["deny"], filled=False, name="deny")
    return screen


# The episodes.


def episodes(language: str) -> list[Episode]:
    """The set's episodes in `language`, each its own task."""
    words = WORDS[language]
    w = words.__getitem__
    tasks: dict[str, list[Step]] = {
        "bluetooth": [
            act(launcher(words), "Launch", w("settings")),
            tap(settings_list(words), "connected", w("connected")),
            tap(connected_devices(words, bluetooth=False), "bluetooth", w("bluetooth")),
            act(connected_devices(words, bluetooth=True), "finish"),
        ],
        "message": [
            act(launcher(words), "Launch", w("messages")),
            tap(conversations(words), "alice", w("alice")),
            tap(chat(words), "input", w("text_message")),
            act(chat(words, focused=True), "Type", w("on_my_way")),
            tap(chat(words, w("on_my_way"), focused=True), "send", w("send")),
            act(chat(words, sent=True), "finish"),
        ],
        "search": [
            act(launcher(words), "Launch", w("browser")),
            tap(browser(words), "search", w("search_web")),
            act(browser(words, focused=True), "Type", w("query")),
            tap(results(words), "result_1", w("result_1")),
            act(forecast(words), "finish"),
        ],
        "location": [
            act(launcher(words), "Launch", w("maps")),
            tap(maps(words, asking=True), "allow", w("allow")),
            act(maps(words, asking=False), "finish"),
        ],
        "about": [
            swipe_up(settings_list(words)),
            tap(settings_list(words, scrolled=True), "about", w("about")),
            act(about_page(words), "finish"),
        ],
        "back": [
            act(display_page(words), "Back"),
            act(settings_list(words), "finish"),
        ],
        "home": [
            act(chat(words, sent=True), "Home"),
            act(launcher(words), "finish"),
        ],
    }
    return [
        Episode(f"{language}-{key}", language, w(f"task_{key}"), tuple(steps))
        for key, steps in tasks.items()
    ]


def episode_set() -> list[Episode]:
    return [episode for language in LANGUAGES for episode in episodes(language)]


# Writing.


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def episode_id(key: str) -> str:
    """The session id an episode is written under: the same on every run."""
    return str(uuid.uuid5(_IDS, key))


def session_of(episode: Episode, max_tokens: int | None = None) -> tuple[SessionRecord, list[Blob]]:
    """The episode as a QA session (and its screenshots), with ids and dates fixed; with
    `max_tokens`, each step is asked for at most that many tokens instead of the default."""
    screenshots = [
        (f"{episode.key}-{number}.png", png(step.screen.image))
        for number, step in enumerate(episode.steps, start=1)
    ]
    prompt = preset_prompt(episode.language, CREATED.date())
    session, blobs = build_episode(
        episode.task, screenshots, [step.target for step in episode.steps], prompt
    )
    session_id = episode_id(episode.key)
    turns = tuple(
        dataclasses.replace(
            turn,
            id=str(uuid.uuid5(_IDS, f"{episode.key}/{turn.seq}")),
            session_id=session_id,
            created_at=CREATED,
            options=dataclasses.replace(
                turn.options, max_tokens=max_tokens or turn.options.max_tokens
            ),
        )
        for turn in session.turns
    )
    return dataclasses.replace(session, id=session_id, created_at=CREATED, turns=turns), blobs


def write_set(
    folder: Path, chosen: list[Episode] | None = None, max_tokens: int | None = None
) -> list[Path]:
    """One export zip per episode in `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for episode in chosen if chosen is not None else episode_set():
        path = folder / f"episode-{episode.key}.zip"
        write_zip(*session_of(episode, max_tokens), path)
        _fix_dates(path)
        paths.append(path)
    return paths


def _fix_dates(path: Path) -> None:
    """Rewrite the zip with each entry dated `CREATED`, so that its bytes do not depend on
    when it was written (zipfile stamps entries with the current time)."""
    with zipfile.ZipFile(path) as archive:
        entries = [(info.filename, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, CREATED.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)


def add_to_store(url: str, chosen: list[Episode] | None = None) -> int:
    """Create the episodes in the QA database at `url` (those already there are left as
    they are); returns how many were added."""
    store = QaStore(url)
    added = 0
    try:
        for episode in chosen if chosen is not None else episode_set():
            session, blobs = session_of(episode)
            try:
                store.add_session(session, blobs)
                added += 1
            except SessionExists:
                pass
    finally:
        store.close()
    return added


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="where to write episode-*.zip")
    parser.add_argument("--qa-db", help="also create the episodes in this QA database (URL)")
    args = parser.parse_args(argv)
    paths = write_set(args.folder)
    steps = sum(len(episode.steps) for episode in episode_set())
    print(f"{len(paths)} episodes, {steps} steps in {args.folder}")
    if args.qa_db:
        print(f"{add_to_store(args.qa_db)} episodes added to the QA database")


if __name__ == "__main__":
    main()
