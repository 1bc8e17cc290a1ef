"""The in-process transport: a real FastAPI app called without a socket, through httpx2 and
through the openai SDK as the page uses it."""

from __future__ import annotations

import asyncio
import json
import time

import httpx2
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from autoglm_demo.client import AnswerDelta, BackendClient, BackendError, ChatOptions
from autoglm_demo.inprocess import StreamingASGITransport

GAP_S = 0.3  # between two chunks: long enough that buffering would show


def streaming_app(events: list[str]) -> FastAPI:
    """An OpenAI-shaped chat stream of three words, one every GAP_S, that notes how it ends."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> StreamingResponse:
        body = await request.json()
        events.append(f"model {body['model']}")

        async def chunks():
            try:
                for word in ("one ", "two ", "three"):
                    chunk = {
                        "id": "c",
                        "object": "chat.completion.chunk",
                        "created": 0,
                        "model": "m",
                        "choices": [{"index": 0, "delta": {"content": word}}],
                    }
                    yield f"data: {json.dumps(chunk)}\n\n"
                    await asyncio.sleep(GAP_S)
                yield "data: [DONE]\n\n"
                events.append("finished")
            except asyncio.CancelledError:
                events.append("cancelled")
                raise

        return StreamingResponse(chunks(), media_type="text/event-stream")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("broken before answering")

    return app


def test_chunks_arrive_as_the_app_sends_them() -> None:
    events: list[str] = []

    async def read() -> list[float]:
        transport = StreamingASGITransport(streaming_app(events))
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:1") as client:
            started = time.perf_counter()
            arrivals = []
            async with client.stream("POST", "/v1/chat/completions", json={"model": "m"}) as reply:
                assert reply.status_code == 200
                assert reply.headers["content-type"].startswith("text/event-stream")
                async for line in reply.aiter_lines():
                    if line.startswith("data: {"):
                        arrivals.append(time.perf_counter() - started)
            return arrivals

    arrivals = asyncio.run(read())
    assert len(arrivals) == 3
    # The first word is there long before the app has sent the last one.
    assert arrivals[0] < arrivals[2] - GAP_S
    assert events == ["model m", "finished"]


def test_closing_early_disconnects_and_cancels_the_app() -> None:
    events: list[str] = []

    async def read_one() -> None:
        transport = StreamingASGITransport(streaming_app(events))
        async with (
            httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:1") as client,
            client.stream("POST", "/v1/chat/completions", json={"model": "m"}) as reply,
        ):
            async for line in reply.aiter_lines():
                if line:
                    break
        await asyncio.sleep(0.1)

    asyncio.run(read_one())
    assert events == ["model m", "cancelled"]


def test_cancelling_before_the_response_starts_disconnects() -> None:
    """Stop during the work before a stream begins (a long prefill, say): the endless stream
    that follows sees the disconnect and ends, so nothing runs on in the background."""
    events: list[str] = []
    app = FastAPI()

    @app.post("/slow")
    async def slow() -> StreamingResponse:
        await asyncio.sleep(0.5)

        async def body():
            while True:
                events.append("sent")
                yield b"more"
                await asyncio.sleep(0.05)

        return StreamingResponse(body())

    async def give_up() -> None:
        transport = StreamingASGITransport(app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:1") as client:
            request = asyncio.create_task(client.post("/slow"))
            await asyncio.sleep(0.1)
            request.cancel()
            with pytest.raises(asyncio.CancelledError):
                await request
            for _ in range(50):  # the app winds down on its own, within a second or so
                if not transport.running:
                    break
                await asyncio.sleep(0.1)
            assert not transport.running

    asyncio.run(asyncio.wait_for(give_up(), timeout=20))
    assert len(events) <= 2


def test_openai_client_streams_in_process_and_reports_app_failures() -> None:
    events: list[str] = []

    async def chat() -> tuple[list[str], str]:
        app = streaming_app(events)
        client = BackendClient("http://127.0.0.1:1/v1", transport=StreamingASGITransport(app))
        words = [
            event.text
            async for event in client.stream_chat("m", [], ChatOptions())
            if isinstance(event, AnswerDelta)
        ]
        await client.close()
        return words, "".join(words)

    words, text = asyncio.run(chat())
    assert text == "one two three" and len(words) == 3
    assert events == ["model m", "finished"]


def test_an_app_failure_is_a_500_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def get() -> int:
        transport = StreamingASGITransport(streaming_app([]))
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:1") as client:
            return (await client.get("/boom")).status_code

    assert asyncio.run(get()) == 500
    assert "broken before answering" in caplog.text


def test_an_app_that_sends_nothing_raises_to_the_caller() -> None:
    async def app(scope, receive, send) -> None:
        raise ValueError("no response at all")

    async def get() -> None:
        async with httpx2.AsyncClient(
            transport=StreamingASGITransport(app), base_url="http://127.0.0.1:1"
        ) as client:
            await client.get("/")

    with pytest.raises(ValueError, match="no response at all"):
        asyncio.run(get())


def test_unknown_route_is_an_ordinary_404() -> None:
    async def chat() -> list[BackendError]:
        client = BackendClient(
            "http://127.0.0.1:1/nothing", transport=StreamingASGITransport(FastAPI())
        )
        events = [event async for event in client.stream_chat("m", [], ChatOptions())]
        await client.close()
        return events

    (error,) = asyncio.run(chat())
    assert isinstance(error, BackendError) and "404" in error.message
