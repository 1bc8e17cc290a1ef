"""Accuracy per variant: replay marked sessions on each variant and score every marked turn.

Each session is replayed on each variant through `replay.replay` (so an episode is asked
step by step the way the official agent asks it), each answer to a turn with a target is
scored (`scoring.score_answer`, on the screen size of the turn's own screenshot), and the
hits are counted per variant with a 95% interval. The turns where the variants do not all
hit or all miss are the ones worth a look. The QA tab and `python -m autoglm_demo eval`
both run this.

Variant names are resolved against the backend's /v1/models: a model id as listed (a bare
model name is the server's default variant), or a precision, full, int8 or int4, found as
the `-int8` suffix of an id or the precision the card reports.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from autoglm_demo.answering import AnswerRequest
from autoglm_demo.client import BackendClient, BackendModel, ChatOptions
from autoglm_demo.conversation import Turn
from autoglm_demo.qa.media import MediaFolder
from autoglm_demo.qa.recorder import QaSession, Recorder
from autoglm_demo.qa.records import SessionRecord, TurnRecord
from autoglm_demo.qa.replay import replay
from autoglm_demo.scoring import DEFAULT_TOLERANCE, Miss, Score, Tally, score_answer


class UnknownVariant(ValueError):
    """A variant name the backend does not serve; the message lists what it serves."""


@dataclass(frozen=True)
class TurnScore:
    """One marked turn, answered by one variant."""

    session_id: str
    turn_id: str  # the original turn, which holds the target
    seq: int
    variant: str
    answer: str
    score: Score
    seconds: float  # from asking to the end of the answer
    replay_turn_id: str | None = None  # the recorded replay of the turn, when recorded


@dataclass(frozen=True)
class Disagreement:
    """A turn that some variants hit and others missed."""

    session_id: str
    turn_id: str
    seq: int
    question: str
    scores: tuple[TurnScore, ...]  # one per variant, in the evaluation's order


@dataclass(frozen=True)
class Progress:
    """One step of an evaluation done: `done` of `total` turns asked so far."""

    variant: str
    session_id: str
    done: int
    total: int
    score: TurnScore | None  # None: the turn has no target


@dataclass(frozen=True)
class Evaluation:
    variants: tuple[str, ...]  # as asked for
    models: dict[str, str]  # variant -> the model id it resolved to
    tallies: dict[str, Tally]
    scores: tuple[TurnScore, ...]
    disagreements: tuple[Disagreement, ...]
    tolerance: float
    replays: dict[tuple[str, str], str] = field(default_factory=dict)
    """(variant, original session id) -> the recorded replay's session id."""


OnStep = Callable[[Progress], None]


def resolve_variants(
    models: Sequence[BackendModel], names: Sequence[str]
) -> dict[str, BackendModel]:
    """Each name's model card; UnknownVariant names every one the backend lacks."""
    found, missing = {}, []
    for name in names:
        model = _find(models, name)
        if model is None:
            missing.append(name)
        else:
            found[name] = model
    if missing:
        served = ", ".join(model.id for model in models) or "none"
        raise UnknownVariant(
            f"the backend serves no variant {', '.join(map(repr, missing))} (it serves: {served})"
        )
    return found


def _find(models: Sequence[BackendModel], name: str) -> BackendModel | None:
    exact = [model for model in models if model.id == name]
    suffixed = [model for model in models if model.id.endswith(f"-{name}")]
    reported = [model for model in models if model.details.get("precision") == name]
    return next(iter(exact + suffixed + reported), None)


def answer_request(model: BackendModel) -> AnswerRequest:
    """How to ask `model`; replay fills in each turn's own prompt and options."""
    return AnswerRequest(
        model.id,
        model.details.get("precision"),
        "",
        ChatOptions(),
        model.details.get("weight_bytes"),
        reasoning_model=model.thinks,
    )


