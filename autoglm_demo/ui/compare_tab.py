"""The Compare tab: two variant pickers, one question, and the two answers side by side.

The answer settings (thinking, temperature, top-p, length, system prompt, agent mode) are
the Chat tab's, so a comparison runs under the same settings as the conversation beside it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import gradio as gr

from autoglm_demo.client import BackendClient
from autoglm_demo.conversation import Turn
from autoglm_demo.ui import handlers
from autoglm_demo.ui.answer_settings import AnswerSettings, Values
from autoglm_demo.ui.compare import compare
from autoglm_demo.ui.i18n import label, request_locale, text
from autoglm_demo.ui.models import ServedModels
from autoglm_demo.ui.view import render
from autoglm_demo.ui.widgets import message_box


class CompareTab:
    def __init__(self, client: BackendClient, overlay_dir: Path) -> None:
        self.client = client
        self.overlay_dir = overlay_dir
        self.choice_outputs: list[gr.components.Component] = []

    def build(self, settings: AnswerSettings) -> None:
        gr.Markdown(label("compare_intro"))
        with gr.Row():
            variant_a = gr.Dropdown(label=label("variant_a"), choices=[], elem_id="variant-a")
            variant_b = gr.Dropdown(label=label("variant_b"), choices=[], elem_id="variant-b")
        question = message_box("compare-message")
        status = gr.Markdown(elem_id="compare-status")
        with gr.Row(equal_height=True):
            answer_a = gr.Chatbot(label=label("variant_a"), elem_id="compare-a", height=480)
            answer_b = gr.Chatbot(label=label("variant_b"), elem_id="compare-b", height=480)
        table = gr.Markdown(elem_id="compare-variants")
        self.choice_outputs = [variant_a, variant_b, table]
        """Refreshed by `show_choices` whenever the page lists the backend's models."""
        self.variants, self.question, self.settings = (variant_a, variant_b), question, settings
        question.submit(
            self.run,
            {variant_a, variant_b, question} | settings.components(),
            [answer_a, answer_b, status, table],
        )

    def show_choices(self, served: ServedModels) -> tuple[Any, ...]:
        choices = [choice for family in served.families() for choice in served.variants(family)]
        ids = [model_id for _, model_id in choices]
        first = served.default_variant(next(iter(served.families()), None))
        second = next((model_id for model_id in ids if model_id != first), first)
        return (
            gr.Dropdown(choices=choices, value=first),
            gr.Dropdown(choices=choices, value=second),
            _tables(served),
        )

    async def run(self, values: Values, request: gr.Request) -> AsyncIterator[tuple[Any, ...]]:
        locale = request_locale(request)
        model_a, model_b = (values[variant] for variant in self.variants)
        message = values[self.question]
        text_in = (message or {}).get("text") or ""
        images = list((message or {}).get("files") or [])
        if not model_a or not model_b or model_a == model_b:
            gr.Warning(text("pick_two_variants", locale))
            return
        if not text_in.strip() and not images:
            gr.Warning(text("empty_input", locale))
            return
        # Listed afresh: what is loaded, and so each variant's measured weight size, changes.
        served, _ = await handlers.fetch_models(self.client)
        requests = (
            self.settings.request(values, model_a, served),
            self.settings.request(values, model_b, served),
        )
        question = Turn(text=text_in, images=images)
        async for state in compare(self.client, question, requests, self.overlay_dir):
            note = f"{text('loading_variant', locale)} `{state.loading}`" if state.loading else ""
            yield render(state.sides[0], locale), render(state.sides[1], locale), note, gr.skip()
        served, _ = await handlers.fetch_models(self.client)
        yield gr.skip(), gr.skip(), "", _tables(served)


def _tables(served: ServedModels) -> str:
    return "\n\n".join(served.variant_table(family) for family in served.families())
