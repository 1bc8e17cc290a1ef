"""Image URLs: fetched only from allowed hosts, with every redirect hop checked."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from PIL import Image

from tests.conftest import app_for, free_port, serve_app

URL_TIMEOUT_S = 2


def image_host() -> FastAPI:
    """A stand-in for a picture server the operator trusts (127.0.0.1 only)."""
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), "orange").save(buffer, format="PNG")
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/shot.png")
    def shot() -> Response:
        return Response(buffer.getvalue(), media_type="image/png")

    @app.get("/moved")
    def moved() -> RedirectResponse:
        return RedirectResponse("/shot.png")

    @app.get("/to-private")
    def to_private(port: int) -> RedirectResponse:
        # 127.0.0.2 stands for a private address the allow-list does not name.
        return RedirectResponse(f"http://127.0.0.2:{port}/shot.png")

    @app.get("/huge")
    def huge() -> Response:
        return Response(b"\0" * (3 * 2**20), media_type="image/png")

    @app.get("/drip")
    def drip() -> StreamingResponse:
        async def one_byte_a_while() -> AsyncIterator[bytes]:
            for byte in buffer.getvalue():  # each read well within the per-read timeout
                yield bytes([byte])
                await asyncio.sleep(0.5)

        return StreamingResponse(one_byte_a_while(), media_type="image/png")

    return app


@pytest.fixture(scope="module")
def urls(tiny_llama_dir: Path) -> Iterator[tuple[str, str]]:
    with serve_app(image_host()) as pictures:
        chat = app_for(
            tiny_llama_dir,
            image_url_hosts=("127.0.0.1",),
            max_request_mb=2,
            image_url_timeout=URL_TIMEOUT_S,
        )
        with serve_app(chat) as api:
            yield api, pictures


def ask(api: str, image_url: str) -> httpx.Response:
    part = {"type": "image_url", "image_url": {"url": image_url}}
    body = {
        "model": "autoglm-phone-9b",
        "max_tokens": 1,
        "messages": [{"role": "user", "content": [part, {"type": "text", "text": "?"}]}],
    }
    return httpx.post(f"{api}/v1/chat/completions", json=body, timeout=60)


def test_an_allowed_host_is_fetched_and_redirects_within_it_followed(urls: tuple[str, str]) -> None:
    api, pictures = urls
    assert ask(api, f"{pictures}/shot.png").status_code == 200
    assert ask(api, f"{pictures}/moved").status_code == 200


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("localhost-instead", "does not fetch images from http://localhost"),
        ("/to-private", "does not fetch images from http://127.0.0.2"),
        ("/missing.png", "HTTP 404"),
        ("/huge", "larger than"),
        ("closed-port", "could not be fetched"),
    ],
)
def test_everything_else_is_refused_with_a_reason(
    urls: tuple[str, str], path: str, fragment: str
) -> None:
    api, pictures = urls
    port = pictures.rsplit(":", 1)[1]
    url = {
        "localhost-instead": f"http://localhost:{port}/shot.png",
        "/to-private": f"{pictures}/to-private?port={port}",
        "closed-port": f"http://127.0.0.1:{free_port()}/shot.png",
    }.get(path, f"{pictures}{path}")
    response = ask(api, url)
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]


def test_without_an_allow_list_no_url_is_fetched(tiny_llama_dir: Path, urls: tuple[str, str]) -> None:
    _, pictures = urls
    with serve_app(app_for(tiny_llama_dir)) as api:
        response = ask(api, f"{pictures}/shot.png")
    assert response.status_code == 400
    assert "only data: URIs" in response.json()["error"]["message"]


def test_a_host_that_drips_bytes_meets_the_overall_deadline(urls: tuple[str, str]) -> None:
    api, pictures = urls
    started = time.monotonic()
    response = ask(api, f"{pictures}/drip")
    elapsed = time.monotonic() - started
    assert response.status_code == 400
    assert f"took longer than {URL_TIMEOUT_S} s" in response.json()["error"]["message"]
    assert elapsed < URL_TIMEOUT_S + 5  # at most one more read past the deadline


@pytest.mark.parametrize("control", ["\x01", "\n", "\x00", "\x7f"])
def test_a_control_character_in_the_url_is_a_400(urls: tuple[str, str], control: str) -> None:
    api, pictures = urls
    host, port = pictures.removeprefix("http://").split(":")
    response = ask(api, f"http://{host[:4]}{control}{host[4:]}:{port}/shot.png")
    assert response.status_code == 400, response.text
    assert "not a valid URL" in response.json()["error"]["message"]
