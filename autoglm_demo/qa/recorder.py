"""Recording the page's turns without slowing the page down.

When a turn finishes, the page calls `Recorder.record`, which takes a snapshot of the turn
and puts it on a queue; that is all the streaming path ever waits for. One background
thread writes the queue to the store in order: reading and hashing media files, then one
transaction per turn. One thread, rather than a thread per write, because order matters:
feedback on a turn must reach the database after the turn itself.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from sqlalchemy.exc import OperationalError

from autoglm_demo.answering import AnswerRequest
from autoglm_demo.conversation import Turn
from autoglm_demo.qa.media import read_media
from autoglm_demo.qa.records import (
    Blob,
    Feedback,
    MediaKind,
    MediaRef,
    RecordedMetrics,
    RecordedOptions,
    RecordStatus,
    SessionRecord,
    TurnRecord,
    new_id,
    title_of,
    utc_now,
)
from autoglm_demo.qa.store import QaStore
from autoglm_demo.scoring import Target

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.5, 2.0, 8.0)  # a database that restarts or is briefly locked


@dataclass
class QaSession:
    """One browser session's QA state (kept in gr.State): which session its turns go to,
    and the feedback given so far."""

    id: str = field(default_factory=new_id)
    created_at: datetime = field(default_factory=utc_now)
    title: str = ""
    replay_of: str | None = None
    # Set: the session is a multi-step episode of this task, and each agent-mode turn
    # recorded in it is its next step (the first one's question states the task).
    task: str | None = None
    recorded: int = 0  # turns recorded so far, which numbers the next one
    feedback: dict[str, Feedback] = field(default_factory=dict)  # by turn record id
    commenting: str | None = None  # the rated turn the comment box is for

    def header(self) -> SessionRecord:
        return SessionRecord(self.id, self.created_at, self.title, self.replay_of, task=self.task)


class Recorder:
    def __init__(self, store: QaStore, *, store_media: bool) -> None:
        self.store = store
        self.store_media = store_media
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="qa-recorder", daemon=True)
        self._thread.start()

    def record(
        self,
        session: QaSession,
        turns: list[Turn],
        request: AnswerRequest,
        *,
        replay_of: str | None = None,
        target: Target | None = None,
    ) -> None:
        """Queue the last of `turns`, just finished (done, stopped or failed), for writing.
        `target`: the right answer, when it is already known (a replay of a marked turn)."""
        *earlier, turn = turns
        turn.record_id = new_id()
        session.title = session.title or title_of(turn.text)
        record = TurnRecord(
            id=turn.record_id,
            session_id=session.id,
            seq=session.recorded,
            created_at=utc_now(),
            text=turn.text,
            # References need the files read and hashed: the writer fills them in, off this path.
            images=(),
            audio=None,
            system_prompt=request.system_prompt,
            context=tuple(t.record_id for t in earlier if t.in_context and t.record_id),
            model=request.model,
            precision=request.precision,
            options=RecordedOptions.of(request.options),
            status=RecordStatus(turn.status.value),
            reasoning=turn.reasoning,
            answer=turn.answer,
            error=turn.error,
            metrics=RecordedMetrics.of(turn.metrics) if turn.metrics else None,
            reasoning_seconds=turn.reasoning_seconds,
            replay_of=replay_of,
            target=target,
        )
        session.recorded += 1
        self._jobs.put(
            partial(self._write_turn, session.header(), record, list(turn.images), turn.audio)
        )

    def rate(self, turn_id: str, feedback: Feedback | None) -> None:
        """Queue feedback on a recorded turn (None clears it)."""
        self._jobs.put(partial(self.store.set_feedback, turn_id, feedback))

    def mark(self, turn_id: str, target: Target | None) -> None:
        """Queue the right answer of a recorded turn (None clears it)."""
        self._jobs.put(partial(self.store.set_target, turn_id, target))

    def flush(self) -> None:
        """Wait until everything queued so far is written (or given up on)."""
        self._jobs.join()

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()

    def _write_turn(
        self, session: SessionRecord, record: TurnRecord, images: list[str], audio: str | None
    ) -> None:
        blobs: list[Blob] = []

        def reference(path: str, kind: MediaKind) -> MediaRef:
            ref, blob = read_media(path, kind)
            if blob and self.store_media:
                blobs.append(blob)
            return ref

        record = dataclasses.replace(
            record,
            images=tuple(reference(path, MediaKind.IMAGE) for path in images),
            audio=reference(audio, MediaKind.AUDIO) if audio else None,
        )
        self.store.add_turn(session, record, blobs)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                _attempt(job)
            finally:
                self._jobs.task_done()
        self._jobs.task_done()


def _attempt(job: Callable[[], None]) -> None:
    for delay in (*RETRY_DELAYS_S, None):
        try:
            job()
            return
        except OperationalError as error:  # unreachable or locked: worth another try
            if delay is None:
                log.error(
                    "QA recording: giving up on a write after %d tries: %s",
                    len(RETRY_DELAYS_S) + 1,
                    error,
                )
                return
            log.warning("QA recording: write failed (%s); retrying in %.1f s", error, delay)
            time.sleep(delay)
        except Exception:  # the writer thread must outlive any one bad write
            log.exception("QA recording: a write failed")
            return
