"""Split GLM-4.1V-Thinking output into reasoning and answer, one streamed piece at a time.

The model answers as ``<think>REASONING</think><answer>ANSWER</answer>``. The server runs
this splitter over generated text and the client reuses it for remote backends that leave
the tags inside ``content``, so there is exactly one implementation of the rules below.

The tags are special tokens, so a server that drops special tokens (vLLM's default, and
how AutoGLM-Phone-9B is officially served) sends the reply with no tags at all:
``…so I tap its centre. do(action="Tap", element=[500,230])``. For a model that reasons
(``reasoning_model=True``), such text is split where Open-AutoGLM's own client splits it:
before the first ``do(action=`` or ``finish(message=`` is the trace, from there on the
answer. Until that boundary the trace streams live; only a suffix that could still grow
into a marker (``do(``) is held back, so a marker never leaks into the trace. A reply that
has neither tags nor an action is, as Open-AutoGLM reads it, all answer: the trace
streamed so far is taken back (`Split.reset_reasoning`) and delivered as the answer. A
plain chat model (``reasoning_model=False``) is never cut at a marker.

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
* Reasoning models only: text before any tag is trace until an action marker, ``</think>``
  or ``<answer>`` ends it; after that the tag rules above apply.
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

ACTION_MARKERS: tuple[str, ...] = ("do(action=", "finish(message=")
"""Where Open-AutoGLM's client ends the trace of a tag-less reply."""
_MARKER_PREFIXES = frozenset(m[:i] for m in ACTION_MARKERS for i in range(1, len(m)))
_MAX_MARKER_PREFIX = max(map(len, ACTION_MARKERS)) - 1


def _tag_at(text: str, pos: int) -> str | None:
    for tag in TAGS:
        if text.startswith(tag, pos):
            return tag
    return None


def _first_marker(text: str) -> int:
    """Where the earliest action marker starts in `text`, or -1."""
    found = [i for i in (text.find(marker) for marker in ACTION_MARKERS) if i != -1]
    return min(found, default=-1)


def _marker_prefix_length(text: str) -> int:
    """Length of the longest suffix of `text` that could still grow into a marker."""
    for size in range(min(_MAX_MARKER_PREFIX, len(text)), 0, -1):
        if text[-size:] in _MARKER_PREFIXES:
            return size
    return 0


def _scan(buf: str) -> tuple[list[str], str]:
    """`buf` cut into text runs and whole tags, in order, and the suffix held back because
    it could still become a tag (at most 8 characters)."""
    parts: list[str] = []
    start = pos = 0
    while (lt := buf.find("<", pos)) != -1:
        tag = _tag_at(buf, lt)
        if tag is not None:
            parts += [buf[start:lt], tag]
            start = pos = lt + len(tag)
        elif len(buf) - lt <= _MAX_PREFIX and buf[lt:] in _PROPER_PREFIXES:
            return [*parts, buf[start:lt]], buf[lt:]
        else:
            pos = lt + 1
    return [*parts, buf[start:]], ""


