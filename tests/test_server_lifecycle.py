"""Loading, failing to load, and bad requests beside a live stream."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from autoglm_demo.engine.admission import Admission
from autoglm_demo.engine.catalogue import VariantSpec
from autoglm_demo.engine.engine import Engine
from autoglm_demo.engine.pool import Variant, VariantPool
from autoglm_demo.engine.transformers_runtime import TransformersRuntime
from autoglm_demo.engine.types import Runtime
from autoglm_demo.server.api import create_app
from autoglm_demo.settings import Settings
from tests.conftest import app_for, serve_app

CHAT = {
    "model": "autoglm-phone-9b",
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": 2,
}


def app_with_loader(
    loader: Callable[[Callable[[str], None]], Runtime], load_wait_s: float = 120
) -> FastAPI:
    """The server with one full-precision variant that `loader` loads."""
    spec = VariantSpec("test model", "full", "test loader", "transformers", lambda: [], loader)
    variant = Variant(("autoglm-phone-9b",), spec)
    pool = VariantPool(
        [variant],
        variant,
        lambda spec: Engine(spec.load),
        admission=Admission(),
        load_wait_s=load_wait_s,
    )
    return create_app(Settings(), pool)


def _held_loader(model_dir: Path, release: threading.Event) -> Callable[..., Runtime]:
    def slow_loader(on_phase: Callable[[str], None]) -> Runtime:
        on_phase("loading weights (test)")
        assert release.wait(timeout=60)
        return TransformersRuntime.load(str(model_dir), on_phase=on_phase)

    return slow_loader


def test_a_request_during_loading_waits_for_the_model(tiny_llama_dir: Path) -> None:
    release = threading.Event()
    with serve_app(app_with_loader(_held_loader(tiny_llama_dir, release)), ready_path=None) as base:
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(httpx.post, f"{base}/v1/chat/completions", json=CHAT, timeout=60)
            threading.Event().wait(0.5)
            assert not waiting.done(), "the request should wait while the model loads"
            release.set()
            assert waiting.result().status_code == 200


def test_health_reports_loading_phase_then_ready(tiny_llama_dir: Path) -> None:
    release = threading.Event()
    app = app_with_loader(_held_loader(tiny_llama_dir, release), load_wait_s=0.2)
    with serve_app(app, ready_path=None) as base:
        loading = httpx.get(f"{base}/health")
        assert loading.status_code == 503
        assert loading.json() == {
            "status": "loading",
            "detail": "loading weights (test)",
            "model": "autoglm-phone-9b",
            "page": None,  # an API server has no page
        }
        refused = httpx.post(f"{base}/v1/chat/completions", json=CHAT)
        assert refused.status_code == 503
        assert "not ready" in refused.json()["error"]["message"]
        assert refused.headers["Retry-After"] == "5"
        release.set()
        for _ in range(300):
            if httpx.get(f"{base}/health").status_code == 200:
                break
            threading.Event().wait(0.1)
        assert httpx.post(f"{base}/v1/chat/completions", json=CHAT).status_code == 200


def test_failed_load_gives_503_with_the_reason_not_a_hang() -> None:
    def broken_loader(on_phase: Callable[[str], None]) -> Runtime:
        raise OSError("no such model folder: /models/missing")

    with serve_app(app_with_loader(broken_loader), ready_path=None) as base:
        for _ in range(100):
            health = httpx.get(f"{base}/health", timeout=5)
            if health.json()["status"] == "failed":
                break
            threading.Event().wait(0.05)
        assert health.status_code == 503
        assert "no such model folder" in health.json()["detail"]
        chat = httpx.post(f"{base}/v1/chat/completions", json=CHAT, timeout=5)
        assert chat.status_code == 503
        assert "failed to load" in chat.json()["error"]["message"]


@pytest.fixture(scope="module")
def llama_url(tiny_llama_dir: Path):  # type: ignore[no-untyped-def]
    with serve_app(app_for(tiny_llama_dir)) as url:
        yield url


def test_bad_requests_do_not_disturb_a_stream_in_flight(llama_url: str) -> None:
    body = {**CHAT, "max_tokens": 60, "temperature": 0}
    expected = httpx.post(f"{llama_url}/v1/chat/completions", json=body, timeout=60).json()
    with httpx.Client(base_url=llama_url, timeout=60) as client:
        with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as stream:
            lines = stream.iter_lines()
            received = [next(lines) for _ in range(4)]
            for bad in ({"model": "x"}, {**CHAT, "temperature": -1}, {**CHAT, "messages": []}):
                assert client.post("/v1/chat/completions", json=bad).status_code in (400, 404)
            received.extend(lines)
    text = "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content", "")
        for line in received
        if line.startswith("data: {") and '"choices":[{' in line
    )
    assert text == expected["choices"][0]["message"]["content"]


def test_full_queue_gets_429_with_retry_after_and_admitted_streams_finish(
    tiny_llama_dir: Path,
) -> None:
    body = {**CHAT, "max_tokens": 150, "temperature": 0, "stream": True}
    with serve_app(app_for(tiny_llama_dir, max_concurrent=1, max_queue=1)) as base:
        with httpx.Client(base_url=base, timeout=60) as running, httpx.Client(
            base_url=base, timeout=60
        ) as waiting:
            with running.stream("POST", "/v1/chat/completions", json=body) as first:
                first_lines = first.iter_lines()
                next(first_lines)  # generating now
                with waiting.stream("POST", "/v1/chat/completions", json=body) as second:
                    refused = _post_until_refused(base, body)
                    assert refused.status_code == 429
                    assert int(refused.headers["Retry-After"]) >= 1
                    assert refused.json()["error"]["code"] == "queue_full"
                    rest_of_first = list(first_lines)
                    all_of_second = list(second.iter_lines())
    for lines in (rest_of_first, all_of_second):
        events = [line for line in lines if line.startswith("data: ")]
        assert events[-1] == "data: [DONE]"
        assert '"finish_reason":"length"' in events[-2]


def _post_until_refused(base: str, body: dict[str, object]) -> httpx.Response:
    """The second stream joins the queue asynchronously; poll (bounded) until it has."""
    for _ in range(50):
        response = httpx.post(
            f"{base}/v1/chat/completions", json={**body, "stream": False}, timeout=60
        )
        if response.status_code == 429:
            return response
        threading.Event().wait(0.1)
    return response


def test_a_generation_that_fails_midway_ends_its_stream_with_an_error(
    tiny_llama_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = app_for(tiny_llama_dir)
    with serve_app(app) as base:
        runtime = app.state.pool.default.engine.runtime
        working = runtime.generate

        def breaks_after_two_events(prompt, params, cancel):  # type: ignore[no-untyped-def]
            for number, event in enumerate(working(prompt, params, cancel)):
                if number == 2:
                    raise RuntimeError("device lost")
                yield event

        monkeypatch.setattr(runtime, "generate", breaks_after_two_events)
        body = {**CHAT, "max_tokens": 20, "stream": True}
        with httpx.stream("POST", f"{base}/v1/chat/completions", json=body, timeout=10) as stream:
            events = [line[6:] for line in stream.iter_lines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        assert json.loads(events[-2])["error"]["message"].startswith("Generation failed")
        whole = httpx.post(
            f"{base}/v1/chat/completions", json={**CHAT, "max_tokens": 20}, timeout=10
        )
        assert whole.status_code == 500 and "Traceback" not in whole.text
        monkeypatch.undo()  # the runtime's own generate again
        assert httpx.post(f"{base}/v1/chat/completions", json=CHAT, timeout=10).status_code == 200
