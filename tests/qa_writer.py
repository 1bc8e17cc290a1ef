"""A page process recording QA turns, run by tests/test_qa_durability.py as a subprocess so
that it can write concurrently with others, or be killed with SIGKILL mid-write.

    python -m tests.qa_writer many URL SESSIONS TURNS IMAGE   threads recording at once;
                                                              prints {session: [turn ids]}
    python -m tests.qa_writer steady URL IMAGE                records turns one by one until
                                                              killed; prints each committed id
    python -m tests.qa_writer stream URL BACKEND              answers one question from BACKEND,
                                                              prints its id once committed, then
                                                              streams a long answer until killed
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import threading
from itertools import count

from autoglm_demo.answering import AnswerRequest, stream_answer
from autoglm_demo.client import BackendClient, ChatOptions
from autoglm_demo.conversation import Turn
from autoglm_demo.qa.recorder import QaSession, Recorder
from autoglm_demo.qa.store import QaStore
from tests.qa_support import REQUEST, finished_turn


def many(url: str, sessions: int, turns: int, image: str) -> None:
    recorder = Recorder(QaStore(url), store_media=True)
    recorded: dict[str, list[str]] = {}

    def converse() -> None:
        session = QaSession()
        conversation: list[Turn] = []
        for number in range(turns):
            conversation.append(
                finished_turn(f"{session.id} question {number}", f"answer {number}", [image])
            )
            recorder.record(session, conversation, REQUEST)
        recorded[session.id] = [turn.record_id or "" for turn in conversation]

    threads = [threading.Thread(target=converse) for _ in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.close()
    print(json.dumps(recorded), flush=True)


def steady(url: str, image: str) -> None:
    recorder = Recorder(QaStore(url), store_media=True)
    session = QaSession()
    conversation: list[Turn] = []
    for number in count():
        conversation.append(finished_turn(f"question {number}", f"answer {number}", [image]))
        recorder.record(session, conversation, REQUEST)
        recorder.flush()
        print(conversation[-1].record_id, flush=True)


def stream(url: str, backend: str) -> None:
    recorder = Recorder(QaStore(url), store_media=False)
    session = QaSession()
    client = BackendClient(backend)
    request = AnswerRequest("autoglm-phone-9b", None, "", ChatOptions(max_tokens=1900))
    turns: list[Turn] = []

    def record(finished: list[Turn]) -> None:
        recorder.record(session, finished, request)

    async def converse() -> None:
        turns.append(Turn("hello"))
        short = dataclasses.replace(request, options=ChatOptions(max_tokens=8))
        async for _ in stream_answer(client, turns, short, on_finished=record):
            pass
        recorder.flush()
        print("committed", turns[-1].record_id, flush=True)
        turns.append(Turn("Tell me a long story."))
        answer = stream_answer(client, turns, request, on_finished=record)
        async for current in answer:
            if current[-1].answer:
                break
        # The answer has started; `answer` is kept (not closed), so the turn stays in flight
        # until the process is killed.
        print("streaming", flush=True)
        await asyncio.Event().wait()

    asyncio.run(converse())


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "many":
        many(args[0], int(args[1]), int(args[2]), args[3])
    elif mode == "steady":
        steady(*args)
    else:
        stream(*args)