async def evaluate(
    client: BackendClient,
    sessions: Sequence[SessionRecord],
    variants: Sequence[str],
    media: MediaFolder,
    tolerance: float = DEFAULT_TOLERANCE,
    on_step: OnStep | None = None,
    *,
    recorder: Recorder | None = None,
    options: ChatOptions | None = None,
) -> Evaluation:
    """Replay every session on every variant and score its marked turns. With `recorder`,
    each replay is recorded as a session of its own, as the QA tab's replays are. Every
    turn is asked with `options` when given, else with the options recorded with it."""
    if not variants:
        raise UnknownVariant("no variant to evaluate")
    cards = resolve_variants(await client.list_models(), variants)
    total = len(variants) * sum(len(session.turns) for session in sessions)
    scores: list[TurnScore] = []
    replays: dict[tuple[str, str], str] = {}
    done = 0
    # Variant by variant: a backend that keeps few variants loaded swaps each in once.
    for variant in variants:
        request = answer_request(cards[variant])
        for session in sessions:
            run = _Run(variant, session, recorder)
            started = time.perf_counter()
            asked = replay(client, session, request, media, run.record, options)
            async for comparison in asked:
                old = session.turns[run.asked]
                run.asked += 1
                done += 1
                score = await run.score(old, comparison.new, media, tolerance, started)
                if score:
                    scores.append(score)
                if on_step:
                    on_step(Progress(variant, session.id, done, total, score))
                started = time.perf_counter()
            if run.recording:
                replays[(variant, session.id)] = run.recording.id
    tallies = {
        variant: Tally(
            sum(s.score.hit for s in scores if s.variant == variant),
            sum(s.variant == variant for s in scores),
        )
        for variant in variants
    }
    return Evaluation(
        tuple(variants),
        {variant: cards[variant].id for variant in variants},
        tallies,
        tuple(scores),
        _disagreements(sessions, variants, scores),
        tolerance,
        replays,
    )


class _Run:
    """One session replayed on one variant: which turn is next, and its recording."""

    def __init__(self, variant: str, session: SessionRecord, recorder: Recorder | None) -> None:
        self.variant = variant
        self.session = session
        self.asked = 0
        self.recorder = recorder
        self.recording = (
            QaSession(title=session.title, replay_of=session.id, task=session.task)
            if recorder
            else None
        )

    def record(self, old: TurnRecord, request: AnswerRequest, turns: list[Turn]) -> None:
        if self.recorder and self.recording:
            self.recorder.record(
                self.recording, turns, request, replay_of=old.id, target=old.target
            )

    async def score(
        self, old: TurnRecord, new: Turn, media: MediaFolder, tolerance: float, started: float
    ) -> TurnScore | None:
        seconds = time.perf_counter() - started
        if old.target is None:
            return None
        screen = await asyncio.to_thread(media.screen_size, old)
        score = score_answer(new.answer, old.target, screen, tolerance)
        if new.error:  # a miss all the same, but say why no answer came
            score = Score.missed(Miss.FAILED, error=new.error)
        return TurnScore(
            self.session.id,
            old.id,
            old.seq,
            self.variant,
            new.answer,
            score,
            seconds,
            new.record_id,
        )


def _disagreements(
    sessions: Sequence[SessionRecord], variants: Sequence[str], scores: Sequence[TurnScore]
) -> tuple[Disagreement, ...]:
    by_turn: dict[str, dict[str, TurnScore]] = {}
    for score in scores:
        by_turn.setdefault(score.turn_id, {})[score.variant] = score
    found = []
    for session in sessions:
        for turn in session.turns:
            answered = by_turn.get(turn.id, {})
            if len({score.score.hit for score in answered.values()}) > 1:
                ordered = tuple(answered[v] for v in variants if v in answered)
                question = turn.text or session.task or ""
                found.append(Disagreement(session.id, turn.id, turn.seq, question, ordered))
    return tuple(found)
