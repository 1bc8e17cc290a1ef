"""The page: Gradio components and the events that connect them to `handlers`.

Functions here only adapt between components and handlers (read the request's language,
build the options, render turns); the logic itself lives in `handlers` and `view`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import gradio as gr

from autoglm_demo import phone_agent
from autoglm_demo.client import BackendClient, ChatOptions, TranscriptionFailed
from autoglm_demo.qa.recorder import QaSession, Recorder
from autoglm_demo.settings import Settings
from autoglm_demo.ui import handlers
from autoglm_demo.ui.compare_tab import AnswerSettings, CompareTab
from autoglm_demo.ui.conversation import Status, Turn
from autoglm_demo.ui.i18n import label, request_locale, text
from autoglm_demo.ui.models import Catalogue
from autoglm_demo.ui.qa_tab import QaPage, build_feedback, build_qa_tab
from autoglm_demo.ui.screenshots import EXAMPLE_SCREENSHOT
from autoglm_demo.ui.uploads import forget_session, private_upload_dir
from autoglm_demo.ui.view import render
from autoglm_demo.ui.voice import VoiceInput
from autoglm_demo.ui.widgets import message_box

CSS = """
#answer-controls button { min-width: 0; }
.backend-status { font-size: 0.85em; opacity: 0.8; }
"""

EXAMPLES: list[dict[str, Any]] = [
    {"text": "Open the Wi-Fi settings on this phone.", "files": [str(EXAMPLE_SCREENSHOT)]},
    {"text": "这个界面上的搜索框在哪里？请用点击动作回答。", "files": [str(EXAMPLE_SCREENSHOT)]},
    {"text": "Explain in two sentences what a phone agent does.", "files": []},
]


class Page:
    """Event functions bound to one backend client."""

    def __init__(
        self, client: BackendClient, default_model: str, voice: VoiceInput, recorder: Recorder
    ) -> None:
        self.client = client
        self.default_model = default_model
        self.voice_input = voice
        self.recorder = recorder
        # Overlays go to the temp folder, which Gradio serves files from without extra setup.
        self.overlay_dir = private_upload_dir() / "overlays"
        self.export_dir = private_upload_dir() / "exports"

    def submit(
        self, turns: list[Turn], message: dict[str, Any] | None, audio: str | None, request: gr.Request
    ) -> tuple[Any, ...]:
        locale = request_locale(request)
        if not handlers.accept_input(turns, message, audio):
            gr.Warning(text("empty_input", locale))
            return turns, gr.skip(), gr.skip(), gr.skip()
        return turns, render(turns, locale), None, None

    async def voice(
        self,
        turns: list[Turn],
        message: dict[str, Any] | None,
        audio: str | None,
        review: bool,
        request: gr.Request,
    ) -> tuple[Any, ...]:
        """A finished recording or an uploaded file: its transcript goes to the input box
        (review) or is sent at once."""
        if not audio:
            return turns, gr.skip(), gr.skip(), gr.skip()
        locale = request_locale(request)
        try:
            box = await handlers.take_voice(self.voice_input, turns, message, audio, review=review)
        except TranscriptionFailed as error:
            gr.Warning(f"{text('transcription_failed', locale)}: {error.message}")
            # The clip goes, so it cannot ride along unheard with the next message.
            return turns, gr.skip(), gr.skip(), None
        if box is not None:
            return turns, gr.skip(), box, gr.skip()
        return turns, render(turns, locale), None, None

    async def answer(
        self,
        turns: list[Turn],
        catalogue: Catalogue,
        model: str | None,
        thinking: bool,
        temperature: float,
        top_p: float,
        max_tokens: float,
        system_prompt: str,
        agent: bool,
        current_app: str,
        qa_session: QaSession,
        recording: bool,
        request: gr.Request,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        locale = request_locale(request)
        model = model or self.default_model
        options = ChatOptions(
            temperature=temperature, top_p=top_p, max_tokens=int(max_tokens), enable_thinking=thinking
        )
        settings = handlers.Request(
            model,
            catalogue.precision(model),
            system_prompt,
            options,
            catalogue.weight_bytes(model),
            reasoning_model=catalogue.reasoning(model),
            agent=agent,
            current_app=current_app,
        )
        def record(finished: list[Turn]) -> None:
            self.recorder.record(qa_session, finished, settings)

        answers = handlers.stream_answer(
            self.client, turns, settings, self.overlay_dir, record if recording else None
        )
        async for current in answers:
            yield render(current, locale)

    async def submit_and_answer(
        self,
        turns: list[Turn],
        message: dict[str, Any] | None,
        audio: str | None,
        catalogue: Catalogue,
        model: str | None,
        thinking: bool,
        temperature: float,
        top_p: float,
        max_tokens: float,
        system_prompt: str,
        agent: bool,
        current_app: str,
        qa_session: QaSession,
        recording: bool,
        request: gr.Request,
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Show the question, then stream its answer, in one event.

        Chaining two events (`submit(...).then(answer)`) costs a browser round trip before
        the answer starts, measured at 100-140 ms of extra time to first token.
        """
        shown = self.submit(turns, message, audio, request)
        yield shown
        if turns and turns[-1].status is Status.WAITING:
            answers = self.answer(
                turns, catalogue, model, thinking, temperature, top_p, max_tokens, system_prompt,
                agent, current_app, qa_session, recording, request,
            )
            async for chat in answers:
                yield turns, chat, gr.skip(), gr.skip()

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

    def export(self, turns: list[Turn], system_prompt: str, agent: bool, request: gr.Request) -> Any:
        """The last answered turn's request as Open-AutoGLM's `sample_messages` JSON file."""
        exported = handlers.export_last_turn(turns, system_prompt, agent, self.export_dir)
        if exported is None:
            gr.Warning(text("nothing_to_export", request_locale(request)))
            return gr.skip()
        return gr.File(value=str(exported), visible=True)

    def show(self, turns: list[Turn], request: gr.Request) -> list[dict[str, Any]]:
        return render(turns, request_locale(request))

    def regenerate(self, turns: list[Turn], request: gr.Request) -> list[dict[str, Any]]:
        locale = request_locale(request)
        if not handlers.prepare_regenerate(turns):
            gr.Warning(text("nothing_to_regenerate", locale))
        return render(turns, locale)

    def undo(self, turns: list[Turn], request: gr.Request) -> tuple[Any, ...]:
        restored = handlers.undo(turns)
        return render(turns, request_locale(request)), restored if restored else gr.skip()

    def clear(self, turns: list[Turn]) -> list[dict[str, Any]]:
        turns.clear()
        return []

    async def refresh_models(self, selected: str | None, request: gr.Request) -> tuple[Any, ...]:
        locale = request_locale(request)
        catalogue, problem = await handlers.fetch_catalogue(self.client)
        selected = selected if catalogue.family_of(selected) else None
        family = catalogue.family_of(selected) or next(iter(catalogue.families()), None)
        variants = catalogue.variants(family) or [(self.default_model, self.default_model)]
        picked = selected or catalogue.default_variant(family) or variants[0][1]
        status = f"{text('backend', locale)}: `{self.client.base_url}`"
        if problem:
            status += f" — {text('models_unreachable', locale)}: {problem}"
        elif not catalogue.models:
            status += f" — {text('no_models', locale)}"
        return (
            catalogue,
            gr.Dropdown(choices=catalogue.families(), value=family),
            gr.Radio(choices=variants, value=picked),
            _variants_info(catalogue, family, locale),
            status,
        )

    def pick_family(self, catalogue: Catalogue, family: str | None, request: gr.Request) -> tuple[Any, ...]:
        variants = catalogue.variants(family)
        if not variants:
            return gr.skip(), gr.skip()
        info = _variants_info(catalogue, family, request_locale(request))
        return gr.Radio(choices=variants, value=catalogue.default_variant(family)), info


