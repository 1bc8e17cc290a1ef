"""Reasoning output over HTTP, from a tiny model trained in the test run to think in tags.

The model's reply is `<think>…</think><answer>…</answer>` with the tags as special tokens,
as GLM-4.1V emits them, so these tests exercise the real detokenizer and splitter.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from autoglm_demo.reasoning import split_reasoning
from tests.conftest import TAGGED_REPLY, app_for, serve_app

EXPECTED = split_reasoning(TAGGED_REPLY)


@pytest.fixture(scope="module")
def base_url(tagged_model_dir: Path) -> Iterator[str]:
    with serve_app(app_for(tagged_model_dir)) as url:
        yield url


def ask(base_url: str, **fields: object) -> dict[str, object]:
    body = {
        "model": "autoglm-phone-9b",
        "messages": [{"role": "user", "content": "Where is the search box?"}],
        "temperature": 0,
        **fields,
    }
    response = httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]


def test_expected_split_is_meaningful() -> None:
    assert EXPECTED.reasoning.startswith("The user wants to search")
    assert EXPECTED.answer == 'do(action="Tap", element=[500,100])'


def test_trace_goes_to_both_fields_and_content_has_no_tags(base_url: str) -> None:
    message = ask(base_url, enable_thinking=True, return_reasoning=True)
    assert message["content"] == EXPECTED.answer
    assert message["reasoning_content"] == message["reasoning"] == EXPECTED.reasoning


@pytest.mark.parametrize(
    "flags",
    [
        {"return_reasoning": False},
        {"chat_template_kwargs": {"enable_thinking": True}, "return_reasoning": False},
    ],
)
def test_return_reasoning_false_sends_no_trace(base_url: str, flags: dict[str, object]) -> None:
    message = ask(base_url, **flags)
    assert message["content"] == EXPECTED.answer
    assert message["reasoning_content"] is None and message["reasoning"] is None


def test_separate_reasoning_false_leaves_the_tags_in_content(base_url: str) -> None:
    message = ask(base_url, separate_reasoning=False)
    assert message["content"] == TAGGED_REPLY
    assert message["reasoning_content"] is None


def test_streamed_trace_arrives_in_deltas_before_the_answer(base_url: str) -> None:
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="EMPTY")
    stream = client.chat.completions.create(
        model="autoglm-phone-9b",
        messages=[{"role": "user", "content": "打开设置"}],
        temperature=0,
        stream=True,
        extra_body={"enable_thinking": True, "return_reasoning": True},
    )
    order, reasoning, answer = [], [], []
    for chunk in stream:
        extra = chunk.choices[0].delta.model_extra or {}
        if extra.get("reasoning_content"):
            assert extra["reasoning"] == extra["reasoning_content"]
            reasoning.append(extra["reasoning_content"])
            order.append("r")
        if chunk.choices[0].delta.content:
            answer.append(chunk.choices[0].delta.content)
            order.append("a")
    assert "".join(reasoning) == EXPECTED.reasoning
    assert "".join(answer) == EXPECTED.answer
    assert len(reasoning) > 3, "the trace should stream, not arrive in one piece"
    assert order.index("a") > max(i for i, kind in enumerate(order) if kind == "r")


def test_stop_applies_to_the_raw_text(base_url: str) -> None:
    message = ask(base_url, stop=["</think>"], separate_reasoning=True)
    assert message["content"] == ""
    assert message["reasoning_content"] == EXPECTED.reasoning


def test_skip_special_tokens_false_leaves_the_tags_in_content(base_url: str) -> None:
    message = ask(base_url, skip_special_tokens=False)
    assert message["content"] == TAGGED_REPLY
    assert message["reasoning_content"] is None and message["reasoning"] is None


# --- --reasoning-parser none: the official vLLM output -------------------------------------

OFFICIAL_CONTENT = EXPECTED.reasoning + EXPECTED.answer  # the reply has no text between tags


@pytest.fixture(scope="module")
def official_url(tagged_model_dir: Path) -> Iterator[str]:
    with serve_app(app_for(tagged_model_dir, reasoning_parser="none")) as url:
        yield url


def test_reasoning_parser_none_puts_trace_and_action_in_content(official_url: str) -> None:
    message = ask(official_url)
    assert message["content"] == OFFICIAL_CONTENT
    assert message["reasoning_content"] is None and message["reasoning"] is None
    # Per request, the tags can still be asked for.
    assert ask(official_url, skip_special_tokens=False)["content"] == TAGGED_REPLY


def test_content_only_client_keeps_trace_and_action(official_url: str) -> None:
    """A client that reads only delta.content and splits at the first do(action= or
    finish(message=, as Open-AutoGLM's does, gets the trace and the action."""
    client = openai.OpenAI(base_url=f"{official_url}/v1", api_key="EMPTY")
    stream = client.chat.completions.create(
        model="autoglm-phone-9b",
        messages=[{"role": "user", "content": "打开设置"}],
        temperature=0,
        top_p=0.85,
        frequency_penalty=0.2,
        stream=True,
    )
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    content = "".join(pieces)
    assert len([p for p in pieces if p]) > 3, "content should stream, not arrive in one piece"
    for tag in ("<think>", "</think>", "<answer>", "</answer>"):
        assert tag not in content
    thinking, marker, rest = content.partition("do(action=")
    assert marker, content
    assert thinking.strip() == EXPECTED.reasoning
    assert marker + rest == EXPECTED.answer
