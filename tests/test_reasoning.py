"""Tests for the one streaming reasoning/answer splitter."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from autoglm_demo.reasoning import TAGS, ReasoningSplitter, Split, TagRemover, split_reasoning

FULL = (
    '<think>\nThe user wants WeChat.\n</think>\n<answer>do(action="Launch", app="微信")</answer>\n'
)
FULL_SPLIT = Split("The user wants WeChat.", 'do(action="Launch", app="微信")')


def stream(pieces: list[str], *, starts_in_reasoning: bool = False) -> tuple[Split, list[Split]]:
    splitter = ReasoningSplitter(starts_in_reasoning=starts_in_reasoning)
    deltas = [splitter.feed(piece) for piece in pieces]
    deltas.append(splitter.finish())
    total = Split()
    for delta in deltas:
        total = total + delta
    return total, deltas


# --- Split -----------------------------------------------------------------------------


def test_split_bool_and_add() -> None:
    assert not Split()
    assert Split(reasoning="r")
    assert Split(answer="a")
    assert Split("a", "b") + Split("c", "d") == Split("ac", "bd")


# --- plain cases ---------------------------------------------------------------------------


def test_plain_tagged_text() -> None:
    assert split_reasoning("<think>tap it</think><answer>Tap(1, 2)</answer>") == Split(
        "tap it", "Tap(1, 2)"
    )


def test_full_example_with_newlines() -> None:
    assert split_reasoning(FULL) == FULL_SPLIT


def test_answer_without_wrapper() -> None:
    assert split_reasoning("<think>r</think>plain answer") == Split("r", "plain answer")


def test_cjk() -> None:
    assert split_reasoning("<think>用户想打开微信</think><answer>好的</answer>") == Split(
        "用户想打开微信", "好的"
    )


def test_no_tags_is_all_answer() -> None:
    assert split_reasoning("Just an answer, 1 < 2 > 0.") == Split("", "Just an answer, 1 < 2 > 0.")


def test_answer_wrappers_only() -> None:
    assert split_reasoning('<answer>finish(message="done")</answer>') == Split(
        "", 'finish(message="done")'
    )


def test_text_before_think_is_answer() -> None:
    assert split_reasoning("Let me look.<think>hmm</think><answer>ok</answer>") == Split(
        "hmm", "Let me look.ok"
    )


def test_answer_segments_join_keeping_inner_leading_space() -> None:
    # The space before <think> ends its segment and is dropped; the one after </think> is
    # inside the answer (not at its start), so it is kept.
    assert split_reasoning("Hello <think>r</think> world") == Split("r", "Hello world")


def test_whitespace_only_before_think_is_dropped() -> None:
    assert split_reasoning("\n \n<think>r</think>a") == Split("r", "a")


def test_missing_close_think_stays_reasoning() -> None:
    splitter = ReasoningSplitter()
    first = splitter.feed("<think>still thinking ")
    last = splitter.finish()
    assert first == Split("still thinking", "")
    assert last == Split()
    assert split_reasoning("<think>cut off mid-<th") == Split("cut off mid-<th", "")


def test_starts_in_reasoning() -> None:
    assert split_reasoning("thinking</think>answer", starts_in_reasoning=True) == Split(
        "thinking", "answer"
    )
    assert split_reasoning("  only thoughts  ", starts_in_reasoning=True) == Split(
        "only thoughts", ""
    )
    # Without the flag the same text has a stray </think>.
    assert split_reasoning("thinking</think>answer") == Split("", "thinkinganswer")


def test_starts_in_reasoning_with_repeated_open_tag() -> None:
    assert split_reasoning("<think>r</think>a", starts_in_reasoning=True) == Split("r", "a")


def test_stray_tags_removed() -> None:
    assert split_reasoning("<think>a<think>b</think>c</think>d") == Split("ab", "cd")
    assert split_reasoning("x</answer>y<answer>z") == Split("", "xyz")


def test_tags_adjacent_to_text() -> None:
    assert split_reasoning("x</think><answer>y", starts_in_reasoning=True) == Split("x", "y")
    assert split_reasoning("x<think>y</think>z") == Split("y", "xz")


def test_answer_tags_inside_reasoning_are_removed() -> None:
    assert split_reasoning("<think>a<answer>b</answer>c</think>d") == Split("abc", "d")


def test_literal_angle_brackets_and_html_pass_through() -> None:
    text = "<think>if a<b and b>c</think><div>x</div> <thinking> </thinkers>"
    assert split_reasoning(text) == Split("if a<b and b>c", "<div>x</div> <thinking> </thinkers>")


def test_spliced_tag_is_broken() -> None:
    # Removing <answer> must not turn "<th" + "ink>" into a real-looking tag.
    result = split_reasoning("<th<answer>ink>")
    assert result == Split("", "<think")
    result = split_reasoning("a<</<answer>think>>b")
    assert result == Split("", "a<</thinkb")


# --- whitespace -----------------------------------------------------------------------------


def test_whitespace_trimmed_at_ends_kept_in_middle() -> None:
    text = "<think> \n a \n\t b \n</think>\n\n c  d \n"
    assert split_reasoning(text) == Split("a \n\t b", "c  d")


def test_trailing_whitespace_held_then_emitted() -> None:
    splitter = ReasoningSplitter()
    assert splitter.feed("<think>a ") == Split("a", "")
    assert splitter.feed(" ") == Split()
    assert splitter.feed("b") == Split("  b", "")
    assert splitter.feed("  \n</think>") == Split()
    assert splitter.feed("\nx\n") == Split("", "x")
    assert splitter.finish() == Split()


def test_leading_whitespace_of_answer_dropped_across_pieces() -> None:
    _, deltas = stream(["<think>r</think>", "\n", " ", "\n<answer>", " ok"])
    assert [d.answer for d in deltas] == ["", "", "", "", "ok", ""]


# --- streaming ----------------------------------------------------------------------------


@pytest.mark.parametrize("cut", range(len(FULL) + 1))
def test_every_two_way_split_of_full_example(cut: int) -> None:
    total, _ = stream([FULL[:cut], FULL[cut:]])
    assert total == FULL_SPLIT


def test_every_three_way_split() -> None:
    for i in range(len(FULL) + 1):
        for j in range(i, len(FULL) + 1):
            total, _ = stream([FULL[:i], FULL[i:j], FULL[j:]])
            assert total == FULL_SPLIT, (i, j)


def test_character_by_character() -> None:
    total, deltas = stream(list(FULL))
    assert total == FULL_SPLIT
    # Something reached the UI before the end: the stream is incremental, not buffered.
    assert sum(1 for d in deltas[:-1] if d) > 10


def test_latency_plain_text_not_held() -> None:
    splitter = ReasoningSplitter()
    assert splitter.feed("Hello wor") == Split("", "Hello wor")
    assert splitter.feed("ld") == Split("", "ld")


def test_latency_only_whitespace_and_tag_prefix_held() -> None:
    splitter = ReasoningSplitter()
    assert splitter.feed("Hello <thi") == Split("", "Hello")
    assert splitter.feed("s") == Split("", " <this")


def test_latency_non_prefix_angle_bracket_emitted() -> None:
    splitter = ReasoningSplitter()
    assert splitter.feed("a<b") == Split("", "a<b")
    assert splitter.feed(" x</a") == Split("", " x")  # "</a" may still become </answer>
    assert splitter.feed("b") == Split("", "</ab")


def test_latency_reasoning_piece_by_piece() -> None:
    splitter = ReasoningSplitter()
    assert splitter.feed("<th") == Split()
    assert splitter.feed("ink>Open") == Split("Open", "")
    assert splitter.feed(" the app</") == Split(" the app", "")
    assert splitter.feed("think><answer>Launch") == Split("", "Launch")


def test_finish_twice_and_feed_after_finish() -> None:
    splitter = ReasoningSplitter()
    assert splitter.feed("<think>r <") == Split("r", "")
    assert splitter.finish() == Split(" <", "")  # "<" was only held as a possible tag
    assert splitter.finish() == Split()
    with pytest.raises(RuntimeError):
        splitter.feed("more")


def test_empty_input() -> None:
    assert split_reasoning("") == Split()
    assert ReasoningSplitter().feed("") == Split()


def test_long_input_is_linear_enough() -> None:
    text = "<think>" + ("a " * 10_000) + " " * 10_000 + "</think>" + "<" * 10_000 + ">" * 10_000
    pieces = [text[i : i + 3] for i in range(0, len(text), 3)]
    total, _ = stream(pieces)
    assert total.reasoning == ("a " * 10_000).strip()
    assert total.answer == "<" * 10_000 + ">" * 10_000


# --- properties ---------------------------------------------------------------------------

ALPHABET = [
    *TAGS,
    "<th", "ink>", "<think", "</", "think>", "</th", "<ans", "wer>", "answer>", "</answer",
    "<", ">", "/", "a", "b", "x", " ", "  ", "\n", "\t", "微", "信", "思",
]
texts = st.lists(st.sampled_from(ALPHABET), max_size=24).map("".join)


@st.composite
def chunked(draw: st.DrawFn) -> tuple[str, list[str]]:
    text = draw(texts)
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=6)))
    bounds = [0, *cuts, len(text)]
    return text, [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@settings(max_examples=300, deadline=None)
@given(chunked(), st.booleans())
def test_streaming_equals_whole_and_never_leaks_a_tag(
    case: tuple[str, list[str]], starts_in_reasoning: bool
) -> None:
    # One test for both properties: hypothesis' per-example overhead dominates the runtime.
    text, pieces = case
    total, deltas = stream(pieces, starts_in_reasoning=starts_in_reasoning)
    assert total == split_reasoning(text, starts_in_reasoning=starts_in_reasoning)
    for out in (
        total.reasoning,
        total.answer,
        *(d.reasoning for d in deltas),
        *(d.answer for d in deltas),
    ):
        for tag in TAGS:
            assert tag not in out
    assert total.reasoning == total.reasoning.strip()
    assert total.answer == total.answer.strip()


def without_tags(text: str) -> str:
    while any(tag in text for tag in TAGS):
        for tag in TAGS:
            text = text.replace(tag, "")
    return text


tag_free = texts.map(without_tags)


@settings(max_examples=300, deadline=None)
@given(tag_free, st.data())
def test_tag_free_text_is_answer_verbatim(text: str, data: st.DataObject) -> None:
    text = text.strip()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    bounds = [0, *cuts, len(text)]
    pieces = [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    assert split_reasoning(text) == Split("", text)
    assert stream(pieces)[0] == Split("", text)


@settings(max_examples=300, deadline=None)
@given(tag_free, tag_free)
def test_well_formed_round_trip(reasoning: str, answer: str) -> None:
    text = f"<think>{reasoning}</think><answer>{answer}</answer>"
    assert split_reasoning(text) == Split(reasoning.strip(), answer.strip())


# --- tag-less replies of a reasoning model (vLLM drops the special tokens) ---------------

OFFICIAL = (
    "the Wi-Fi entry is the first row, so I tap its centre. "
    'do(action="Tap", element=[500,230])'
)
OFFICIAL_SPLIT = Split(
    "the Wi-Fi entry is the first row, so I tap its centre.", 'do(action="Tap", element=[500,230])'
)


def stream_reasoning_model(pieces: list[str]) -> tuple[Split, list[Split]]:
    splitter = ReasoningSplitter(reasoning_model=True)
    deltas = [splitter.feed(piece) for piece in pieces]
    deltas.append(splitter.finish())
    return sum(deltas, Split()), deltas


def test_tagless_reply_splits_at_the_action() -> None:
    assert split_reasoning(OFFICIAL, reasoning_model=True) == OFFICIAL_SPLIT


def test_tagless_finish_and_chinese() -> None:
    text = '用户要的设置已经打开，任务完成。finish(message="已打开 Wi-Fi 设置")'
    assert split_reasoning(text, reasoning_model=True) == Split(
        "用户要的设置已经打开，任务完成。", 'finish(message="已打开 Wi-Fi 设置")'
    )


def test_the_earliest_marker_ends_the_trace() -> None:
    text = 'I could finish, but first do(action="Back") then finish(message="x")'
    assert split_reasoning(text, reasoning_model=True) == Split(
        "I could finish, but first", 'do(action="Back") then finish(message="x")'
    )


def test_plain_chat_model_is_never_cut() -> None:
    assert split_reasoning(OFFICIAL) == Split("", OFFICIAL)


def test_tagless_reply_without_action_is_the_answer() -> None:
    splitter = ReasoningSplitter(reasoning_model=True)
    assert splitter.feed("The screen shows ") == Split("The screen shows", "")
    assert splitter.feed("a clock.") == Split(" a clock.", "")
    assert splitter.finish() == Split("", "The screen shows a clock.", reset_reasoning=True)
    assert split_reasoning(" The screen shows a clock. ", reasoning_model=True) == Split(
        "", "The screen shows a clock."
    )
    assert not split_reasoning("  \n", reasoning_model=True)


def test_marker_prefix_is_held_then_released() -> None:
    splitter = ReasoningSplitter(reasoning_model=True)
    assert splitter.feed("I tapped and d") == Split("I tapped and", "")
    assert splitter.feed("o(") == Split()
    assert splitter.feed("ne) ") == Split(" do(ne)", "")
    assert splitter.feed("do(act") == Split()
    assert splitter.feed('ion="Back")') == Split("", 'do(action="Back")')
    assert splitter.finish() == Split()


def test_tags_still_win_for_a_reasoning_model() -> None:
    assert split_reasoning(FULL, reasoning_model=True) == FULL_SPLIT
    # A template that opened <think> in the prompt: the client sees only the closing tag.
    assert split_reasoning("r</think><answer>ok</answer>", reasoning_model=True) == Split("r", "ok")
    assert split_reasoning("r<answer>ok</answer>", reasoning_model=True) == Split("r", "ok")
    assert split_reasoning("a <think>b</think>c", reasoning_model=True) == Split("a b", "c")


def test_answer_follows_a_separate_trace() -> None:
    splitter = ReasoningSplitter(reasoning_model=True)
    assert splitter.answer_follows() == Split()
    assert splitter.feed("The screen shows a clock.") == Split("", "The screen shows a clock.")
    assert splitter.finish() == Split()


@pytest.mark.parametrize("text", [OFFICIAL, '想想。finish(message="好")', "no action here"])
def test_every_three_way_split_of_tagless_replies(text: str) -> None:
    expected = split_reasoning(text, reasoning_model=True)
    for i in range(len(text) + 1):
        for j in range(i, len(text) + 1):
            total, _ = stream_reasoning_model([text[:i], text[i:j], text[j:]])
            assert total == expected, (i, j)


TRACE_WORDS = [
    "I", " ", "  ", "\n", "tap", "the", "do", "d", "do(", "(", "action", "=", "finish",
    "message", "finish(", "fini", "(act", "微信", "打开", "。", "，", ".", "Wi-Fi", "[500,230]",
]
ACTIONS = [
    'do(action="Tap", element=[500,230])',
    'do(action="Type", text="你好 do(")',
    'do(action="Launch", app="微信")',
    'do(action="Swipe", start=[500,800], end=[500,200])',
    'finish(message="已完成")',
    'finish(message="Done.")',
    "",  # no action at all
]
traces = st.lists(st.sampled_from(TRACE_WORDS), max_size=16).map("".join)


@st.composite
def tagless_replies(draw: st.DrawFn) -> tuple[str, str, list[str]]:
    """(trace, action, the reply cut into pieces anywhere)."""
    markers = ("do(action=", "finish(message=")
    trace = draw(traces.filter(lambda t: all(m not in t for m in markers)))
    action = draw(st.sampled_from(ACTIONS))
    reply = trace + draw(st.sampled_from(["", " ", "\n"])) + action
    cuts = sorted(draw(st.lists(st.integers(0, len(reply)), max_size=8)))
    bounds = [0, *cuts, len(reply)]
    return trace, action, [reply[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=400, deadline=None)
@given(tagless_replies())
def test_tagless_reply_under_any_chunking(case: tuple[str, str, list[str]]) -> None:
    trace, action, pieces = case
    reply = "".join(pieces)
    total, deltas = stream_reasoning_model(pieces)
    if action:
        assert total == Split(trace.strip(), action.strip())
    else:
        assert total == Split("", reply.strip())
    # The trace streams live and never shows a marker, or a piece of one: what has been
    # delivered is always a prefix of the final trace (before any take-back at the end).
    delivered = ""
    for delta in deltas[:-1]:
        delivered += delta.reasoning
        assert (trace.strip() if action else reply.strip()).startswith(delivered)
    assert total == split_reasoning(reply, reasoning_model=True)
    # A plain chat model gets the whole reply as its answer, however it is cut.
    assert stream(pieces)[0] == Split("", reply.strip())


@settings(max_examples=300, deadline=None)
@given(chunked())
def test_reasoning_model_streaming_equals_whole_and_never_leaks_a_tag(
    case: tuple[str, list[str]],
) -> None:
    text, pieces = case
    # Text that spells a tag only once a real tag between its halves is gone ("</" then
    # "</answer>" then "answer>") is the model's own text, passed on as written, as vLLM
    # passes the text tokens around a skipped special token.
    assume(_without_tags(_without_tags(text)) == _without_tags(text))
    total, deltas = stream_reasoning_model(pieces)
    assert total == split_reasoning(text, reasoning_model=True)
    streamed = [part for d in deltas for part in (d.reasoning, d.answer)]
    for out in (total.reasoning, total.answer, *streamed):
        for tag in TAGS:
            assert tag not in out


def _without_tags(text: str) -> str:
    return re.sub("|".join(map(re.escape, TAGS)), "", text)


# --- tag removal (the official vLLM output) -----------------------------------------------


def remove_streamed(pieces: list[str]) -> str:
    remover = TagRemover()
    return "".join(remover.feed(piece) for piece in pieces) + remover.finish()


def test_tag_remover_keeps_everything_but_tags() -> None:
    text = "<think>\nI tap it.\n</think>\n<answer>do(action=\"Back\")</answer>"
    assert remove_streamed([text]) == '\nI tap it.\n\ndo(action="Back")'
    assert remove_streamed(list(text)) == '\nI tap it.\n\ndo(action="Back")'
    assert remove_streamed(["a <th", "is"]) == "a <this"


@settings(max_examples=200, deadline=None)
@given(tag_free, tag_free, st.data())
def test_tag_remover_under_any_chunking(reasoning: str, answer: str, data: st.DataObject) -> None:
    text = f"<think>{reasoning}</think><answer>{answer}</answer>"
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    bounds = [0, *cuts, len(text)]
    assert remove_streamed([text[a:b] for a, b in itertools.pairwise(bounds)]) == reasoning + answer
