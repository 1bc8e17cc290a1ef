"""Uploads that nobody claims are deleted after an hour.

Anyone who can open the page can upload files (POST /gradio_api/upload) without ever
naming them in a chat or an API call. Held by nothing, they would stay until the process
ends, and on a public Space fill its disk. So while the page serves, every SWEEP_EVERY_S
each file of the upload folder older than UNCLAIMED_AFTER_S is deleted unless something
holds it (`file_holds`: a tab's chat, a running call, a queued event, the page's own
files). An attachment left unsent in a tab for that long goes too, and must be attached
again; an export link older than that has to be made again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from autoglm_demo.ui.file_holds import HOLDS, inside
from autoglm_demo.ui.uploads import private_upload_dir

log = logging.getLogger(__name__)

UNCLAIMED_AFTER_S = 3600.0
SWEEP_EVERY_S = 600.0


def sweep(folder: Path, older_than_s: float = UNCLAIMED_AFTER_S) -> None:
    """Delete each file in `folder` older than `older_than_s` that nothing holds."""
    cutoff = time.time() - older_than_s
    old = [path for path in folder.rglob("*") if _modified(path) < cutoff]
    if old:
        HOLDS.let_go(inside(old, folder), folder)


def _modified(path: Path) -> float:
    """When a file was last written; infinitely recent for a folder or a file just gone."""
    try:
        return path.stat().st_mtime if path.is_file() else float("inf")
    except FileNotFoundError:
        return float("inf")


@asynccontextmanager
async def sweeping(_: Any) -> AsyncIterator[None]:
    """The page's lifespan: the upload folder is swept while the page serves."""
    task = asyncio.create_task(_sweep_every_while(private_upload_dir()))
    try:
        yield
    finally:
        task.cancel()


async def _sweep_every_while(folder: Path) -> None:
    while True:
        await asyncio.sleep(SWEEP_EVERY_S)
        try:
            await asyncio.to_thread(sweep, folder)
        except Exception:  # a failed sweep must not end the next ones
            log.exception("Sweeping the upload folder failed")
