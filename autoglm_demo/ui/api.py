"""The page as an API: `chat` and `transcribe`, the only endpoints gradio_client and MCP see.

`chat` answers through the page's one answering path: the request builder of the answer
settings, `stream_answer` over the OpenAI API, the action grammar and the overlay. It
streams (gradio_client's `submit()` sees the answer grow). Every other event of the page
is private, by default: `keep_only_public` runs once the page is built, so an event added
anywhere later is private unless it is registered here.

Files come as uploads, deleted once the call has ended (`CallFiles`). An image may also
be an http(s) URL, which is passed on for the backend to fetch under its own rules
(--image-url-hosts); the page never fetches it.
With --api-key, both endpoints want the key (`Authorization: Bearer KEY`) on every call,
however it is made; the page login, when set, is Gradio's.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
from gradio.blocks import BlockFunction
from gradio.data_classes import FileData
from gradio.utils import NamedString, get_function_description
from gradio_client.utils import is_http_url_like

from autoglm_demo import phone_agent
from autoglm_demo.access import KEY_REFUSED, bearer_matches
from autoglm_demo.actions import check_answer
from autoglm_demo.answering import AnswerRequest, stream_answer
from autoglm_demo.client import BackendClient, ChatOptions, TranscriptionFailed
from autoglm_demo.conversation import Turn, TurnStatus
from autoglm_demo.ui import handlers
from autoglm_demo.ui.answer_settings import answer_request
from autoglm_demo.ui.call_files import CallFiles
from autoglm_demo.ui.models import UnknownModel
from autoglm_demo.ui.overlay import overlay_hook
from autoglm_demo.ui.voice import VoiceInput

PUBLIC = "public"
# The preset prompt of agent mode when a call gives none: the official prompt is Chinese.
AGENT_PRESET_LANGUAGE = "zh"


def _files_schema() -> dict[str, Any]:
    """A list of files, each described in place. (Gradio's own list schema has each item
    refer to a definition, a reference its MCP server leaves dangling when it turns files
    into strings, so MCP clients reject the tool.)"""
    item = FileData.model_json_schema()
    item.pop("description")
    return {"type": "array", "items": item, "$defs": item.pop("$defs")}


IMAGES_SCHEMA = _files_schema()

# Earlier turns as OpenAI-style text messages. (gr.JSON's own schema, "any JSON", is not
# valid JSON Schema, which MCP clients check tool inputs against.)
HISTORY_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "role": {"type": "string", "enum": ["user", "assistant"]},
            "content": {"type": "string"},
        },
        "required": ["role", "content"],
    },
}

F = TypeVar("F", bound=Callable[..., Any])

Reply = tuple[str, str, dict[str, Any] | None, str | None, dict[str, Any] | None]
"""What `chat` yields: answer, reasoning, action, overlay image, metrics."""


def api_files(label: str, *, file_count: str, urls: bool = False) -> gr.File:
    """A gr.File for API callers, whose URLs Gradio must not download.

    Gradio fetches a URL given as a file itself, before the event runs. Here an image URL
    (`urls=True`) reaches the event as it is, for the backend to fetch under its rules;
    where only an upload will do, a URL is refused. (The hook is replaced on the instance:
    a subclass of a component makes Gradio write a stub file next to this module.)"""
    files = gr.File(label=label, file_count=file_count)  # type: ignore[arg-type]
    move_to_cache = files.async_move_resource_to_block_cache

    async def keep_urls(url_or_file_path: str | Path | None) -> str | None:
        if url_or_file_path is not None and is_http_url_like(str(url_or_file_path)):
            if urls:
                return str(url_or_file_path)
            raise gr.Error(f"{label}: send the file itself (an upload), not a URL.")
        return await move_to_cache(url_or_file_path)

    files.async_move_resource_to_block_cache = keep_urls  # type: ignore[method-assign]
    # Gradio's own also leaves an empty temporary file in the upload folder for each file.
    files._process_single_file = lambda file: NamedString(file.path)  # type: ignore[method-assign]
    return files


_PUBLIC_MARK = "_public_endpoint"


def public(fn: F) -> F:
    """Register `fn` as a public endpoint: the one way past `keep_only_public`."""
    setattr(fn, _PUBLIC_MARK, True)
    return fn


def is_public(block_fn: BlockFunction) -> bool:
    """Whether the event runs a `@public` endpoint: an API call."""
    return getattr(block_fn.fn, _PUBLIC_MARK, False)


class PublicApi:
    """The two public endpoints, bound to the page's backend client."""

    def __init__(
        self,
        client: BackendClient,
        primary_model: str,
        voice: VoiceInput,
        overlay_dir: Path,
        api_key: str | None,
        files: CallFiles,
    ) -> None:
        self.client = client
        self.primary_model = primary_model
        self.voice_input = voice
        self.overlay = overlay_hook(overlay_dir)
        self.api_key = api_key
        self.files = files

    def build(self) -> None:
        """The endpoints and their (hidden) components; call inside the page's Blocks."""
        defaults = ChatOptions()
        with gr.Column(visible=False, elem_id="api"):
            inputs = [
                gr.Textbox(label="Message", value=""),
                typed(api_files("Images", file_count="multiple", urls=True), IMAGES_SCHEMA),
                api_files("Audio", file_count="single"),
                gr.Textbox(label="Model", value=""),
                gr.Checkbox(label="Thinking", value=defaults.enable_thinking),
                gr.Slider(0, 2, value=defaults.temperature, label="Temperature"),
                gr.Slider(0.05, 1, value=defaults.top_p, label="Top-p"),
                gr.Slider(16, 8192, value=defaults.max_tokens, step=1, label="Max tokens"),
                gr.Textbox(label="System prompt", value=""),
                gr.Checkbox(label="Agent mode", value=False),
                gr.Textbox(label="Current app", value=""),
                typed(gr.JSON(label="History"), HISTORY_SCHEMA),
            ]
            outputs = [
                gr.Textbox(label="Answer"),
                gr.Textbox(label="Reasoning"),
                gr.JSON(label="Action"),
                gr.Image(label="Overlay", type="filepath"),
                gr.JSON(label="Metrics"),
            ]
            recording = api_files("Audio", file_count="single")
            transcript = gr.Textbox(label="Transcript")
        endpoints = [(self.chat, inputs, outputs), (self.transcribe, [recording], [transcript])]
        for fn, fn_inputs, fn_outputs in endpoints:
            describe_parameters(fn, fn_inputs)
            # No trigger: an API endpoint only, which nothing on the page fires.
            gr.on([], fn, fn_inputs, fn_outputs, api_name=fn.__name__, api_visibility=PUBLIC)

    @public
    async def chat(
        self,
        message: str,
        images: list[str] | None = None,
        audio: str | None = None,
        model: str = "",
        thinking: bool = True,
        temperature: float = 0.7,
        top_p: float = 1.0,
        max_tokens: float = 1024,
        system_prompt: str = "",
        agent: bool = False,
        current_app: str = "",
        history: list[dict[str, Any]] | None = None,
        request: gr.Request | None = None,
    ) -> AsyncIterator[Reply]:
        """Ask AutoGLM-Phone-9B about phone screenshots; the answer streams as it grows.

        Args:
            message: The question or task, e.g. "Open the Wi-Fi settings".
            images: Screenshots: files, or http(s) URLs the backend may fetch.
            audio: A spoken question (audio file); its transcript becomes the message.
            model: A name from /v1/models (bare: the default variant). Empty: the page's.
            thinking: Let the model reason before it answers.
            temperature: Sampling temperature (0: greedy).
            top_p: Nucleus sampling: the share of probability mass sampled from.
            max_tokens: The longest answer, in tokens.
            system_prompt: The system prompt. Empty in agent mode: the preset agent prompt.
            agent: Phone-agent mode: the official agent's messages; the answer is an action.
            current_app: Agent mode: the app on screen, for the screen-info line.
            history: Earlier turns, [{"role": "user"|"assistant", "content": text}, ...].

        Returns:
            answer: the answer, e.g. do(action="Tap", element=[500,100])
            reasoning: the model's reasoning
            action: the answer's action, parsed (kind: valid, not_action or malformed)
            overlay: the screenshot with the action drawn on it
            metrics: model, precision, time to first token, tokens per second, token counts
        """
        question: Turn | None = None
        try:
            self._check_key(request)
            turns = history_turns(history)
            question = Turn(text=message or "", images=list(images or []), audio=audio)
            if not question.text.strip() and not question.images and not question.audio:
                raise gr.Error("Send a message, an image or audio.")
            turns.append(question)
            asked = await self._request(
                model,
                thinking=thinking,
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_tokens,
                system_prompt=system_prompt,
                agent=agent,
                current_app=current_app,
            )
            async for current in stream_answer(self.client, turns, asked, overlay=self.overlay):
                yield reply(current[-1])
            if question.status is TurnStatus.FAILED:
                raise gr.Error(question.error or "The answer failed.")
        finally:
            self.files.let_go(images, audio)
            self.files.expire(question.overlay if question else None)

    async def _request(
        self, model: str, *, system_prompt: str, agent: bool, **settings: Any
    ) -> AnswerRequest:
        """The answer's request: the model named (or the page's), the preset agent prompt."""
        served, problem = await handlers.fetch_models(self.client)
        if problem:
            raise gr.Error(f"The backend's models could not be listed: {problem}")
        try:
            model_id = served.resolve(model or "", self.primary_model)
        except UnknownModel as error:
            raise gr.Error(str(error)) from None
        if agent and not system_prompt.strip():
            system_prompt = phone_agent.preset_prompt(AGENT_PRESET_LANGUAGE)
        return answer_request(
            served, model_id, system_prompt=system_prompt, agent=agent, **settings
        )

    @public
    async def transcribe(self, audio: str, request: gr.Request | None = None) -> str:
        """Transcribe a spoken question, as the page's microphone does.

        Args:
            audio: A recording or audio file (wav, mp3, flac, ogg, webm...).

        Returns:
            The text heard.
        """
        try:
            self._check_key(request)
            if not audio:
                raise gr.Error("Send an audio file.")
            return await self.voice_input.transcribe(Path(audio))
        except TranscriptionFailed as error:
            raise gr.Error(error.message) from None
        finally:
            self.files.let_go(None, audio)

    def _check_key(self, request: gr.Request | None) -> None:
        """With --api-key, every call shows it, whichever route it came by."""
        if not self.api_key:
            return
        headers = request.headers if request is not None else {}
        if not bearer_matches(self.api_key, headers.get("authorization")):
            raise gr.Error(KEY_REFUSED)


