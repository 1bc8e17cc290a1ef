"""Access control for stakeholder demos: the API key on /v1 and the page's password."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from autoglm_demo import main, page_assembly
from autoglm_demo.client import BackendClient
from autoglm_demo.main import build_page_app, build_pool
from autoglm_demo.server.api import create_app
from autoglm_demo.settings import Settings
from autoglm_demo.ui import handlers
from tests.conftest import free_port, serve_app

KEY = "demo-key-7f3a"


def api(settings: Settings) -> TestClient:
    """The server app without its lifespan, so no model starts loading."""
    return TestClient(create_app(settings, build_pool(settings)))


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}],
    ids=["no key", "wrong key", "not bearer"],
)
def test_v1_refuses_requests_without_the_key(headers: dict[str, str]) -> None:
    client = api(Settings(api_key=KEY))
    for response in (
        client.get("/v1/models", headers=headers),
        client.post("/v1/chat/completions", headers=headers, json={"model": "x", "messages": []}),
    ):
        assert response.status_code == 401
        assert response.json() == {"error": {
            "message": "Missing or incorrect API key. Send it as 'Authorization: Bearer KEY'.",
            "type": "authentication_error", "param": None, "code": "invalid_api_key",
        }}


def test_v1_answers_with_the_key_and_health_needs_none() -> None:
    client = api(Settings(api_key=KEY))
    models = client.get("/v1/models", headers={"Authorization": f"Bearer {KEY}"})
    assert models.status_code == 200
    health = client.get("/health")  # no key sent: not refused, but 503 (no model was loaded)
    assert health.status_code == 503
    assert health.json()["model"] in {card["id"] for card in models.json()["data"]}
    assert health.json()["status"] != "ready"


def test_v1_is_open_without_a_key_setting() -> None:
    assert api(Settings()).get("/v1/models").status_code == 200


def test_the_api_schema_needs_the_key_and_the_docs_pages_are_off_with_one() -> None:
    client = api(Settings(api_key=KEY))
    refused = client.get("/openapi.json")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    schema = client.get("/openapi.json", headers={"Authorization": f"Bearer {KEY}"})
    assert "/v1/chat/completions" in schema.json()["paths"]
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404
    open_client = api(Settings())
    assert open_client.get("/docs").status_code == 200
    assert "/v1/chat/completions" in open_client.get("/openapi.json").json()["paths"]


@pytest.fixture
def keyed_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, BackendClient]]:
    """The page app (embedded API) with a key; yields its URL and the page's own client."""
    made: list[BackendClient] = []

    def recording_client(*args: Any, **kwargs: Any) -> BackendClient:
        made.append(BackendClient(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(page_assembly, "BackendClient", recording_client)
    port = free_port()
    # A config without weights passes the start-up check and fails to load at once: /v1/models
    # answers, with no model loaded.
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    settings = Settings(model=str(tmp_path), api_key=KEY, port=port, log_level="warning")
    with serve_app(build_page_app(settings), port=port, ready_path=None) as url:
        yield url, made[0]


def test_page_reaches_its_own_api_when_a_key_is_set(keyed_page: tuple[str, BackendClient]) -> None:
    url, page_client = keyed_page
    _, problem = asyncio.run(handlers.fetch_models(page_client))
    assert problem is None
    _, problem = asyncio.run(handlers.fetch_models(BackendClient(url + "/v1")))
    assert problem and "401" in problem


def test_page_password_keeps_the_page_behind_a_login() -> None:
    port = free_port()
    settings = Settings(backend_url="http://127.0.0.1:9/v1", page_auth="demo:pass:word",
                        port=port, log_level="warning")
    with serve_app(build_page_app(settings), port=port, ready_path=None) as url:
        visitor = httpx.Client(base_url=url)
        assert "chatbot" not in visitor.get("/").text  # the login form, not the page
        assert visitor.get("/config").status_code == 401
        login = {"username": "demo", "password": "pass"}
        assert visitor.post("/login", data=login).status_code == 400
        assert visitor.post("/login", data={**login, "password": "pass:word"}).status_code == 200
        assert "chatbot" in visitor.get("/config").text


@pytest.mark.parametrize("value", ["demo", "demo:", ":secret"])
def test_page_password_must_be_user_colon_password(value: str) -> None:
    with pytest.raises(SystemExit, match="USER:PASSWORD"):
        main.page_login(value)
