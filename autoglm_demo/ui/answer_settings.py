"""The answer settings (thinking, temperature, top-p, length, system prompt, phone-agent
mode and the app on screen), as one group.

The Chat tab shows them and the Compare tab answers under them too. Event functions get
their values together: Gradio passes the values of a *set* of input components as one dict,
keyed by component, so no function takes them one positional argument at a time, and
`request` is the one place they become an `AnswerRequest`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from autoglm_demo import phone_agent
from autoglm_demo.answering import AnswerRequest
from autoglm_demo.client import ChatOptions
from autoglm_demo.ui.i18n import label, request_locale, text
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
    agent: gr.Checkbox
    agent_language: gr.Radio  # the language of the preset prompt agent mode brings
    current_app: gr.Textbox
    prompt_file: gr.File  # a system prompt file to upload, such as the official one

    @classmethod
    def build(cls, prompt_file: str | Path | None = None) -> AnswerSettings:
        """The controls, with the defaults the page opens with; call inside a layout block.

        `prompt_file` (the --system-prompt-file setting): its text is the system prompt the
        page opens with, in agent mode."""
        defaults = ChatOptions()
        settings = cls(
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
            system_prompt=gr.Textbox(
                label=label("system_prompt"),
                lines=3,
                elem_id="system-prompt",
                value=read_prompt_file(prompt_file) if prompt_file else "",
            ),
            **_agent_controls(agent=bool(prompt_file)),
        )
        settings.agent.input(
            settings.preset, [settings.agent, settings.agent_language], [settings.system_prompt]
        )
        settings.agent_language.input(
            settings.preset, [settings.agent, settings.agent_language], [settings.system_prompt]
        )
        settings.prompt_file.upload(
            settings.load_prompt, [settings.prompt_file], [settings.system_prompt, settings.agent]
        )
        return settings

    def components(self) -> set[gr.components.Component]:
        return {
            self.thinking,
            self.temperature,
            self.top_p,
            self.max_tokens,
            self.system_prompt,
            self.agent,
            self.current_app,
        }

    def sampling(self) -> set[gr.components.Component]:
        """The controls of how the model answers, without what it is told (the prompt)."""
        return {self.thinking, self.temperature, self.top_p, self.max_tokens}

    def options(self, values: Values) -> ChatOptions:
        """What the `sampling` controls ask for."""
        return chat_options(
            thinking=values[self.thinking],
            temperature=values[self.temperature],
            top_p=values[self.top_p],
            max_tokens=values[self.max_tokens],
        )

    def request(self, values: Values, model: str, served: ServedModels) -> AnswerRequest:
        """What the settings ask of `model`, with what the backend says about it."""
        return answer_request(
            served,
            model,
            thinking=values[self.thinking],
            temperature=values[self.temperature],
            top_p=values[self.top_p],
            max_tokens=values[self.max_tokens],
            system_prompt=values[self.system_prompt],
            agent=values[self.agent],
            current_app=values[self.current_app],
        )

    # Events.

    def preset(self, agent: bool, language: str) -> Any:
        """Agent mode on: the system prompt becomes the preset, dated today."""
        return phone_agent.preset_prompt(language) if agent else gr.skip()

    def load_prompt(self, path: str | None, request: gr.Request) -> tuple[Any, ...]:
        """A system prompt file (such as the official one): its text, in agent mode."""
        if not path:
            return gr.skip(), gr.skip()
        try:
            return read_prompt_file(path), True
        except (OSError, UnicodeDecodeError) as error:
            gr.Warning(f"{text('system_prompt_file', request_locale(request))}: {error}")
            return gr.skip(), gr.skip()


def answer_request(
    served: ServedModels,
    model: str,
    *,
    thinking: bool,
    temperature: float,
    top_p: float,
    max_tokens: float,
    system_prompt: str,
    agent: bool,
    current_app: str | None,
) -> AnswerRequest:
    """The one place answer settings become a request: the page's controls and the public
    `chat` endpoint both come here."""
    options = chat_options(
        thinking=thinking, temperature=temperature, top_p=top_p, max_tokens=max_tokens
    )
    return served.answer_request(
        model, system_prompt, options, agent=agent, current_app=current_app
    )


def chat_options(
    *, thinking: bool, temperature: float, top_p: float, max_tokens: float
) -> ChatOptions:
    """The sampling settings as the client sends them (a slider's value may be a float)."""
    return ChatOptions(
        temperature=temperature,
        top_p=top_p,
        max_tokens=int(max_tokens),
        enable_thinking=thinking,
    )


def _agent_controls(*, agent: bool) -> dict[str, Any]:
    """Phone-agent mode's controls, in their own accordion."""
    with gr.Accordion(label("agent_mode"), open=True):
        return {
            "agent": gr.Checkbox(
                label=label("agent_mode"),
                info=label("agent_mode_info"),
                value=agent,
                elem_id="agent-mode",
            ),
            "agent_language": gr.Radio(
                list(phone_agent.PRESET_LANGUAGES),
                value="zh",
                label=label("agent_language"),
                elem_id="agent-language",
            ),
            "current_app": gr.Textbox(label=label("current_app"), elem_id="current-app"),
            "prompt_file": gr.File(
                label=label("system_prompt_file"),
                file_types=[".txt", ".md"],
                type="filepath",
                elem_id="system-prompt-file",
            ),
        }


def read_prompt_file(path: str | Path) -> str:
    """A system prompt file's text, verbatim but for surrounding blank lines."""
    return Path(path).read_text(encoding="utf-8").strip()
