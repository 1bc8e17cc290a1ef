"""Gradio's MCP server (--mcp): tool calls through the page's own address, and lists of files.

Gradio's MCP server runs each queued tool call through gradio_client, on the page's own
HTTP API. It builds that client's address from the MCP request's Host header, which the
caller chooses; here the address is the page's loopback one. The client logs in with the
page login and shows the API key, when they are set, as any API client must: the page's
API does not trust its own MCP server more than anyone else.

Three of its steps miss what the page needs: endpoints with lists of files or several
outputs, such as `chat`, and a private upload folder:
- it turns the strings an MCP client sends for files (URLs, data: URIs) into files at the
  positions its schema names; for a list of files that position is the schema's `items`,
  which it never finds in the call's list. Here `items` stands for every element;
- it writes a data: URI into the machine-wide temp folder (its folder is fixed when gradio
  is imported, before the page picks its upload folder), and never deletes it. Here it is
  written into a folder of the tool call's own, inside the upload folder, deleted when the
  tool call ends; the copy its loopback client uploads goes as any call's (`CallFiles`);
- without a progress token, it sends a call's outputs as one text, the repr of their
  tuple. Here each output is its own content, as with one (the overlay as an image).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import gradio as gr
from anyio.to_thread import run_sync
from gradio import processing_utils
from gradio_client import Client, handle_file
from mcp import types

from autoglm_demo.access import Login
from autoglm_demo.ui.uploads import private_upload_dir

Position = list[str | int]

# The folder of the tool call being prepared, for the data: URIs it brings.
_CALL_FOLDER: ContextVar[Path] = ContextVar("mcp_call_folder")


def call_tools_on_loopback(
    demo: gr.Blocks, page_url: str, login: Login | None, api_key: str | None
) -> None:
    """Point `demo`'s MCP server at `page_url`, with the credentials. Gradio only logs a
    server that failed to start; asked for and missing, it stops the page from starting."""
    server = demo.mcp_server_obj
    if server is None:
        raise RuntimeError(f"--mcp: {getattr(demo, 'mcp_error', 'no MCP server')}")
    headers = {"x-gradio-user": "mcp"}  # as Gradio's own loopback client marks its calls
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"

    def loopback_client() -> Client:
        # Made on the first tool call (the page must be serving), then kept, as Gradio does.
        if server._client_instance is None:
            server._client_instance = Client(
                page_url,
                auth=login,
                headers=headers,
                download_files=False,
                verbose=False,
                analytics_enabled=False,
            )
        return server._client_instance

    convert = server.convert_strings_to_filedata

    def convert_lists_too(value: Any, positions: list[Position]) -> Any:
        found = [found for at in positions for found in _positions(value, at)]
        return convert(_data_uris_saved(value, found, _CALL_FOLDER.get()), found)

    async def every_output(job: Any) -> list[Any]:
        result = await run_sync(job.result)
        return list(result) if isinstance(result, tuple) else [result]

    # Gradio's hooks for these, replaced on this one instance only.
    server._get_or_create_client = loopback_client
    server.convert_strings_to_filedata = convert_lists_too
    server._execute_tool_without_progress = every_output
    _give_each_call_a_folder(server.mcp_server)


def _give_each_call_a_folder(mcp_server: Any) -> None:
    """Run each tool call with a folder of its own in the upload folder, deleted after it."""
    handlers = mcp_server.request_handlers
    call_tool = handlers[types.CallToolRequest]

    async def call_in_folder(request: types.CallToolRequest) -> Any:
        folder = Path(tempfile.mkdtemp(prefix="mcp-call-", dir=private_upload_dir()))
        token = _CALL_FOLDER.set(folder)
        try:
            return await call_tool(request)
        finally:
            _CALL_FOLDER.reset(token)
            shutil.rmtree(folder, ignore_errors=True)

    handlers[types.CallToolRequest] = call_in_folder


def _data_uris_saved(
    value: Any, positions: list[Position], folder: Path, at: tuple[str | int, ...] = ()
) -> Any:
    """`value`, with each data: URI at one of `positions` saved in `folder`, as a file."""
    if isinstance(value, dict):
        return {k: _data_uris_saved(v, positions, folder, (*at, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_data_uris_saved(v, positions, folder, (*at, i)) for i, v in enumerate(value)]
    if isinstance(value, str) and value.startswith("data:") and list(at) in positions:
        return handle_file(processing_utils.save_base64_to_cache(value, str(folder)))
    return value


def _positions(value: Any, position: Position) -> Iterator[Position]:
    """`position` in `value`, with a schema's `items` standing for each element of a list."""
    if not position:
        yield []
        return
    head, *rest = position
    if head == "items" and isinstance(value, list):
        for index, element in enumerate(value):
            yield from ([index, *tail] for tail in _positions(element, rest))
    elif isinstance(value, dict) and head in value:
        yield from ([head, *tail] for tail in _positions(value[head], rest))
    elif isinstance(value, list) and isinstance(head, int) and head < len(value):
        yield from ([head, *tail] for tail in _positions(value[head], rest))