def reply(turn: Turn) -> Reply:
    """The turn as `chat` returns it; the action once the answer is complete."""
    done = turn.status is TurnStatus.DONE
    action = action_info(turn.answer) if done else None
    metrics = dataclasses.asdict(turn.metrics) if turn.metrics else None
    return turn.answer, turn.reasoning, action, turn.overlay, metrics


def action_info(answer: str) -> dict[str, Any]:
    """The answer checked against the action grammar, as JSON."""
    verdict = check_answer(answer)
    action = dataclasses.asdict(verdict.action) if verdict.action else None
    return {"kind": verdict.kind, "reason": verdict.reason, "action": action}


def history_turns(history: Any) -> list[Turn]:
    """Earlier turns from OpenAI-style messages (text only): each user message starts a
    turn, the assistant message after it is its answer."""
    if history in (None, ""):
        return []
    if not isinstance(history, list):
        raise gr.Error("history: a list of {role, content} messages.")
    turns: list[Turn] = []
    for index, message in enumerate(history):
        role = message.get("role") if isinstance(message, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if role not in ("user", "assistant") or not isinstance(content, str):
            raise gr.Error(
                f'history[{index}]: expected {{"role": "user" or "assistant", "content": text}}.'
            )
        answered = not turns or turns[-1].status is TurnStatus.DONE
        if role == "user" and answered:
            turns.append(Turn(text=content))
        elif role == "assistant" and not answered:
            turns[-1].answer, turns[-1].status = content, TurnStatus.DONE
        else:
            raise gr.Error(f"history[{index}]: user and assistant messages must alternate.")
    if turns and turns[-1].status is not TurnStatus.DONE:
        raise gr.Error("history: the last user message has no answer; send it as the message.")
    return turns


def typed(component: gr.components.Component, schema: dict[str, Any]) -> Any:
    """`component`, with `schema` as its input's type in the API description and MCP."""
    component.api_info_as_input = lambda: schema  # type: ignore[method-assign]
    return component


def describe_parameters(fn: Callable[..., Any], inputs: Sequence[gr.components.Component]) -> None:
    """Each parameter's description in `view_api()`, from `fn`'s docstring: the text MCP
    clients get for the same parameter."""
    _, described, _ = get_function_description(fn)
    for component, name in zip(inputs, inspect.signature(fn).parameters, strict=False):
        schema = {**component.api_info_as_input(), "additional_description": described[name]}
        component.api_info_as_input = lambda schema=schema: schema  # type: ignore[method-assign]


def keep_only_public(demo: gr.Blocks) -> None:
    """Make every event of `demo` private but those of `@public` functions: the page's UI
    events are not an API, whoever added them and however they were declared."""
    for block_fn in demo.fns.values():
        if not is_public(block_fn):
            block_fn.api_visibility = "private"
