"""The page starts after the API: /health and /v1 answer while the page's libraries import.

Importing Gradio and building the page take seconds of CPU that the API does not need. So
`python app.py` serves the API as soon as it can and mounts the page from a thread once
serving. Until the page is mounted, a path no route serves (/ and everything under it)
answers 503 with Retry-After, as an HTML note that reloads itself, and /health says
`"page": "starting"`; then the page's own mount catches those paths. If the page cannot be
built (a bad --qa-db, say), the error is logged and kept here, and `on_failure` is called,
so that the process can stop rather than serve an API with a page that will never come.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

log = logging.getLogger(__name__)

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[object]]

RETRY_AFTER_S = 1


def _note(refresh: str, english: str, chinese: str) -> bytes:
    """A note in place of the page: no script (a refresh tag reloads it), in the page's
    two languages."""
    return f"""<!doctype html>
<html><head><meta charset="utf-8">{refresh}<title>AutoGLM-Phone-9B demo</title></head>
<body><p>{english}</p><p>{chinese}</p></body></html>
""".encode()


STARTING_NOTE = _note(
    f'<meta http-equiv="refresh" content="{RETRY_AFTER_S}">',
    "The page is starting; this tab reloads itself in a moment.",
    "页面正在启动，本页稍后会自动刷新。",
)
FAILED_NOTE = _note(
    "", "The page could not start; the server's log says why.", "页面无法启动，原因见服务器日志。"
)


class PageState(enum.StrEnum):
    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"


class PageStart:
    """Mounts the page on a served app: `mount` runs on a thread once the app has started,
    mounts the page on it, and returns the lifespan the page needs (its queue, its clean-up),
    which is then entered on the server's event loop and left when the server stops."""

    def __init__(self, mount: Callable[[], Lifespan], on_failure: Callable[[], None]) -> None:
        self._mount = mount
        self._on_failure = on_failure
        self.state = PageState.STARTING
        self.error: str | None = None

    def install(self, app: FastAPI) -> None:
        """Answer for the page until it is mounted, and start mounting it once `app` starts."""
        app.state.page_start = self
        # The router calls its default for a path no route serves; the page's mount at /
        # serves every path once added, so the default stops being reached by itself.
        app.router.default = self._answer_for_page
        app.router.lifespan_context = self._around(app.router.lifespan_context)

    def _around(self, served: Lifespan) -> Lifespan:
        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[object]:
            async with AsyncExitStack() as stack:
                state = await stack.enter_async_context(served(app))
                task = asyncio.create_task(self._start(app, stack))
                try:
                    yield state
                finally:
                    task.cancel()

        return lifespan

    async def _start(self, app: FastAPI, stack: AsyncExitStack) -> None:
        try:
            page_lifespan = await asyncio.to_thread(self._mount)
            await stack.enter_async_context(page_lifespan(app))
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # SystemExit carries a bad flag's message
            self.state, self.error = PageState.FAILED, str(error) or type(error).__name__
            trace = None if isinstance(error, SystemExit) else error  # a flag's needs none
            log.error("The page could not start: %s", self.error, exc_info=trace)
            self._on_failure()
            return
        self.state = PageState.READY
        log.info("The page is ready")

    async def _answer_for_page(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1013})  # 1013: try again later
            return
        failed = self.state is PageState.FAILED
        headers = [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store")]
        if not failed:
            headers.append((b"retry-after", str(RETRY_AFTER_S).encode()))
        await send(
            {"type": "http.response.start", "status": 500 if failed else 503, "headers": headers}
        )
        await send({"type": "http.response.body", "body": FAILED_NOTE if failed else STARTING_NOTE})
