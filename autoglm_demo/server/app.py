"""The FastAPI application: routes, error handlers, and the model loading in the background.

The server starts listening at once and loads the model on a thread, so /health can say
what is still loading instead of the port being closed for half a minute.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from autoglm_demo.engine.engine import Engine
from autoglm_demo.server.errors import install_error_handlers
from autoglm_demo.server.routes import router
from autoglm_demo.settings import Settings


def create_app(settings: Settings, engine: Engine) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        engine.start_loading()
        yield

    app = FastAPI(
        title="AutoGLM-Phone-9B demo API",
        description="OpenAI-compatible chat completions with a separated reasoning trace.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    install_error_handlers(app)
    app.include_router(router)
    return app
