"""OpenAI chat-completions wire types, kept apart from the serving logic (as vLLM does).

Requests accept unknown fields (clients such as LangChain send extras) but validate every
field we act on. The reasoning flags follow the conventions in use: `enable_thinking` and
`return_reasoning` at the top level, vLLM's `chat_template_kwargs` and `skip_special_tokens`,
and SGLang's `separate_reasoning`. Responses carry the trace in both `reasoning_content`
(DeepSeek, SGLang) and `reasoning` (current vLLM).
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

from autoglm_demo.engine.engine import LoadState
from autoglm_demo.server.page_start import PageState
from autoglm_demo.settings import Precision


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class TextPart(_Lenient):
    type: Literal["text"]
    text: str


class ImageURL(_Lenient):
    url: str = Field(description="A data: URI such as data:image/png;base64,…")
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Lenient):
    type: Literal["image_url"]
    image_url: ImageURL


class InputAudio(_Lenient):
    data: str = Field(description="Base64-encoded audio")
    format: str


class AudioPart(_Lenient):
    type: Literal["input_audio"]
    input_audio: InputAudio


ContentPart = Annotated[TextPart | ImagePart | AudioPart, Field(discriminator="type")]


class RequestMessage(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None


# Fields we act on take only their JSON type: pydantic's lax mode would read `true` as a
# temperature of 1.0, `1` or "yes" as stream=true, "8" or 8.0 as max_tokens, against the schema.


class StreamOptions(_Lenient):
    include_usage: StrictBool = False


class ChatCompletionRequest(_Lenient):
    model: str
    messages: list[RequestMessage] = Field(min_length=1)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    temperature: StrictFloat | None = Field(None, ge=0, le=2)
    top_p: StrictFloat | None = Field(None, gt=0, le=1)
    max_tokens: StrictInt | None = Field(None, ge=1)
    max_completion_tokens: StrictInt | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: StrictInt | None = Field(None, ge=-(2**63), le=2**64 - 1)  # what torch accepts
    frequency_penalty: StrictFloat | None = Field(
        None, ge=-2, le=2, description="OpenAI's: minus this times each token's count so far."
    )
    presence_penalty: StrictFloat | None = Field(
        None, ge=-2, le=2, description="OpenAI's: minus this for each token that appeared."
    )
    repetition_penalty: StrictFloat | None = Field(
        None,
        ge=0.01,  # vLLM takes any positive value; below this a logit can overflow to inf
        description="vLLM's: logits of tokens in the prompt or output are divided by this "
        "(multiplied, when negative); 1 is off.",
    )
    n: StrictInt = Field(1, ge=1, le=1, description="Only one choice per request is supported.")
    enable_thinking: StrictBool | None = None
    return_reasoning: StrictBool | None = None
    separate_reasoning: StrictBool = True
    skip_special_tokens: StrictBool = Field(
        True, description="false keeps the <think>/<answer> tags in content (vLLM's flag)."
    )
    chat_template_kwargs: dict[str, Any] | None = None

    @property
    def thinking(self) -> bool:
        if self.enable_thinking is not None:
            return self.enable_thinking
        return bool((self.chat_template_kwargs or {}).get("enable_thinking", True))

    @property
    def include_reasoning(self) -> bool:
        return self.return_reasoning is not False

    @property
    def raw_tags(self) -> bool:
        """The client wants the model's text as it is, tags included, in content."""
        return not (self.skip_special_tokens and self.separate_reasoning)

    @property
    def penalties(self) -> dict[str, float]:
        """The penalties this request sets; the others keep the served model's defaults."""
        names = ("frequency_penalty", "presence_penalty", "repetition_penalty")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    @property
    def stop_sequences(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


# -- responses ---------------------------------------------------------------------------


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ResponseMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    reasoning_content: str | None = None
    reasoning: str | None = None


class Choice(BaseModel):
    index: int = 0
    message: ResponseMessage
    finish_reason: Literal["stop", "length"] | None
    logprobs: None = None


class InputTranscript(BaseModel):
    """What the server heard in one input_audio part; the model received this text instead."""

    message_index: int = Field(description="Index of the message in the request's `messages`.")
    part_index: int = Field(description="Index of the input_audio part in that message.")
    text: str
    language: str = Field(description="ISO-639-1 code, detected unless the request fixed it.")


_TRANSCRIPTS_HELP = (
    "Transcripts of the request's input_audio parts (null when it had none). Streamed "
    "responses carry them on the first chunk."
)


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    input_transcripts: list[InputTranscript] | None = Field(None, description=_TRANSCRIPTS_HELP)


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop", "length"] | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    input_transcripts: list[InputTranscript] | None = Field(None, description=_TRANSCRIPTS_HELP)


# -- audio transcriptions ----------------------------------------------------------------

TranscriptionFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]


class Transcription(BaseModel):
    text: str


class TranscriptionSegment(BaseModel):
    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


class TranscriptionVerbose(BaseModel):
    task: Literal["transcribe"] = "transcribe"
    language: str = Field(description="ISO-639-1 code (OpenAI writes the language's name).")
    duration: float
    text: str
    segments: list[TranscriptionSegment]


class ModelCapabilities(BaseModel):
    vision: bool = Field(description="The model itself sees images.")
    image_input: Literal["native", "ocr"] = Field(
        description="How images reach the model: seen directly, or read with OCR as text."
    )
    reasoning: bool = Field(description="The model can produce a <think> trace.")


# The engine's load states, as the wire spells them.
VariantState = Literal[tuple(state.value for state in LoadState)]  # type: ignore[valid-type]


class VariantQuality(BaseModel):
    """Measured against full precision on a fixed text (bench/bench_precision.py)."""

    perplexity: float
    top1_agreement: float = Field(
        description="Share of positions where the greedy next token equals full precision's."
    )
    tokens: int
    text: str
    measured: str


class ModelCard(BaseModel):
    """One served name. The precision variants of one model share their `root`."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "autoglm-demo"
    root: str = Field(description="What is really served under this name.")
    precision: Precision
    method: str = Field(description="How the weights are stored and run.")
    runtime: str
    status: VariantState = Field(
        description="Variants load on first use; a request to an unloaded one loads it."
    )
    status_detail: str
    default: bool = Field(description="The variant the server loads first and pages pick.")
    weight_bytes: int | None = Field(
        description="Measured once loaded; before, the size of the weight files, if known."
    )
    dtype: str | None = Field(None, description="Weight format; known once loaded.")
    device: str | None = None
    max_model_len: int | None = None
    capabilities: ModelCapabilities | None = None
    quality: VariantQuality | None = Field(None, description="Present once measured.")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class Health(BaseModel):
    status: VariantState
    detail: str
    model: str | None = None
    # Only where the process serves the page too: it starts after the API, so /health can
    # be 200 while the page is still "starting" (then "ready", or "failed").
    page: PageState | None = None


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail
