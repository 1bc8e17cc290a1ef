"""Split GLM-4.1V-Thinking output into reasoning and answer, one streamed piece at a time.

The model answers as ``<think>REASONING</think><answer>ANSWER</answer>``. The server runs
this splitter over generated text and the client reuses it for remote backends that leave
the tags inside ``content``, so there is exactly one implementation of the rules below.

Rules (the same whether the text arrives whole or in pieces of any size):

* Text inside ``<think>…</think>`` is reasoning; everything else is answer. ``<answer>`` and
  ``</answer>`` are wrappers and are removed. A stray ``<think>`` inside reasoning and a stray
  ``</think>`` outside it are removed. A missing ``</think>`` leaves everything reasoning.
* Tags may be cut at any character; only a suffix that could still become a tag is held back.
* Whitespace: each stream (reasoning, answer) drops its leading whitespace, and each segment
  (a run of text between ``<think>``/``</think>`` switches, or up to ``finish()``) drops its
  trailing whitespace. Trailing whitespace is held until non-whitespace follows in the same
  segment. Whitespace inside text is kept exactly.
* Removing a tag must not splice the text around it into a new tag (``<th<answer>ink>``):
  such a would-be tag loses its closing ``>``, so no output ever contains a complete tag.
"""

from __future__ import annotations

from dataclasses import dataclass

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
ANSWER_OPEN = "<answer>"
ANSWER_CLOSE = "</answer>"
TAGS: tuple[str, ...] = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)

_MAX_PREFIX = max(map(len, TAGS)) - 1
_PROPER_PREFIXES = frozenset(tag[:i] for tag in TAGS for i in range(1, len(tag)))


def _tag_at(text: str, pos: int) -> str | None:
    for tag in TAGS:
        if text.startswith(tag, pos):
            return tag
    return None


@dataclass(frozen=True)
class Split:
    """One delta (or a whole result); two fields because the UI shows them in separate panes."""

    reasoning: str = ""
    answer: str = ""

    def __bool__(self) -> bool:
        """Lets a streaming loop skip empty deltas with a plain ``if``."""
        return bool(self.reasoning or self.answer)

    def __add__(self, other: Split) -> Split:
        """Lets deltas be summed back into the whole result."""
        if not isinstance(other, Split):
            return NotImplemented
        return Split(self.reasoning + other.reasoning, self.answer + other.answer)


class _Stream:
    """Output side of one pane: holds back only what a later piece could still change.

    Held back: trailing whitespace (dropped if its segment ends) and a trailing fragment that
    could grow into a tag (``<th``), so that text on both sides of a removed tag is never
    joined into a tag.
    """

    __slots__ = ("_started", "_frag", "_ws")

    def __init__(self) -> None:
        self._started = False
        self._frag = ""
        self._ws: list[str] = []  # a list, so long whitespace runs stay O(n)

    def write(self, text: str) -> str:
        if not self._started:
            text = text.lstrip()
            if not text:
                return ""
            self._started = True
        if not text:
            return ""
        if text.isspace():
            self._ws.append(text)
            return ""
        s = self._frag + "".join(self._ws) + text
        self._frag = ""
        self._ws.clear()
        tag = _tag_at(s, 0)  # only possible right after a removed tag
        if tag is not None:
            keep = len(tag) - 1
            s = s[:keep] + s[keep:].lstrip(">")
        core = s.rstrip()
        if len(core) < len(s):
            self._ws.append(s[len(core) :])
        cut = core.rfind("<", max(0, len(core) - _MAX_PREFIX))
        if cut != -1 and core[cut:] in _PROPER_PREFIXES:
            self._frag = core[cut:]
            return core[:cut]
        return core

    def end_segment(self) -> None:
        self._ws.clear()

    def finish(self) -> str:
        self._ws.clear()
        frag, self._frag = self._frag, ""
        return frag


class ReasoningSplitter:
    """Incremental splitter, because tokens arrive one small piece at a time and the UI
    should show each piece as soon as it can no longer turn out to be part of a tag."""

    def __init__(self, *, starts_in_reasoning: bool = False) -> None:
        """``starts_in_reasoning``: the chat template already opened ``<think>`` in the prompt."""
        self._in_reasoning = starts_in_reasoning
        self._pending = ""  # input suffix that may still become a tag (at most 8 chars)
        self._reasoning = _Stream()
        self._answer = _Stream()
        self._finished = False

    def feed(self, text: str) -> Split:
        """Returns the delta this piece makes final; anything ambiguous waits for later pieces."""
        if self._finished:
            raise RuntimeError("ReasoningSplitter.feed() called after finish()")
        if not text:
            return Split()
        buf = self._pending + text
        self._pending = ""
        reasoning: list[str] = []
        answer: list[str] = []
        start = pos = 0
        end = len(buf)
        while (lt := buf.find("<", pos)) != -1:
            tag = _tag_at(buf, lt)
            if tag is not None:
                self._text(buf[start:lt], reasoning, answer)
                self._tag(tag)
                start = pos = lt + len(tag)
            elif end - lt <= _MAX_PREFIX and buf[lt:] in _PROPER_PREFIXES:
                self._pending = buf[lt:]
                end = lt
                break
            else:
                pos = lt + 1
        self._text(buf[start:end], reasoning, answer)
        return Split("".join(reasoning), "".join(answer))

    def finish(self) -> Split:
        """Flushes held-back text, because the end of output settles every open question.

        Never raises (a cut-off ``</think>`` is normal); calling it again returns an empty Split.
        """
        if self._finished:
            return Split()
        self._finished = True
        reasoning: list[str] = []
        answer: list[str] = []
        pending, self._pending = self._pending, ""
        self._text(pending, reasoning, answer)
        reasoning.append(self._reasoning.finish())
        answer.append(self._answer.finish())
        return Split("".join(reasoning), "".join(answer))

    def _text(self, text: str, reasoning: list[str], answer: list[str]) -> None:
        if not text:
            return
        if self._in_reasoning:
            reasoning.append(self._reasoning.write(text))
        else:
            answer.append(self._answer.write(text))

    def _tag(self, tag: str) -> None:
        if tag == THINK_OPEN and not self._in_reasoning:
            self._answer.end_segment()
            self._in_reasoning = True
        elif tag == THINK_CLOSE and self._in_reasoning:
            self._reasoning.end_segment()
            self._in_reasoning = False
        # <answer>, </answer> and stray think tags are simply removed.


def split_reasoning(text: str, *, starts_in_reasoning: bool = False) -> Split:
    """Whole-text convenience: feed + finish."""
    splitter = ReasoningSplitter(starts_in_reasoning=starts_in_reasoning)
    return splitter.feed(text) + splitter.finish()
