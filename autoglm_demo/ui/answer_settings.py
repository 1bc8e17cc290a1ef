"""The answer settings (thinking, temperature, top-p, length, system prompt), as one group.

The Chat tab shows them and the Compare tab answers under them too. Event functions get
their values together: Gradio passes the values of a *set* of input components as one dict,
keyed by component, so no function takes them one positional argument at a time, and
`request` is the one place they become an `AnswerRequest`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr

from autoglm_demo.answering import AnswerRequest
from autoglm_demo.client import ChatOptions
from autoglm_demo.ui.i18n import label
from autoglm_demo.ui.models import ServedModels

Values = Mapping[gr.components.Component, Any]
"""What Gradio passes for a set of input components: each one's value."""


@dataclass(frozen=True)
class AnswerSettings:
    thinking: gr.Checkbox
    temperature: gr.Slider
    top_p: gr.Slider
    max_tokens: gr.Slider
    system_prompt: gr.Textbox

    @classmethod
    def build(cls) -> AnswerSettings:
        """The controls, with the defaults the page opens with; call inside a layout block."""
        defaults = ChatOptions()
        return cls(
            thinking=gr.Checkbox(label=label("thinking"), value=defaults.enable_thinking),
            temperature=gr.Slider(
                0, 2, value=defaults.temperature, step=0.05, label=label("temperature")
            ),
            top_p=gr.Slider(0.05, 1, value=defaults.top_p, step=0.05, label=label("top_p")),
            max_tokens=gr.Slider(
                16,
                8192,
                value=defaults.max_tokens,
                step=16,
                label=label("max_tokens"),
                elem_id="max-tokens",
            ),
            system_prompt=gr.Textbox(label=label("system_prompt"), lines=3),
        )

    def components(self) -> set[gr.components.Component]:
        return {self.thinking, self.temperature, self.top_p, self.max_tokens, self.system_prompt}

    def request(self, values: Values, model: str, served: ServedModels) -> AnswerRequest:
        """What the settings ask of `model`, with what the backend says about it."""
        options = ChatOptions(
            temperature=values[self.temperature],
            top_p=values[self.top_p],
            max_tokens=int(values[self.max_tokens]),
            enable_thinking=values[self.thinking],
        )
        return served.answer_request(model, values[self.system_prompt], options)
