"""Every piece of page text exists in English and Chinese."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from autoglm_demo.ui.i18n import TRANSLATIONS, label, locale_from_header, text

UI = Path(__file__).resolve().parent.parent / "autoglm_demo" / "ui"
CJK = re.compile(r"[\u3400-\u9fff]")
UNTRANSLATED = {"top_p"}  # a parameter's name, the same in both languages


def fields(message: str) -> list[str]:
    return sorted(name for _, name, _, _ in string.Formatter().parse(message) if name is not None)


def test_every_key_has_english_and_chinese() -> None:
    assert set(TRANSLATIONS) == {"en", "zh"}
    english, chinese = TRANSLATIONS["en"], TRANSLATIONS["zh"]
    assert set(english) == set(chinese)
    for key in english:
        assert english[key].strip() and chinese[key].strip(), key
        # The same placeholders: formatting a translation must not fail at run time.
        assert fields(english[key]) == fields(chinese[key]), key
        # Translated, not copied: the Chinese text is written in Chinese.
        assert key in UNTRANSLATED or CJK.search(chinese[key]), key
        assert key not in UNTRANSLATED or english[key] == chinese[key], key


def test_every_text_is_used_and_every_text_used_exists() -> None:
    literals: set[str] = set()
    asked: set[str] = set()
    for source in UI.glob("*.py"):
        if source.name == "i18n.py":
            continue
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literals.add(node.value)
            is_lookup = isinstance(node, ast.Call) and getattr(node.func, "id", None) in (
                "label",
                "text",
            )
            if is_lookup and node.args and isinstance(node.args[0], ast.Constant):
                asked.add(node.args[0].value)
    assert asked, "no label() or text() call was found: the check would pass vacuously"
    assert sorted(asked - set(TRANSLATIONS["en"])) == []
    assert sorted(set(TRANSLATIONS["en"]) - literals) == []  # no text left unused


def test_labels_exist_and_unknown_keys_fail_early() -> None:
    assert "stop" in str(label("stop"))
    with pytest.raises(KeyError):
        label("no-such-label")


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR,zh;q=0.5", "zh"),
        (None, "en"),
        ("de", "en"),
    ],
)
def test_locale_from_accept_language(header: str | None, locale: str) -> None:
    assert locale_from_header(header) == locale


def test_run_time_text_falls_back_to_english() -> None:
    assert text("stop", "zh") == "停止"
    assert text("stop", "fr") == "Stop"
