"""Phone-agent mode: what AutoGLM-Phone-9B was trained to see, in the shape its official
agent (zai-org/Open-AutoGLM, `phone_agent/`) sends it.

- A system prompt that gives today's date, asks the model to think first, and states the
  action grammar it answers in (coordinates 0-1000). The presets below are this project's
  own wording; `--system-prompt-file` runs any other text, such as the official one.
- Each user turn carries the task and the screenshot, and, when the current app is known,
  a screen-info line: the first turn ``TASK\\n\\n{"current_app": "…"}``, later ones
  ``** Screen Info **\\n\\n{"current_app": "…"}`` (after the user's text, if any).
- History keeps earlier answers as ``<think>…</think><answer>…</answer>`` and only the
  latest screenshot; earlier user turns keep their text alone.

Everything here works on OpenAI messages (plain dicts), so it needs nothing from the page.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

PRESET_LANGUAGES = ("zh", "en")
# What the official agent names the foreground app when it recognises none (the launcher,
# or an app it has no package name for); its screen-info line is never left out.
UNKNOWN_APP = "System Home"

_WEEKDAYS_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")

_PRESET_EN = """Today is {today}.

You operate an Android phone on the user's behalf. Every turn brings the user's task, a \
screenshot of the screen as it is now and, when known, the app in the foreground. Move the \
task forward by exactly one step per reply.

Reply in two parts, always in this order:
<think>What the screen shows, how far the task has come, and which single step is next.</think>
<answer>One action, written as one of the calls below and nothing else.</answer>

Points are [x,y] relative to the screenshot: x runs from 0 at the left edge to 1000 at the \
right edge, y from 0 at the top to 1000 at the bottom.

The actions:
- do(action="Launch", app="NAME") opens an app by name; prefer it to hunting for an icon.
- do(action="Tap", element=[x,y]) taps a point.
- do(action="Double Tap", element=[x,y]) taps a point twice, quickly.
- do(action="Long Press", element=[x,y]) holds a point.
- do(action="Swipe", start=[x1,y1], end=[x2,y2]) swipes, e.g. to scroll a list.
- do(action="Type", text="TEXT") types into the input field that has the focus.
- do(action="Back") goes back one screen; do(action="Home") goes to the home screen.
- do(action="Wait", duration="2 seconds") waits for the screen to finish loading.
- do(action="Take_over", message="WHY") hands over to the user (a log-in, a captcha, a \
payment).
- finish(message="RESULT") ends the task, saying what was done or why it cannot be done.

Think before every action. One action per reply, on one line, with its arguments spelled \
exactly as above."""

_PRESET_ZH = """今天是{today}。

你替用户操作一部安卓手机。每一轮你会收到用户的任务、当前屏幕的截图，以及（已知时）前台应用的名称。\
每次回复只把任务向前推进一步。

回复分两部分，顺序固定：
<think>屏幕上有什么，任务进行到哪一步，下一步该做什么。</think>
<answer>一个动作，只写下面列出的一种调用，不写别的。</answer>

坐标 [x,y] 相对于截图：x 从左边缘的 0 到右边缘的 1000，y 从顶部的 0 到底部的 1000。

可用的动作：
- do(action="Launch", app="应用名") 按名称打开应用，优先于在桌面上找图标。
- do(action="Tap", element=[x,y]) 点击一个位置。
- do(action="Double Tap", element=[x,y]) 快速点击两次。
- do(action="Long Press", element=[x,y]) 长按一个位置。
- do(action="Swipe", start=[x1,y1], end=[x2,y2]) 滑动，例如滚动列表。
- do(action="Type", text="文字") 在当前获得焦点的输入框中输入文字。
- do(action="Back") 返回上一屏；do(action="Home") 回到桌面。
- do(action="Wait", duration="2 seconds") 等待页面加载完成。
- do(action="Take_over", message="原因") 交给用户处理（登录、验证码、付款）。
- finish(message="结果") 结束任务，说明做了什么，或为什么无法完成。

每个动作之前先思考。每次回复只给一个动作，写在一行，参数的写法与上面完全一致。"""


def preset_prompt(language: str, today: date | None = None) -> str:
    """The phone-agent system prompt in `language` (zh or en), dated `today`."""
    today = today or date.today()
    if language == "zh":
        dated = f"{today.year}年{today.month}月{today.day}日，{_WEEKDAYS_ZH[today.weekday()]}"
        return _PRESET_ZH.format(today=dated)
    if language == "en":
        return _PRESET_EN.format(today=today.strftime("%Y-%m-%d, %A"))
    raise ValueError(f"no preset in {language!r}; choose from {', '.join(PRESET_LANGUAGES)}")


def screen_info(current_app: str) -> str:
    """The screen description the official agent sends: JSON naming the foreground app."""
    return json.dumps({"current_app": current_app}, ensure_ascii=False)


def user_text(text: str, current_app: str | None, *, first: bool) -> str:
    """A user turn's text with the screen-info line, as the official agent writes it."""
    if not current_app:
        return text
    if first:
        return f"{text}\n\n{screen_info(current_app)}" if text.strip() else screen_info(current_app)
    update = f"** Screen Info **\n\n{screen_info(current_app)}"
    return f"{text}\n\n{update}" if text.strip() else update


def assistant_text(reasoning: str, answer: str) -> str:
    """An earlier answer as the model wrote it, which is how the official agent keeps it."""
    return f"<think>{reasoning}</think><answer>{answer}</answer>"


def only_last_screenshot(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages with image parts removed from every user turn but the last one."""
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
    return [
        message if i == last_user else _without_images(message)
        for i, message in enumerate(messages)
    ]


def _without_images(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    if not isinstance(content, list):
        return message
    return {**message, "content": [part for part in content if part.get("type") != "image_url"]}