@dataclass(frozen=True)
class Split:
    """One delta (or a whole result); two fields because the UI shows them in separate panes."""

    reasoning: str = ""
    answer: str = ""
    reset_reasoning: bool = False
    """On a delta: the reasoning delivered before it was the answer after all, so drop it
    (its text comes again in `answer`). Only a reasoning model's tag-less reply without an
    action does this, once, at the end."""

    def __bool__(self) -> bool:
        """Lets a streaming loop skip empty deltas with a plain ``if``."""
        return bool(self.reasoning or self.answer or self.reset_reasoning)

    def __add__(self, other: Split) -> Split:
        """Lets deltas be summed back into the whole result."""
        if not isinstance(other, Split):
            return NotImplemented
        reasoning = other.reasoning if other.reset_reasoning else self.reasoning + other.reasoning
        return Split(reasoning, self.answer + other.answer, self.reset_reasoning)


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

    def __init__(self, *, starts_in_reasoning: bool = False, reasoning_model: bool = False) -> None:
        """``starts_in_reasoning``: the chat template already opened ``<think>`` in the prompt.
        ``reasoning_model``: the model thinks first, so tag-less text is trace until an action.
        """
        self._in_reasoning = starts_in_reasoning
        # Before any tag, a reasoning model's text is trace up to its first action marker.
        self._before_boundary = reasoning_model and not starts_in_reasoning
        self._held = ""  # before the boundary: a suffix that may still become a marker
        self._seen: list[str] = []  # before the boundary: all text, in case it is the answer
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
        parts, self._pending = _scan(self._pending + text)
        reasoning: list[str] = []
        answer: list[str] = []
        for part in parts:
            if part in TAGS:
                self._tag(part, reasoning)
            else:
                self._text(part, reasoning, answer)
        return Split("".join(reasoning), "".join(answer))

    def answer_follows(self) -> Split:
        """The trace came apart from this text (a server's separate reasoning field), so
        whatever text follows is answer, even with no tag or action marker before it."""
        reasoning: list[str] = []
        if self._before_boundary:
            self._end_trace(reasoning)
        return Split(reasoning="".join(reasoning))

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
        if self._before_boundary:
            return self._whole_reply_is_answer()
        reasoning.append(self._reasoning.finish())
        answer.append(self._answer.finish())
        return Split("".join(reasoning), "".join(answer))

    def _text(self, text: str, reasoning: list[str], answer: list[str]) -> None:
        if not text:
            return
        if self._before_boundary:
            self._trace_until_marker(text, reasoning, answer)
        elif self._in_reasoning:
            reasoning.append(self._reasoning.write(text))
        else:
            answer.append(self._answer.write(text))

    def _trace_until_marker(self, text: str, reasoning: list[str], answer: list[str]) -> None:
        self._seen.append(text)
        text, self._held = self._held + text, ""
        marker = _first_marker(text)
        if marker != -1:
            reasoning.append(self._reasoning.write(text[:marker]))
            self._end_trace(reasoning)
            answer.append(self._answer.write(text[marker:]))
            return
        keep = _marker_prefix_length(text)
        if keep:
            text, self._held = text[:-keep], text[-keep:]
        reasoning.append(self._reasoning.write(text))

    def _end_trace(self, reasoning: list[str]) -> None:
        """The boundary: what was held is trace after all, and the answer begins."""
        held, self._held = self._held, ""
        reasoning.append(self._reasoning.write(held))
        self._reasoning.end_segment()
        self._before_boundary = self._in_reasoning = False
        self._seen.clear()

    def _whole_reply_is_answer(self) -> Split:
        """No tag and no action came: Open-AutoGLM reads such a reply whole as its answer."""
        self._reasoning.finish()
        answer = self._answer.write("".join(self._seen)) + self._answer.finish()
        return Split(answer=answer, reset_reasoning=bool(answer))

    def _tag(self, tag: str, reasoning: list[str]) -> None:
        if self._before_boundary:
            if tag == THINK_OPEN:  # the trace goes on, now inside tags
                reasoning.append(self._reasoning.write(self._held))
                self._held = ""
                self._before_boundary, self._in_reasoning = False, True
                self._seen.clear()
            elif tag in (THINK_CLOSE, ANSWER_OPEN):
                self._end_trace(reasoning)
            return
        if tag == THINK_OPEN and not self._in_reasoning:
            self._answer.end_segment()
            self._in_reasoning = True
        elif tag == THINK_CLOSE and self._in_reasoning:
            self._reasoning.end_segment()
            self._in_reasoning = False
        # <answer>, </answer> and stray think tags are simply removed.


def split_reasoning(
    text: str, *, starts_in_reasoning: bool = False, reasoning_model: bool = False
) -> Split:
    """Whole-text convenience: feed + finish."""
    splitter = ReasoningSplitter(
        starts_in_reasoning=starts_in_reasoning, reasoning_model=reasoning_model
    )
    return Split() + splitter.feed(text) + splitter.finish()


class TagRemover:
    """Drops the reasoning tags from streamed text and keeps everything else verbatim.

    That is what a client of vLLM without a reasoning parser receives, since the tags are
    special tokens and vLLM skips special tokens: trace and action run together in
    ``content``. Only a suffix that could still become a tag is held back.
    """

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> str:
        parts, self._pending = _scan(self._pending + text)
        return "".join(part for part in parts if part not in TAGS)

    def finish(self) -> str:
        pending, self._pending = self._pending, ""
        return pending
