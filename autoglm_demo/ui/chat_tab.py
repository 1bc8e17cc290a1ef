"""The Chat tab: the conversation, the voice input, the model and answer settings, and the
events that connect them to `handlers` and `answering`.

Methods here only adapt between components and the logic (read the request's language,
build the request, render turns); the logic itself lives in `handlers`, `answering` and
`view`. Answering events get their inputs as one set (`ChatInputs`): Gradio then passes one
dict of values, keyed by component, instead of a dozen positional arguments.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from autoglm_demo import stages
from autoglm_demo.answering import stream_answer
from autoglm_demo.client import BackendClient, TranscriptionFailed
from autoglm_demo.conversation import Turn, TurnStatus
from autoglm_demo.qa.recorder import QaSession, Recorder
from autoglm_demo.settings import Settings
from autoglm_demo.ui import handlers
from autoglm_demo.ui.answer_settings import AnswerSettings, Values
from autoglm_demo.ui.feedback import FeedbackBox, build_feedback
from autoglm_demo.ui.i18n import label, request_locale, text
from autoglm_demo.ui.models import ServedModels
from autoglm_demo.ui.overlay import overlay_hook
from autoglm_demo.ui.uploads import forget_session
from autoglm_demo.ui.view import render
from autoglm_demo.ui.voice import VoiceInput
from autoglm_demo.ui.widgets import message_box

# A phone settings screen the project draws itself (tools/example_screenshot.py).
QUESTION_GRACE_S = 0.1
EXAMPLE_SCREENSHOT = Path(__file__).resolve().parent.parent / "assets" / "settings_screen.png"
EXAMPLES: list[dict[str, Any]] = [
    {"text": "Open the Wi-Fi settings on this phone.", "files": [str(EXAMPLE_SCREENSHOT)]},
    {"text": "这个界面上的搜索框在哪里？请用点击动作回答。", "files": [str(EXAMPLE_SCREENSHOT)]},
    {"text": "Explain in two sentences what a phone agent does.", "files": []},
]


@dataclass(frozen=True)
class ChatInputs:
    """Every component answering reads, passed to the answering events as one set."""

    turns: gr.State
    served: gr.State
    model: gr.Radio  # the precision radio: its value is the chosen variant's model id
    settings: AnswerSettings
    qa_session: gr.State
    recording: gr.Checkbox

    def components(self) -> set[gr.components.Component]:
        fixed = {self.turns, self.served, self.model, self.qa_session, self.recording}
        return fixed | self.settings.components()


@dataclass(frozen=True)
class ModelPicker:
    """The model and precision controls, refreshed whenever the backend's models are listed."""

    family: gr.Dropdown
    precision: gr.Radio
    variants_info: gr.Markdown
    backend: gr.Markdown
    refresh: gr.Button


