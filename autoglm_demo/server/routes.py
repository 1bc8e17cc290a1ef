"""The HTTP surface: OpenAI-compatible /v1 routes and /health. Protocol only: what to serve
and how is decided in `chat` and `transcription`.

`router` holds the /v1 routes, all behind the optional API key; `public_router` holds what
must answer without one (/health); `page_router` is /health for a page that has no API of
its own (its backend is remote)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse

from autoglm_demo.engine.engine import LoadState
from autoglm_demo.engine.pool import Variant, VariantPool
from autoglm_demo.server import chat, transcription
from autoglm_demo.server.auth import require_api_key
from autoglm_demo.server.checks import check_request
from autoglm_demo.server.content import ImageLimits
from autoglm_demo.server.gate import ticket_of
from autoglm_demo.server.page_start import PageState
from autoglm_demo.server.protocol import (
    ChatCompletion,
    ChatCompletionRequest,
    ErrorResponse,
    Health,
    ModelCapabilities,
    ModelCard,
    ModelList,
    Transcription,
    TranscriptionFormat,
    TranscriptionVerbose,
    now,
)
from autoglm_demo.settings import Settings
from autoglm_demo.speech.service import Speech

_ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 404, 429, 500, 503)}

router = APIRouter(dependencies=[Depends(require_api_key)])
public_router = APIRouter()
page_router = APIRouter()


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _pool(request: Request) -> VariantPool:
    return request.app.state.pool


def _image_limits(settings: Settings) -> ImageLimits:
    return ImageLimits(
        settings.max_images,
        settings.max_image_pixels,
        settings.max_image_side,
        url_hosts=settings.image_url_hosts,
        max_url_bytes=settings.max_request_mb * 2**20,  # a fetched image is capped like a body
        url_timeout_s=settings.image_url_timeout,
    )


def _speech(request: Request) -> Speech:
    return request.app.state.speech


@public_router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(request: Request) -> JSONResponse:
    """The default variant's state: the one the server loads at start; and the page's, where
    this process serves one."""
    default = _pool(request).default
    status = default.status
    page = getattr(request.app.state, "page_start", None)
    body = Health(
        status=status.state.value,
        detail=status.detail,
        model=default.names[0],
        page=page.state if page else None,
    )
    code = 200 if status.state is LoadState.READY else 503
    return JSONResponse(body.model_dump(mode="json"), status_code=code)


_PAGE_HEALTH = {
    PageState.STARTING: (LoadState.LOADING, "The page is starting."),
    PageState.READY: (LoadState.READY, "The page is ready; its backend is remote."),
    PageState.FAILED: (LoadState.FAILED, "The page could not start; the server's log says why."),
}


@page_router.get("/health", response_model=Health, responses={503: {"model": Health}})
def page_health(request: Request) -> JSONResponse:
    """The page's own state, where the model is another server's (which has its own
    /health): what a container's health check of this process needs."""
    page = request.app.state.page_start.state
    status, detail = _PAGE_HEALTH[page]
    body = Health(status=status.value, detail=detail, page=page)
    return JSONResponse(
        body.model_dump(mode="json"), status_code=200 if page is PageState.READY else 503
    )


@router.get("/v1/models", response_model=ModelList)
def list_models(request: Request) -> ModelList:
    pool = _pool(request)
    created = now()
    return ModelList(
        data=[
            _model_card(name, variant, created, default=variant is pool.default)
            for variant in pool.variants
            for name in variant.names
        ]
    )


def _model_card(name: str, variant: Variant, created: int, *, default: bool) -> ModelCard:
    spec, status = variant.spec, variant.status
    card = ModelCard(
        id=name,
        created=created,
        root=spec.source,
        precision=spec.precision,
        method=spec.method,
        runtime=spec.runtime,
        status=status.state.value,
        status_detail=status.detail,
        default=default,
        weight_bytes=variant.weight_bytes,
        quality=spec.quality,
    )
    info = variant.info
    if info is None:  # what the model can do is known once it is loaded
        return card
    return card.model_copy(
        update={
            "dtype": info.dtype,
            "device": info.device,
            "max_model_len": info.context_length,
            "capabilities": ModelCapabilities(
                vision=info.vision,
                image_input="native" if info.vision else "ocr",
                reasoning=info.reasoning,
            ),
        }
    )


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletion,
    responses={**_ERRORS, 200: {"content": {"text/event-stream": {}}}},
)
async def chat_completions(
    body: ChatCompletionRequest, request: Request
) -> ChatCompletion | StreamingResponse:
    check_request(body)
    engine = await chat.engine_for(_pool(request), body.model)
    settings = _settings(request)
    return await chat.create_chat_completion(
        body,
        engine,
        _speech(request),
        ticket_of(request),
        image_limits=_image_limits(settings),
        reasoning_parser=settings.reasoning_parser,
    )


@router.post(
    "/v1/audio/transcriptions",
    response_model=Transcription | TranscriptionVerbose,
    responses={
        **_ERRORS,
        200: {"content": {"text/plain": {}, "text/vtt": {}}},
    },
)
async def audio_transcriptions(
    request: Request,
    file: Annotated[UploadFile, File(description="wav, mp3, m4a, ogg, webm, flac, …")],
    model: Annotated[
        str,
        Form(
            description="Accepted for compatibility (e.g. whisper-1); "
            "the server's one speech model answers."
        ),
    ],
    language: Annotated[str | None, Form(description="ISO-639-1 code; empty: detect")] = None,
    prompt: Annotated[str | None, Form()] = None,
    temperature: Annotated[float, Form(ge=0, le=1)] = 0.0,
    response_format: Annotated[TranscriptionFormat, Form()] = "json",
) -> Response:
    return await transcription.transcribe_upload(
        _speech(request),
        await file.read(),
        file.filename,
        language=language or None,
        prompt=prompt or None,
        temperature=temperature,
        response_format=response_format,
    )
