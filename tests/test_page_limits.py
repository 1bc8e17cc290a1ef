"""Every route of the page app caps its request body before reading it, logged in or not,
with the embedded API or a remote backend; and wrong passwords are throttled."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from limits import RateLimitItemPerSecond

from autoglm_demo.server import login_throttle
from autoglm_demo.settings import Settings
from autoglm_demo.ui import build_page_app
from autoglm_demo.ui.app import PAGE_REQUEST_BYTES
from tests.conftest import free_port, serve_app

OFFERED = 200 * 2**20
UPLOAD_MB = 2


@pytest.fixture(scope="module", params=["remote backend", "embedded API"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, bool]]:
    """The page app with a login, as a page alone and with its embedded API: its URL, and
    whether /v1 is served there."""
    port = free_port()
    if request.param == "remote backend":
        backend = {"backend_url": f"http://127.0.0.1:{free_port()}/v1"}
    else:  # an empty model folder fails to load at once: no model, but /v1 answers
        backend = {"model": str(tmp_path_factory.mktemp("no-model"))}
    settings = Settings(
        port=port, page_auth="demo:secret", max_upload_mb=UPLOAD_MB, max_request_mb=4,
        log_level="warning", **backend,  # type: ignore[arg-type]
    )
    with serve_app(build_page_app(settings), port=port, ready_path=None) as url:
        yield url, "model" in backend


@pytest.fixture
def page(served: tuple[str, bool]) -> str:
    return served[0]


# The body type each route reads (a route may refuse a type it does not read unread).
CONTENT_TYPES = {
    "/login": "application/x-www-form-urlencoded",
    "/gradio_api/upload": "multipart/form-data; boundary=x",
}


def post_offering(base: str, path: str, *, declared: bool) -> tuple[int, int]:
    """POST up to 200 MiB over a raw socket, sending only until the server answers: its
    status and the body bytes it had been sent by then. Declared: nothing but the headers."""
    url = httpx.URL(base)
    framing = f"content-length: {OFFERED}" if declared else "transfer-encoding: chunked"
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {url.host}\r\n{framing}\r\n"
        f"content-type: {CONTENT_TYPES.get(path, 'application/json')}\r\n\r\n"
    )
    chunk = b"\0" * 2**16
    sent = 0
    with socket.create_connection((url.host, url.port), timeout=60) as sock:
        sock.sendall(head.encode())
        while not select.select([sock], [], [], 0 if sent < OFFERED and not declared else 60)[0]:
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), sent


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    "path", ["/gradio_api/queue/join", "/gradio_api/call/chat", "/login", "/gradio_api/upload"]
)
def test_page_routes_refuse_a_big_body_before_reading_it(
    page: str, path: str, declared: bool
) -> None:
    status, sent = post_offering(page, path, declared=declared)
    if status == 401:
        # Gradio's upload route checks the login before it reads the body.
        assert path == "/gradio_api/upload" and not declared
    else:
        assert status == 413
    # Declared: refused on the headers alone. Chunked: cut off near the cap, not at 200 MiB.
    assert sent == 0 if declared else sent < 16 * 2**20
    assert httpx.get(page + "/config").status_code == 401  # still serving, still locked


def test_the_upload_route_takes_uploads_up_to_the_upload_cap(page: str) -> None:
    visitor = httpx.Client(base_url=page)
    assert visitor.post("/login", data={"username": "demo", "password": "secret"}).is_success
    fits = b"\0" * (UPLOAD_MB * 2**20 - 4096)
    assert visitor.post("/gradio_api/upload", files={"files": ("a.png", fits)}).status_code == 200
    two = [("files", ("a.png", fits)), ("files", ("b.png", fits))]
    assert visitor.post("/gradio_api/upload", files=two).status_code == 413
    small_cap = PAGE_REQUEST_BYTES + 1
    join = visitor.post("/gradio_api/queue/join", content=b"{" + b" " * small_cap + b"}")
    assert join.status_code == 413


def test_the_embedded_api_keeps_its_own_larger_cap(served: tuple[str, bool]) -> None:
    page, embedded = served

    def post(size: int) -> int:
        body = b'{"model": "' + b"x" * size + b'"}'
        headers = {"content-type": "application/json"}
        return httpx.post(page + "/v1/chat/completions", content=body, headers=headers).status_code

    over_page_cap = post(3 * 2**20)  # over the page's 1 MiB, under the API's 4 MiB
    assert (over_page_cap != 413) if embedded else (over_page_cap == 413)
    assert post(5 * 2**20) == 413


@contextmanager
def login_page() -> Iterator[Callable[[str, str], httpx.Response]]:
    """A page with a login; yields login(password, client address)."""
    port = free_port()
    settings = Settings(backend_url=f"http://127.0.0.1:{free_port()}/v1", port=port,
                        page_auth="demo:secret", log_level="warning")
    with serve_app(build_page_app(settings), port=port, ready_path=None) as url:

        def login(password: str, address: str) -> httpx.Response:
            # uvicorn takes the client address from X-Forwarded-For on loopback.
            return httpx.post(f"{url}/login", headers={"X-Forwarded-For": address},
                              data={"username": "demo", "password": password})

        assert login_throttle.login_note() in httpx.get(f"{url}/config").text  # on the form
        yield login


def test_wrong_passwords_are_throttled_per_address_then_overall() -> None:
    with login_page() as login:
        started = time.monotonic()
        statuses = [login("guess", "10.0.0.1").status_code for _ in range(40)]
        assert statuses == [400] * 5 + [429] * 35
        assert time.monotonic() - started < 30  # refused at once, not slowed down
        refused = login("secret", "10.0.0.1")
        assert refused.status_code == 429  # even the right password waits out the minute
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "Try again in" in refused.json()["detail"]

        assert login("secret", "10.0.0.2").status_code == 200  # other addresses are not held
        for address in range(3, 9):  # 5 tries each from 6 more addresses spend the 30 a minute
            for _ in range(5):
                login("guess", f"10.0.0.{address}")
        assert login("secret", "10.0.0.99").status_code == 429


def test_the_right_password_gets_in_once_the_window_has_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(login_throttle, "PER_ADDRESS", RateLimitItemPerSecond(3, 2))
    with login_page() as login:
        assert [login("guess", "10.0.1.1").status_code for _ in range(4)] == [400] * 3 + [429]
        time.sleep(2.5)
        assert login("secret", "10.0.1.1").status_code == 200
        # ...which clears the address's count: three more typos are forgiven at once.
        assert [login("guess", "10.0.1.1").status_code for _ in range(3)] == [400] * 3
