"""The FastAPI application: routes, error handlers, and the model loading in the background.

The server starts listening at once and loads the default variant on a thread, so /health
can say what is still loading instead of the port being closed for half a minute.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from autoglm_demo.engine.pool import VariantPool
from autoglm_demo.server.auth import require_api_key
from autoglm_demo.server.deadlines import BodyDeadline
from autoglm_demo.server.errors import install_error_handlers
from autoglm_demo.server.gate import AdmissionGate
from autoglm_demo.server.limits import MIB, BodyCap, BodySizeLimit
from autoglm_demo.server.routes import public_router, router
from autoglm_demo.settings import Settings
from autoglm_demo.speech.service import Speech


def create_app(settings: Settings, pool: VariantPool, speech: Speech | None = None) -> FastAPI:
    """`speech` is shared with the page when one process serves both; it loads on first use."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool.start()
        yield

    app = FastAPI(
        title="AutoGLM-Phone-9B demo API",
        description="OpenAI-compatible chat completions with a separated reasoning trace, "
        "and speech to text.",
        lifespan=lifespan,
        # With a key, the schema is served behind it (below), and the /docs and /redoc
        # pages are off: a browser loading them cannot send the key.
        openapi_url=None if settings.api_key else "/openapi.json",
    )
    app.state.settings = settings
    app.state.pool = pool
    app.state.speech = speech or Speech(settings)
    install_error_handlers(app)
    # Inside the size limit: a body declared too large is refused before it takes a place.
    app.add_middleware(AdmissionGate, admission=pool.admission, api_key=settings.api_key)
    app.add_middleware(BodyDeadline, seconds=settings.read_timeout)
    app.add_middleware(BodySizeLimit, caps=[BodyCap("/v1", settings.max_request_mb * MIB)])
    if settings.cors_origins:  # off unless asked for: browsers elsewhere cannot call /v1
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.include_router(public_router)
    app.include_router(router)
    if settings.api_key:
        _serve_schema_behind_key(app)
    return app


def _serve_schema_behind_key(app: FastAPI) -> None:
    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_api_key)])
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())
