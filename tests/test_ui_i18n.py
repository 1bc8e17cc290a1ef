"""Every piece of page text exists in English and Chinese."""

from __future__ import annotations

import pytest

from autoglm_demo.ui.i18n import TRANSLATIONS, label, locale_from_header, text


def test_every_key_has_english_and_chinese() -> None:
    assert set(TRANSLATIONS) == {"en", "zh"}
    assert set(TRANSLATIONS["en"]) == set(TRANSLATIONS["zh"])
    for table in TRANSLATIONS.values():
        assert all(value.strip() for value in table.values())


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