class ChatTab:
    """The tab's event functions, bound to one backend client; `build` adds the components
    they read (`inputs`, `models`, `message`, `audio`)."""

    def __init__(
        self,
        client: BackendClient,
        default_model: str,
        voice: VoiceInput,
        recorder: Recorder,
        overlay_dir: Path,
        export_dir: Path,
    ) -> None:
        self.client = client
        self.default_model = default_model
        self.voice_input = voice
        self.recorder = recorder
        self.overlay = overlay_hook(overlay_dir)
        self.export_dir = export_dir

    # Building.

    def build(self, served: gr.State, settings: Settings) -> None:
        """The tab's components and events; call inside its gr.Tab."""
        turns = gr.State([], delete_callback=forget_session)
        # A function, which Gradio calls for every browser session: each gets a QA session.
        # (Not the class itself, which Gradio would take for a dataclass value.)
        qa_session = gr.State(lambda: QaSession())
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label=label("chat"),
                    elem_id="chatbot",
                    height=640,
                    buttons=["copy", "copy_all"],
                    feedback_options=("Like", "Dislike"),
                )
                build_feedback(FeedbackBox(self.recorder), chatbot, turns, qa_session)
                message = message_box("message")
                # Where Enter moves the box's question and the attached clip (see `build`).
                sent = gr.MultimodalTextbox(
                    file_types=["image"], file_count="multiple", visible=False
                )
                sent_audio = gr.Audio(type="filepath", visible=False)
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
                    label=label("qa_recording"),
                    info=label("qa_recording_info"),
                    value=settings.qa,
                    elem_id="qa-recording",
                )
                with gr.Accordion(label("settings"), open=True):
                    with gr.Row():
                        family = gr.Dropdown(label=label("model"), choices=[], scale=4)
                        refresh = gr.Button(label("refresh_models"), scale=1, size="sm")
                    precision = gr.Radio(label=label("precision"), choices=[], elem_id="precision")
                    variants_info = gr.Markdown(elem_id="variants-info")
                    answer_settings = AnswerSettings.build(settings.system_prompt_file)
                    export = gr.Button(label("export_turn"), size="sm", elem_id="export-turn")
                    exported = gr.File(
                        label=label("export_file"),
                        visible=False,
                        interactive=False,
                        elem_id="exported-turn",
                    )
                backend = gr.Markdown(elem_classes=["backend-status"], elem_id="backend-status")
        self.inputs = ChatInputs(turns, served, precision, answer_settings, qa_session, recording)
        self.models = ModelPicker(family, precision, variants_info, backend, refresh)
        self.message, self.audio = message, audio
        self.sent, self.sent_audio = sent, sent_audio
        family.input(self.pick_family, [served, family], [precision, variants_info])
        export.click(
            self.export, [turns, answer_settings.system_prompt, answer_settings.agent], [exported]
        )

        def then_answer(event: gr.events.Dependency) -> gr.events.Dependency:
            """Stream the answer after `event`; re-render once it ends, even when stopped."""
            streaming = event.then(
                self.answer, self.inputs.components(), [chatbot], show_progress="hidden"
            )
            streaming.then(self.show, [turns], [chatbot], queue=False)
            return streaming

        # Queued (the default), because gr.Warning toasts only reach the page from queued events.
        # The answering events show no progress: the question and the growing answer are
        # the progress, and Gradio's placeholder bubble and the timers it animates on every
        # output would take the two cores the model prefills on.
        voice_inputs = [turns, message, audio, review]
        voice_outputs = [turns, chatbot, message, audio]
        # Enter first moves the question and clip to hidden twins and empties the box, in
        # the browser (Gradio runs a trigger's events in order, each after the one before
        # has its inputs); the answering event reads the twins and streams to the Chatbot
        # (and the conversation's state, skipped after the first update: a State costs no
        # postprocessing). Were the box and the clip outputs of that event, every update
        # would carry a "no change" for each, which Gradio builds a new component and its
        # API schema for: measured as most of the time from the first text to its frame.
        message.submit(
            None, [message, audio], [sent, sent_audio, message, audio], js=_MOVE_TO_SENT
        )
        submitting = message.submit(
            self.submit_and_answer,
            self.inputs.components() | {sent, sent_audio},
            [chatbot, turns],
            show_progress="hidden",
            preprocess=False,  # see `preprocessed`
        )
        submitting.then(self.show, [turns], [chatbot], queue=False)
        answering = [
            submitting,
            then_answer(audio.stop_recording(self.voice, voice_inputs, voice_outputs)),
            then_answer(audio.upload(self.voice, voice_inputs, voice_outputs)),
            then_answer(regenerate.click(self.regenerate, [turns], [chatbot])),
            then_answer(chatbot.retry(self.regenerate, [turns], [chatbot])),
        ]
        stop.click(None, None, None, cancels=answering)
        undo.click(self.undo, [turns], [chatbot, message], cancels=answering)
        chatbot.undo(self.undo, [turns], [chatbot, message], cancels=answering)
        clear.click(self.clear, [turns], [chatbot], cancels=answering)
        chatbot.clear(self.clear, [turns], [chatbot], cancels=answering)

    def list_models(self, demo: gr.Blocks) -> list[gr.events.Dependency]:
        """List the backend's models when the page opens and on Refresh; what follows these
        events (other tabs' choices) sees the new served."""
        inputs = [self.models.precision]
        outputs = [
            self.inputs.served,
            self.models.family,
            self.models.precision,
            self.models.variants_info,
            self.models.backend,
        ]
        return [
            demo.load(self.refresh_models, inputs, outputs),
            self.models.refresh.click(self.refresh_models, inputs, outputs),
        ]

    # Events.

    def submit(
        self,
        turns: list[Turn],
        message: dict[str, Any] | None,
        audio: str | None,
        request: gr.Request,
    ) -> Any:
        """The chat with the question added, or no change when there was nothing to send."""
        locale = request_locale(request)
        if not handlers.accept_input(turns, message, audio):
            gr.Warning(text("empty_input", locale))
            return gr.skip()
        return render(turns, locale)

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
        self, values: Values, request: gr.Request
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Stream the answer to the last turn, as the answer settings ask."""
        async for chat in self._answer(values, request_locale(request), shown=None):
            yield chat

    async def _answer(
        self, values: Values, locale: str, shown: list[dict[str, Any]] | None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The chat each time the answer changes what it shows (`shown` is on screen now).

        A rendering equal to the last one is not yielded: each update costs Gradio a round
        of postprocessing, and the one before the request (the turn marked streaming, which
        looks as it did waiting) would delay sending it."""
        inputs = self.inputs
        turns: list[Turn] = values[inputs.turns]
        model = values[inputs.model] or self.default_model
        asked = inputs.settings.request(values, model, values[inputs.served])
        session: QaSession = values[inputs.qa_session]

        def record(finished: list[Turn]) -> None:
            self.recorder.record(session, finished, asked)

        answers = stream_answer(
            self.client,
            turns,
            asked,
            overlay=self.overlay,
            on_finished=record if values[inputs.recording] else None,
        )
        async for current in answers:
            chat = render(current, locale)
            if chat != shown:
                shown = chat
                yield chat

    async def submit_and_answer(self, values: Values, request: gr.Request) -> AsyncIterator[Any]:
        """Show the question, then stream its answer, in one event.

        Chaining two events (`submit(...).then(answer)`) costs a browser round trip before
        the answer starts, measured at 100-140 ms of extra time to first token.
        """
        stages.mark("page.event")
        values = await self.preprocessed(values)
        turns: list[Turn] = values[self.inputs.turns]
        question = self.submit(turns, values[self.sent], values[self.sent_audio], request)
        # The conversation is written back once: Gradio runs a State's delete callback
        # (`forget_session`, which deletes the session's files when its tab closes) only
        # for a state some event has written. A skipped State costs nothing per update.
        if not (turns and turns[-1].status is TurnStatus.WAITING):
            yield question, turns
            return
        answer = self._answer(values, request_locale(request), shown=question)
        first = asyncio.ensure_future(anext(answer, None))
        try:
            # Rendering the question while the model reads the prompt takes CPU from it: an
            # answer that starts within QUESTION_GRACE_S shows together with its question.
            written = not (await asyncio.wait({first}, timeout=QUESTION_GRACE_S))[0]
            if written:
                yield question, turns
            chat = await first
            if chat is not None:
                yield chat, (gr.skip() if written else turns)
            elif not written:  # no answer to show: the question, and the conversation, alone
                yield question, turns
            async for chat in answer:
                yield chat, gr.skip()
        finally:
            first.cancel()  # the event was cancelled while the answer had not started

    async def preprocessed(self, raw: Values) -> Values:
        """The send event's inputs as Gradio's preprocessing would pass them.

        Gradio preprocesses each input in a worker thread of its own, 13 thread hops before
        the event starts (2 ms on a quiet machine, up to 75 ms on a busy one, where each
        hop waits for a core). Here the components' own `preprocess` runs inline, bounds
        and file-type checks included; only a clip, which may need converting, goes to a
        thread. The precision radio's value is passed as sent: its choices are per session
        and out of reach here, and the backend refuses a model it does not serve."""
        values = dict(raw)
        for component in self.inputs.settings.components() | {self.inputs.recording}:
            values[component] = component.preprocess(raw[component])
        sent, clip = raw[self.sent], raw[self.sent_audio]
        values[self.sent] = self.sent.preprocess(
            self.sent.data_model.model_validate(sent) if sent else None
        )
        if clip:
            clip = self.sent_audio.data_model.model_validate(clip)
            values[self.sent_audio] = await asyncio.to_thread(self.sent_audio.preprocess, clip)
        return values

    def export(
        self, turns: list[Turn], system_prompt: str, agent: bool, request: gr.Request
    ) -> Any:
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
        served, problem = await handlers.fetch_models(self.client)
        selected = selected if served.family_of(selected) else None
        family = served.family_of(selected) or next(iter(served.families()), None)
        variants = served.variants(family) or [(self.default_model, self.default_model)]
        picked = selected or served.default_variant(family) or variants[0][1]
        status = f"{text('backend', locale)}: `{self.client.base_url}`"
        if problem:
            status += f" — {text('models_unreachable', locale)}: {problem}"
        elif not served.models:
            status += f" — {text('no_models', locale)}"
        return (
            served,
            gr.Dropdown(choices=served.families(), value=family),
            gr.Radio(choices=variants, value=picked),
            _variants_info(served, family, locale),
            status,
        )

    def pick_family(
        self, served: ServedModels, family: str | None, request: gr.Request
    ) -> tuple[Any, ...]:
        variants = served.variants(family)
        if not variants:
            return gr.skip(), gr.skip()
        info = _variants_info(served, family, request_locale(request))
        return gr.Radio(choices=variants, value=served.default_variant(family)), info


# Inputs: the box and the clip; outputs: their hidden twins, then the emptied box and clip.
_MOVE_TO_SENT = "(message, audio) => [message, audio, {text: '', files: []}, null]"


def _variants_info(served: ServedModels, family: str | None, locale: str) -> str:
    """The family's variants with their memory and quality, and why the default is picked."""
    table = served.variant_table(family)
    return f"{table}\n\n<sub>{text('default_variant_reason', locale)}</sub>" if table else ""
