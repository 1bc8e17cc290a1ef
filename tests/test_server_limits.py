"""Oversized input: big photos are scaled, bombs and huge bodies refused, CORS off by default."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.conftest import app_for, serve_app

MODEL = "autoglm-phone-9b"


@pytest.fixture(scope="module")
def base_url(tiny_glm4v_dir: Path) -> Iterator[str]:
    app = app_for(
        tiny_glm4v_dir,
        default_precision="full",
        max_image_pixels=30_000_000,
        max_image_side=256,
        max_request_mb=2,
    )
    with serve_app(app) as url:
        yield url


def image_request(image: Image.Image, format: str) -> dict[str, object]:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    uri = f"data:image/{format.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()
    part = {"type": "image_url", "image_url": {"url": uri}}
    return {
        "model": MODEL,
        "max_tokens": 1,
        "messages": [{"role": "user", "content": [part, {"type": "text", "text": "?"}]}],
    }


def prompt_tokens(base_url: str, body: dict[str, object]) -> int:
    response = httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()["usage"]["prompt_tokens"]


def test_a_large_photo_is_scaled_to_the_limit_not_refused(base_url: str) -> None:
    large = prompt_tokens(base_url, image_request(Image.new("RGB", (4000, 3000), "gray"), "JPEG"))
    at_limit = prompt_tokens(base_url, image_request(Image.new("RGB", (256, 192), "gray"), "JPEG"))
    assert large == at_limit  # same vision tokens: the 12 MP photo reached the model at 256 px


def test_an_image_over_the_pixel_cap_is_refused_by_its_header(base_url: str) -> None:
    body = image_request(Image.new("1", (8000, 5000)), "PNG")  # 40 MP, tiny as a 1-bit PNG
    response = httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 400
    assert "40 megapixels" in response.json()["error"]["message"]


def test_a_decompression_bomb_is_refused(base_url: str) -> None:
    body = image_request(Image.new("1", (15000, 15000)), "PNG")  # 225 MP: Pillow's own guard
    response = httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 400
    assert "pixels" in response.json()["error"]["message"]


def test_a_body_over_the_limit_gets_413_declared_or_chunked(base_url: str) -> None:
    oversized = b'{"model": "' + b"x" * (3 * 2**20) + b'"}'
    declared = httpx.post(
        f"{base_url}/v1/chat/completions",
        content=oversized,
        headers={"content-type": "application/json"},
    )
    assert declared.status_code == 413
    assert "2 MiB" in declared.json()["error"]["message"]

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(oversized), 2**16):
            yield oversized[start : start + 2**16]

    chunked = httpx.post(
        f"{base_url}/v1/chat/completions",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert chunked.status_code == 413
    assert chunked.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(f"{base_url}/health").status_code == 200


def test_cors_is_off_unless_configured(base_url: str, tiny_llama_dir: Path) -> None:
    preflight = {"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"}
    refused = httpx.options(f"{base_url}/v1/chat/completions", headers=preflight)
    assert "access-control-allow-origin" not in refused.headers
    app = app_for(tiny_llama_dir, cors_origins=("https://elsewhere.example",))
    with serve_app(app) as allowed_url:
        allowed = httpx.options(f"{allowed_url}/v1/chat/completions", headers=preflight)
    assert allowed.headers["access-control-allow-origin"] == "https://elsewhere.example"
