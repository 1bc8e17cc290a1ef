"""A bare Gradio page, the page benchmark's peer: the floor Gradio itself sets.

One textbox, one Chatbot and one streaming event that sends the benchmark's request to the
same backend through the same openai SDK and shows each text chunk as it comes, with
nothing else on the page: no settings, no state, one input and one output. Whatever the
real page adds on top of this peer is the page's own; what this peer adds over a direct SSE
request is Gradio's (its frontend, queue, postprocessing and rendering).

    python -m bench.bare_page --port PORT --backend-url http://127.0.0.1:PORT/v1 --max-tokens 64
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from typing import Any

import gradio as gr
from openai import AsyncOpenAI

from bench.bench_page import PEER_ENDED, page_body
from bench.common import LOOPBACK, assert_loopback

_SDK_FIELDS = ("model", "messages", "stream", "stream_options", "temperature", "top_p")


def build(backend_url: str, max_tokens: int) -> gr.Blocks:
    assert_loopback(backend_url)
    client = AsyncOpenAI(base_url=backend_url, api_key="none")
    models: list[str] = []

    async def answer(text: str) -> AsyncIterator[list[dict[str, Any]]]:
        if not models:  # the variant the real page picks: the server's default
            listed = (await client.models.list()).data
            flagged = [m.id for m in listed if (m.model_extra or {}).get("default")]
            models.append((flagged or [listed[0].id])[0])
        body = page_body(models[0], max_tokens, stream=True)
        body["messages"][0]["content"][0]["text"] = text
        known = {name: body.pop(name) for name in _SDK_FIELDS}
        shown = ""
        chat = [{"role": "user", "content": text}]
        stream = await client.chat.completions.create(
            **known, max_tokens=body.pop("max_tokens"), extra_body=body
        )
        async for chunk in stream:
            for choice in chunk.choices:
                extra = choice.delta.model_extra or {}
                shown += (extra.get("reasoning_content") or "") + (choice.delta.content or "")
            if shown:
                yield [*chat, {"role": "assistant", "content": shown}]
        # The last bubble says the stream is over: what the benchmark waits for.
        ended = {"role": "assistant", "content": PEER_ENDED}
        yield [*chat, {"role": "assistant", "content": shown}, ended]

    with gr.Blocks(title="bare page") as demo:
        chatbot = gr.Chatbot(elem_id="chatbot", height=640)
        message = gr.Textbox(elem_id="message", show_label=False)
        clear = gr.Button("Clear", elem_id="clear")
        message.submit(answer, [message], [chatbot], show_progress="hidden")
        clear.click(lambda: [], None, [chatbot], queue=False)
    return demo


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_page", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend-url", required=True)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    build(args.backend_url, args.max_tokens).launch(
        server_name=LOOPBACK, server_port=args.port, show_error=True
    )


if __name__ == "__main__":
    main()