def read_prompt_file(path: str | Path) -> str:
    """A system prompt file's text, verbatim but for surrounding blank lines."""
    return Path(path).read_text(encoding="utf-8").strip()


def _variants_info(catalogue: Catalogue, family: str | None, locale: str) -> str:
    """The family's variants with their memory and quality, and why the default is picked."""
    table = catalogue.variant_table(family)
    return f"{table}\n\n<sub>{text('default_variant_reason', locale)}</sub>" if table else ""


def build_demo(
    client: BackendClient, settings: Settings, voice: VoiceInput, recorder: Recorder
) -> gr.Blocks:
    page = Page(client, settings.primary_model_name, voice, recorder)
    prompt_file = settings.system_prompt_file
    qa_page = QaPage(recorder, client, private_upload_dir())
    with gr.Blocks(title="AutoGLM-Phone-9B demo") as demo:
        turns = gr.State([], delete_callback=forget_session)
        catalogue = gr.State(Catalogue())
        # A function, which Gradio calls for every browser session: each gets a QA session.
        # (Not the class itself, which Gradio would take for a dataclass value.)
        qa_session = gr.State(lambda: QaSession())
        gr.Markdown("# " + label("title"), elem_id="title")
        gr.Markdown(label("subtitle"))
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab(label("tab_chat"), id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(
                            label=label("chat"),
                            elem_id="chatbot",
                            height=640,
                            buttons=["copy", "copy_all"],
                            feedback_options=("Like", "Dislike"),
                        )
                        build_feedback(qa_page, chatbot, turns, qa_session)
                        message = message_box("message")
                        with gr.Row(elem_id="answer-controls"):
                            stop = gr.Button(label("stop"), variant="stop", elem_id="stop")
                            regenerate = gr.Button(label("regenerate"), elem_id="regenerate")
                            undo = gr.Button(label("undo"), elem_id="undo")
                            clear = gr.Button(label("clear"), elem_id="clear")
                        gr.Examples(EXAMPLES, inputs=[message], label=label("examples"))
                    with gr.Column(scale=2):
                        audio = gr.Audio(
                            sources=["microphone", "upload"],
                            type="filepath",
                            label=label("microphone"),
                            elem_id="voice",
                        )
                        review = gr.Checkbox(
                            label=label("voice_review"), value=settings.voice_review, elem_id="voice-review"
                        )
                        recording = gr.Checkbox(
                            label=label("qa_recording"), info=label("qa_recording_info"),
                            value=settings.qa, elem_id="qa-recording",
                        )
                        with gr.Accordion(label("settings"), open=True):
                            with gr.Row():
                                family = gr.Dropdown(label=label("model"), choices=[], scale=4)
                                refresh = gr.Button(label("refresh_models"), scale=1, size="sm")
                            precision = gr.Radio(label=label("precision"), choices=[], elem_id="precision")
                            variants_info = gr.Markdown(elem_id="variants-info")
                            thinking = gr.Checkbox(label=label("thinking"), value=True)
                            temperature = gr.Slider(0, 2, value=0.7, step=0.05, label=label("temperature"))
                            top_p = gr.Slider(0.05, 1, value=1.0, step=0.05, label=label("top_p"))
                            max_tokens = gr.Slider(16, 8192, value=1024, step=16, label=label("max_tokens"), elem_id="max-tokens")
                            system_prompt = gr.Textbox(
                                label=label("system_prompt"), lines=3, elem_id="system-prompt",
                                value=read_prompt_file(prompt_file) if prompt_file else "",
                            )
                        with gr.Accordion(label("agent_mode"), open=True):
                            agent = gr.Checkbox(
                                label=label("agent_mode"), info=label("agent_mode_info"),
                                value=bool(prompt_file), elem_id="agent-mode",
                            )
                            agent_language = gr.Radio(
                                list(phone_agent.PRESET_LANGUAGES), value="zh",
                                label=label("agent_language"), elem_id="agent-language",
                            )
                            current_app = gr.Textbox(label=label("current_app"), elem_id="current-app")
                            prompt_upload = gr.File(
                                label=label("system_prompt_file"), file_types=[".txt", ".md"],
                                type="filepath", elem_id="system-prompt-file",
                            )
                            export = gr.Button(label("export_turn"), size="sm", elem_id="export-turn")
                            exported = gr.File(
                                label=label("export_file"), visible=False, interactive=False,
                                elem_id="exported-turn",
                            )
                        backend = gr.Markdown(elem_classes=["backend-status"], elem_id="backend-status")

            with gr.Tab(label("tab_compare"), id="compare"):
                answer_settings = AnswerSettings(thinking, temperature, top_p, max_tokens, system_prompt)
                compare_tab = CompareTab(client, page.overlay_dir)
                compare_tab.build(catalogue, answer_settings)

            with gr.Tab(label("tab_qa"), id="qa") as qa_tab:
                build_qa_tab(qa_page, qa_tab, catalogue, precision)

        model_outputs = [catalogue, family, precision, variants_info, backend]
        for listing in (
            demo.load(page.refresh_models, [precision], model_outputs),
            refresh.click(page.refresh_models, [precision], model_outputs),
        ):
            listing.then(compare_tab.show_choices, [catalogue], compare_tab.choice_outputs)
        family.input(page.pick_family, [catalogue, family], [precision, variants_info])

        answer_inputs = [
            turns, catalogue, precision, thinking, temperature, top_p, max_tokens, system_prompt,
            agent, current_app, qa_session, recording,
        ]
        agent.input(page.preset, [agent, agent_language], [system_prompt])
        agent_language.input(page.preset, [agent, agent_language], [system_prompt])
        prompt_upload.upload(page.load_prompt, [prompt_upload], [system_prompt, agent])
        export.click(page.export, [turns, system_prompt, agent], [exported])

        def then_answer(event: gr.events.Dependency) -> gr.events.Dependency:
            """Stream the answer after `event`; re-render once it ends, even when stopped."""
            streaming = event.then(page.answer, answer_inputs, [chatbot])
            streaming.then(page.show, [turns], [chatbot], queue=False)
            return streaming

        # Queued (the default), because gr.Warning toasts only reach the page from queued events.
        voice_inputs = [turns, message, audio, review]
        voice_outputs = [turns, chatbot, message, audio]
        submitting = message.submit(
            page.submit_and_answer,
            [turns, message, audio, *answer_inputs[1:]],
            [turns, chatbot, message, audio],
        )
        submitting.then(page.show, [turns], [chatbot], queue=False)
        answering = [
            submitting,
            then_answer(audio.stop_recording(page.voice, voice_inputs, voice_outputs)),
            then_answer(audio.upload(page.voice, voice_inputs, voice_outputs)),
            then_answer(regenerate.click(page.regenerate, [turns], [chatbot])),
            then_answer(chatbot.retry(page.regenerate, [turns], [chatbot])),
        ]
        stop.click(None, None, None, cancels=answering)
        undo.click(page.undo, [turns], [chatbot, message], cancels=answering)
        chatbot.undo(page.undo, [turns], [chatbot, message], cancels=answering)
        clear.click(page.clear, [turns], [chatbot], cancels=answering)
        chatbot.clear(page.clear, [turns], [chatbot], cancels=answering)
    return demo
