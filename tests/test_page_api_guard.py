"""The guard in front of the page's API routes: which routes want which credential."""

from __future__ import annotations

import base64

from fastapi import FastAPI
from fastapi.testclient import TestClient

from autoglm_demo.access import basic_matches, bearer_matches
from autoglm_demo.server.page_api_guard import PageApiGuard

KEY = "guard-key"
LOGIN = ("demo", "pass:word")


def guarded(**credentials: object) -> TestClient:
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    def reached(path: str) -> dict[str, str]:
        return {"reached": path}

    app.add_middleware(PageApiGuard, **{"api_key": None, "login": None, **credentials})
    return TestClient(app)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_without_credentials_settings_nothing_is_guarded() -> None:
    client = guarded()
    for path in ("/gradio_api/mcp/", "/gradio_api/info", "/config"):
        assert client.get(path).status_code == 200


def test_the_key_guards_mcp_and_the_api_description_only() -> None:
    client = guarded(api_key=KEY)
    for path in ("/gradio_api/mcp", "/gradio_api/mcp/sse", "/gradio_api/info",
                 "/gradio_api/openapi.json"):
        refused = client.get(path)
        assert refused.status_code == 401, path
        assert refused.json()["error"]["code"] == "invalid_api_key"
        assert refused.headers["www-authenticate"] == "Bearer"
        assert client.get(path, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    # The page's own routes and UI events: the browser cannot send a key.
    for path in ("/", "/config", "/gradio_api/queue/join", "/gradio_api/mcpx"):
        assert client.get(path).status_code == 200, path


def test_the_login_guards_mcp_as_basic_auth_and_throttles_wrong_ones() -> None:
    client = guarded(login=LOGIN)
    assert client.get("/gradio_api/info").status_code == 200  # Gradio checks its login
    assert client.get("/gradio_api/mcp/", headers=basic(*LOGIN)).status_code == 200
    for _ in range(5):
        assert client.get("/gradio_api/mcp/", headers=basic("demo", "guess")).status_code == 401
    throttled = client.get("/gradio_api/mcp/", headers=basic(*LOGIN))
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "60"


def test_credentials_compare_exactly() -> None:
    assert bearer_matches(KEY, f"Bearer {KEY}") and bearer_matches(KEY, f"bearer {KEY}")
    assert not bearer_matches(KEY, f"Bearer {KEY}x") and not bearer_matches(KEY, None)
    assert basic_matches(LOGIN, basic(*LOGIN)["Authorization"])
    assert not basic_matches(LOGIN, basic("demo", "pass")["Authorization"])
    assert not basic_matches(LOGIN, "Basic not-base64!")
    assert not basic_matches(LOGIN, "Basic " + base64.b64encode(b"\xff\xfe").decode())
