"""The files an API call brings in, deleted once the call has ended.

A call through gradio_client, MCP or plain HTTP first uploads its screenshots and
recordings to the page's private upload folder, then names them in the call. The files a
call of a public endpoint names are held from the moment Gradio reads its inputs, and let
go of when it ends: answered, failed (its inputs refused included) or cancelled, or when
it leaves the queue without running (cancelled, or its client gone: noticed as the next
call joins or ends). Each is then deleted unless something else still holds it
(`file_holds`: a tab's chat, another call, the page's examples).

The overlay a call returns is drawn for that call alone and lives OVERLAY_LIFETIME_S
after the call: long enough for its caller to fetch it by URL (gradio_client downloads
it as the call completes; MCP clients get it inline), short enough that overlays of calls
do not pile up.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.blocks import BlockFunction
from gradio_client.utils import is_file_obj_with_meta, traverse

from autoglm_demo.ui.file_holds import HOLDS, inside
from autoglm_demo.ui.uploads import private_upload_dir

OVERLAY_LIFETIME_S = 300.0


class CallFiles:
    """The files of one page's API calls (`watch` it once the page is mounted)."""

    def __init__(self) -> None:
        self.root = private_upload_dir()
        # The calls waiting in the queue, with their files: one dropped from the queue
        # before it ran (cancelled, or its client gone) never reaches its endpoint.
        self._waiting: dict[str, list[Path]] = {}
        self._queue: Any = None

    def watch(self, demo: gr.Blocks, is_call: Callable[[BlockFunction], bool]) -> None:
        """Follow the calls of `demo` that `is_call`: from joining its queue, then from the
        reading of their inputs, which lets go of them if it refuses them."""
        self._queue = demo._queue
        read_inputs, join = demo.preprocess_data, self._queue.push

        async def preprocess_data(
            block_fn: BlockFunction, inputs: list[Any], *args: Any, **kwargs: Any
        ) -> Any:
            if not is_call(block_fn):
                return await read_inputs(block_fn, inputs, *args, **kwargs)
            brought = list(inside(_uploads(block_fn, inputs), self.root))
            self._started(brought)
            HOLDS.hold(brought)
            try:
                return await read_inputs(block_fn, inputs, *args, **kwargs)
            except BaseException:
                HOLDS.let_go(brought, self.root, held=True)
                raise

        async def push(body: Any, *args: Any, **kwargs: Any) -> Any:
            joined, event_id, status = await join(body, *args, **kwargs)
            block_fn = demo.fns.get(body.fn_index)
            if joined and block_fn is not None and is_call(block_fn):
                if brought := list(inside(_uploads(block_fn, body.data), self.root)):
                    self._waiting[event_id] = brought
            self._let_go_of_dropped()
            return joined, event_id, status

        demo.preprocess_data = preprocess_data  # type: ignore[method-assign]
        self._queue.push = push

    def let_go(self, images: list[str] | None, audio: str | None = None) -> None:
        """A call's end: its files go, unless something else still holds them."""
        HOLDS.let_go(inside([*(images or []), audio], self.root), self.root, held=True)
        self._let_go_of_dropped()

    def _started(self, brought: list[Path]) -> None:
        """A call starts: it no longer waits. (Calls that bring the same files are alike
        here, so the first such record goes.)"""
        for event, files in self._waiting.items():
            if files == brought:
                del self._waiting[event]
                return

    def _let_go_of_dropped(self) -> None:
        """The files of the calls that left the queue without running."""
        dropped = [event for event in self._waiting if event not in self._queue.event_ids_to_events]
        for event in dropped:
            HOLDS.let_go(self._waiting.pop(event), self.root)

    @staticmethod
    def expire(overlay: str | None) -> None:
        """Delete a call's returned overlay OVERLAY_LIFETIME_S from now."""
        if overlay:
            unlink = functools.partial(Path(overlay).unlink, missing_ok=True)
            asyncio.get_running_loop().call_later(OVERLAY_LIFETIME_S, unlink)


def _uploads(block_fn: BlockFunction, inputs: list[Any]) -> list[str]:
    """The paths a call's file inputs name, as it sent them (as the endpoint gets them)."""
    found: list[str] = []
    for block, value in zip(block_fn.inputs, inputs, strict=False):
        if isinstance(block, gr.File):
            traverse(value, lambda file: found.append(file["path"]), is_file_obj_with_meta)
    return found
