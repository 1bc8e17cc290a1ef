"""Slow clients are dropped: headers and bodies that dribble in meet --read-timeout."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from autoglm_demo.server.deadlines import uvicorn_options
from tests.conftest import app_for, serve_app

READ_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def address(tiny_llama_dir: Path) -> Iterator[tuple[str, int]]:
    app = app_for(tiny_llama_dir, read_timeout=READ_TIMEOUT_S)
    with serve_app(app, **uvicorn_options(READ_TIMEOUT_S)) as url:
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bytes, float]:
    """Everything the server sent until it closed the connection, and when that was."""
    started = time.monotonic()
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except ConnectionResetError:
        # A byte the client sent after the server's close makes TCP answer with a reset
        # rather than a FIN; either way the connection is closed, and what came before it
        # was already read.
        pass
    return received, time.monotonic() - started


def test_a_body_dribbled_byte_by_byte_gets_408_and_the_connection_closes(
    address: tuple[str, int],
) -> None:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        )
        started = time.monotonic()
        sock.settimeout(0.4)  # one byte per 0.4 s: the 100 bytes would take 40 s
        answer = b""
        while not answer and time.monotonic() - started < READ_TIMEOUT_S + 8:
            try:
                sock.sendall(b" ")
                answer = sock.recv(4096)
            except TimeoutError:
                continue
        elapsed = time.monotonic() - started
        rest, _ = _closed_within(sock, 5)
    answer += rest
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"type":"invalid_request_error"' in answer
    # The server counts from the connection, a moment before `started`.
    assert READ_TIMEOUT_S - 0.5 <= elapsed < READ_TIMEOUT_S + 6


def test_half_sent_headers_are_closed_after_the_deadline(address: tuple[str, int]) -> None:
    with ExitStack() as stack:
        socks = [
            stack.enter_context(socket.create_connection(address, timeout=10)) for _ in range(50)
        ]
        for sock in socks:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Le")
        started = time.monotonic()
        for sock in socks:
            received, _ = _closed_within(sock, READ_TIMEOUT_S + 5)
            assert received == b""
        elapsed = time.monotonic() - started
    assert READ_TIMEOUT_S - 0.5 <= elapsed < READ_TIMEOUT_S + 5
    # The server keeps serving everyone else.
    host, port = address
    assert httpx.get(f"http://{host}:{port}/health", timeout=10).status_code == 200


def test_a_silent_connection_is_closed_and_a_prompt_one_is_served(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=10) as silent:
        received, elapsed = _closed_within(silent, READ_TIMEOUT_S + 5)
    assert received == b"" and elapsed < READ_TIMEOUT_S + 5
    with socket.create_connection(address, timeout=10) as prompt:
        prompt.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert prompt.recv(4096).startswith(b"HTTP/1.1 200")
