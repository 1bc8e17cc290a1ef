"""Replaying a recorded session on another model, and comparing the answers.

A replay asks each recorded question again, in the order it was answered, through the
page's own answering code (`answering.stream_answer`), so the new answers and their metrics
are measured exactly as the page measures them. Each question goes with the history it had
when it was recorded, but with the new model's answers in that history: the replay is the
conversation the tester would have had with the new model.

A multi-step episode is replayed the way the official agent runs one (phone-agent mode):
each step goes with every earlier step's new think/answer, the task is stated once, in the
first step, only the latest screenshot is sent, and every step has its screen-info line,
naming the app as the official agent does when it does not know it (`UNKNOWN_APP`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial

from autoglm_demo.answering import AnswerRequest, stream_answer
from autoglm_demo.client import BackendClient, ChatOptions
from autoglm_demo.conversation import Turn
from autoglm_demo.phone_agent import UNKNOWN_APP
from autoglm_demo.qa.media import MediaFolder
from autoglm_demo.qa.records import SessionRecord, TurnRecord

# Diff by word, and by character in Chinese and Japanese, which put no spaces between words.
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]|\w+|\s+|[^\w\s]")

# Gets the original turn, the replay's request and its turns once the last one is finished.
OnReplayed = Callable[[TurnRecord, AnswerRequest, list[Turn]], None]


@dataclass(frozen=True)
class TextDiff:
    segments: tuple[tuple[str, str], ...]  # (kind, text), kind: "equal", "delete" or "insert"
    similarity: float  # 1.0 when the texts are the same

    @property
    def changed(self) -> bool:
        return any(kind != "equal" for kind, _ in self.segments)


@dataclass(frozen=True)
class Comparison:
    """One question, answered before and in the replay."""

    question: str
    old: Turn
    new: Turn
    answer_diff: TextDiff
    images_missing: int = 0  # the question's images whose bytes were not stored, so not sent


def diff_text(old: str, new: str) -> TextDiff:
    before, after = _TOKEN.findall(old), _TOKEN.findall(new)
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    segments: list[tuple[str, str]] = []
    for kind, i1, i2, j1, j2 in matcher.get_opcodes():
        if kind == "equal":
            segments.append(("equal", "".join(before[i1:i2])))
            continue
        if i2 > i1:  # "delete" or the old half of "replace"
            segments.append(("delete", "".join(before[i1:i2])))
        if j2 > j1:
            segments.append(("insert", "".join(after[j1:j2])))
    return TextDiff(tuple(segments), matcher.ratio())


def compare(question: str, old: Turn, new: Turn, images_missing: int = 0) -> Comparison:
    return Comparison(question, old, new, diff_text(old.answer, new.answer), images_missing)


async def replay(
    client: BackendClient,
    original: SessionRecord,
    target: AnswerRequest,
    media: MediaFolder,
    on_replayed: OnReplayed | None = None,
    options: ChatOptions | None = None,
) -> AsyncIterator[Comparison]:
    """Ask `target`'s model every question of `original` again, yielding each comparison as
    it is answered. Each question keeps its recorded system prompt, and its recorded
    parameters unless `options` is given for all. `on_replayed` gets each finished turn,
    to record it."""
    replayed: dict[str, Turn] = {}  # original turn id -> the same question, replayed
    for old in original.turns:
        # Stored media may have to be read from the database: not on the event loop.
        images = await asyncio.to_thread(media.paths, old.images)
        audio = await asyncio.to_thread(media.path, old.audio)
        turn = Turn(text=old.text, images=images, audio=audio)
        request = dataclasses.replace(
            target,
            system_prompt=old.system_prompt,
            options=options or old.options.chat_options(),
            agent=target.agent or original.is_episode,
        )
        if original.is_episode and not request.current_app:
            request = dataclasses.replace(request, current_app=UNKNOWN_APP)
        if original.is_episode:  # every earlier step; failed ones drop out of the request
            history = list(replayed.values())
        else:
            history = [replayed[turn_id] for turn_id in old.context if turn_id in replayed]
        finished = partial(on_replayed, old, request) if on_replayed else None
        async for _ in stream_answer(client, [*history, turn], request, on_finished=finished):
            pass
        replayed[old.id] = turn
        yield compare(old.text, old.as_turn([], None), turn, len(old.images) - len(images))


def pair(original: SessionRecord, replayed: SessionRecord) -> list[Comparison]:
    """The comparisons of a replay recorded earlier, rebuilt from both sessions."""
    before = {turn.id: turn for turn in original.turns}
    pairs = [(before[new.replay_of], new) for new in replayed.turns if new.replay_of in before]
    return [compare(old.text, old.as_turn([], None), new.as_turn([], None)) for old, new in pairs]
