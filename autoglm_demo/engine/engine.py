"""The engine the server talks to for one model variant: its loading state and its streams.

Runtimes are blocking and run one generation at a time. This class owns the bridge to
asyncio: each request waits its turn with the admission ticket it was given on arrival
(`Admission`, shared by all variants), each generation runs on its own thread, events are
handed to the event loop as they are produced, and a consumer that goes away (a client
that disconnects) cancels its generation and frees the slot for the next one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from autoglm_demo.engine.admission import Ticket
from autoglm_demo.engine.ocr import ImageReader
from autoglm_demo.engine.stops import StopMatcher
from autoglm_demo.engine.types import (
    ChatMessage,
    ContextLengthExceeded,
    GenerationEvent,
    PreparedPrompt,
    Runtime,
    SamplingParams,
    TextDelta,
)

log = logging.getLogger(__name__)

Loader = Callable[[Callable[[str], None]], Runtime]


class LoadState(str, Enum):
    UNLOADED = "unloaded"  # a variant not loaded yet, or unloaded to make room for another
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


class EngineNotReady(RuntimeError):
    """Raised for requests that arrive while the model is loading or after it failed to."""


@dataclass(frozen=True)
class LoadStatus:
    state: LoadState
    detail: str


class Engine:
    def __init__(
        self,
        loader: Loader,
        *,
        default_max_tokens: int = 1024,
        sampling_defaults: Mapping[str, float] | None = None,
    ) -> None:
        self._loader = loader
        self._default_max_tokens = default_max_tokens
        self.sampling_defaults: Mapping[str, float] = sampling_defaults or {}
        """SamplingParams fields for requests that leave them out (the model's own defaults,
        as vLLM takes them from a model's generation config)."""
        self._runtime: Runtime | None = None
        self._status = LoadStatus(LoadState.LOADING, "waiting to start loading")
        self._reader = ImageReader()
        self._load_thread: threading.Thread | None = None
        self.streams = 0
        """Generations admitted and not yet finished: idle variants are evicted first."""

    # -- loading -----------------------------------------------------------------------

    @property
    def status(self) -> LoadStatus:
        return self._status

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise EngineNotReady(self._status.detail)
        return self._runtime

    def load(self) -> None:
        """Blocking load; failures are recorded in `status`, never raised."""
        started = time.monotonic()
        try:
            runtime = self._loader(self._set_phase)
        except Exception as error:  # any load failure becomes a 503 with its reason
            log.exception("Model failed to load")
            self._status = LoadStatus(LoadState.FAILED, f"model failed to load: {error}")
            return
        self._runtime = runtime
        self._status = LoadStatus(LoadState.READY, f"loaded in {time.monotonic() - started:.1f} s")
        log.info("Model ready: %s (%s)", runtime.info.source, self._status.detail)

    def start_loading(self) -> threading.Thread:
        """Load on a thread, once; later calls return the same thread."""
        if self._load_thread is None:
            self._load_thread = threading.Thread(target=self.load, name="model-load", daemon=True)
            self._load_thread.start()
        return self._load_thread

    def _set_phase(self, phase: str) -> None:
        log.info("Loading model: %s", phase)
        self._status = LoadStatus(LoadState.LOADING, phase)

    # -- serving -----------------------------------------------------------------------

    async def prepare(
        self, messages: list[ChatMessage], template_kwargs: dict[str, Any]
    ) -> PreparedPrompt:
        """Render the chat for the model; OCR stands in for eyes on text-only models."""
        runtime = self.runtime

        def render() -> PreparedPrompt:
            readable = messages if runtime.info.vision else self._reader.inline_images(messages)
            return runtime.prepare(readable, template_kwargs)

        return await asyncio.to_thread(render)

    def plan(self, prompt: PreparedPrompt, params: SamplingParams) -> SamplingParams:
        """Fix the completion length against the context, or refuse a request that cannot fit.

        The one context rule: runtimes generate at most the `max_tokens` planned here."""
        context = self.runtime.info.context_length
        room = context - prompt.prompt_tokens
        if room <= 0:
            raise ContextLengthExceeded(
                f"The prompt has {prompt.prompt_tokens} tokens but the model's context is "
                f"{context} tokens. Shorten the conversation or send fewer or smaller images."
            )
        if params.max_tokens is None:
            return dataclasses.replace(params, max_tokens=min(self._default_max_tokens, room))
        if params.max_tokens > room:
            raise ContextLengthExceeded(
                f"max_tokens is {params.max_tokens}, but after the {prompt.prompt_tokens}-token "
                f"prompt only {room} of the model's {context} tokens "
                "are left. Lower max_tokens or shorten the conversation."
            )
        return params

    async def generate(
        self, prompt: PreparedPrompt, params: SamplingParams, ticket: Ticket
    ) -> AsyncIterator[GenerationEvent]:
        """Stream one generation, with `params` as `plan` fixed them, once `ticket` gets a
        slot; closing the iterator early cancels it."""
        runtime = self.runtime
        self.streams += 1
        try:
            await ticket.acquire_slot()
        except BaseException:
            self.streams -= 1
            raise
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[GenerationEvent | BaseException] = asyncio.Queue()
        cancel = threading.Event()

        def deliver(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(item)
            except RuntimeError:  # the event loop has shut down; nobody is listening
                pass

        def produce() -> None:
            try:
                for event in runtime.generate(prompt, params, cancel):
                    deliver(lambda e=event: events.put_nowait(e))
            except BaseException as error:  # handed to the consumer, which reports it
                # Bound now: Python unbinds `error` when this block ends, before the call runs.
                deliver(lambda failure=error: events.put_nowait(failure))
            finally:
                # The slot frees only when compute has really stopped.
                deliver(lambda: self._release(ticket, started))

        threading.Thread(target=produce, name="generation", daemon=True).start()
        stops = StopMatcher(params.stop)
        try:
            while True:
                event = await events.get()
                if isinstance(event, BaseException):
                    raise event
                if isinstance(event, TextDelta):
                    if text := stops.feed(event.text):
                        yield TextDelta(text)
                    if stops.stopped:
                        cancel.set()
                    continue
                if tail := stops.flush():
                    yield TextDelta(tail)
                yield dataclasses.replace(event, reason="stop") if stops.stopped else event
                return
        finally:
            cancel.set()

    def _release(self, ticket: Ticket, started: float) -> None:
        self.streams -= 1
        ticket.release_slot(started)
