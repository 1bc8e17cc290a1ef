"""Admission counts every request from its arrival: a burst past --max-concurrent plus
--max-queue is refused at once with 429 and Retry-After, even while every admitted request
is still being prepared (images decoded, OCR, prompt rendering), and the key is checked
before any body is read."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import app_for, serve_app

CHAT = {"model": "autoglm-phone-9b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
BURST = 32
MAX_QUEUE = 8


@pytest.fixture(scope="module")
def app(tiny_llama_dir: Path) -> FastAPI:
    return app_for(tiny_llama_dir, max_concurrent=1, max_queue=MAX_QUEUE, api_key="k")


@pytest.fixture(scope="module")
def base_url(app: FastAPI) -> Iterator[str]:
    with serve_app(app) as url:
        yield url


class _HeldPreparation:
    """Holds every prompt rendering (the last step before a request waits for a slot)
    until released, so a whole burst is in preprocessing at once."""

    def __init__(self, runtime: Any) -> None:
        self._runtime = runtime
        self._inner = runtime.prepare
        self.release = threading.Event()
        self.entered = 0
        runtime.prepare = self

    def __call__(self, *args: Any) -> Any:
        self.entered += 1
        assert self.release.wait(timeout=60)
        return self._inner(*args)

    def restore(self) -> None:
        self.release.set()
        self._runtime.prepare = self._inner


def test_a_burst_in_preprocessing_gets_429s_past_the_bound(app: FastAPI, base_url: str) -> None:
    held = _HeldPreparation(app.state.pool.default.engine.runtime)
    headers = {"Authorization": "Bearer k"}
    try:
        with ThreadPoolExecutor(BURST) as pool:
            futures = [
                pool.submit(
                    httpx.post, f"{base_url}/v1/chat/completions", json=CHAT, headers=headers,
                    timeout=120,
                )
                for _ in range(BURST)
            ]
            refused = _wait_for(futures, BURST - MAX_QUEUE - 1, deadline_s=60)
            assert all(r.status_code == 429 for r in refused), [r.text for r in refused]
            assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
            assert refused[0].json()["error"]["code"] == "queue_full"
            # A transcription is a request like any other: no place, no work.
            audio = httpx.post(
                f"{base_url}/v1/audio/transcriptions", headers=headers,
                files={"file": ("a.wav", b"RIFF")}, data={"model": "whisper-1"}, timeout=30,
            )
            assert audio.status_code == 429
            assert app.state.pool.admission.held == MAX_QUEUE + 1
            held.release.set()
            served = [f.result(timeout=120) for f in futures if f.result().status_code != 429]
    finally:
        held.restore()
    assert [r.status_code for r in served] == [200] * (MAX_QUEUE + 1)
    assert app.state.pool.admission.held == 0  # every place given back
    ok = httpx.post(f"{base_url}/v1/chat/completions", json=CHAT, headers=headers, timeout=60)
    assert ok.status_code == 200


def _wait_for(futures: list[Any], count: int, deadline_s: float) -> list[httpx.Response]:
    """The first `count` answers of a burst (bounded in time)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        done = [f.result() for f in futures if f.done()]
        if len(done) >= count:
            return done
        time.sleep(0.05)
    raise TimeoutError(f"fewer than {count} answers within {deadline_s} s")


def test_a_request_without_the_key_is_refused_before_its_body_is_read(base_url: str) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        # Declares 50 MB and sends none of it: the answer must not wait for the body.
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
        )
        answer = _read_response(sock)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"invalid_api_key" in answer


def _read_response(sock: socket.socket) -> bytes:
    """Headers and the declared body: they may arrive in separate packets."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(4096) or b"\r\n\r\n"
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
         if line.startswith(b"content-length:")),
        0,
    )
    while len(body) < length and (chunk := sock.recv(4096)):
        body += chunk
    return head + b"\r\n\r\n" + body
