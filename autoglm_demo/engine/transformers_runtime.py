"""The reference runtime: any transformers causal-LM or image-text-to-text model.

Loading follows the model's own declaration: AutoConfig decides between the
image-text-to-text classes (Glm4vForConditionalGeneration for AutoGLM-Phone-9B, with its
AutoProcessor) and plain causal LMs (with their tokenizer). accelerate places the weights
through `device_map`.

Quantized weights come from maintained libraries, picked by what is fast on the device:
bitsandbytes (LLM.int8 and NF4, through transformers' quantization config) on a GPU, and
torch's dynamic int8 Linear layers on a CPU, where bitsandbytes' int8 kernels are far slower
than float32 (measured here on SmolLM2-135M: 0.7 tokens/s, where DESIGN.md lists about 14
for float32).

`generate` runs `model.generate` on a helper thread and hands token ids back through a
queue, because transformers only exposes streaming as a push-style streamer.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal

import jinja2
import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoProcessor,
    AutoTokenizer,
    BitsAndBytesConfig,
    LogitsProcessor,
    LogitsProcessorList,
    PretrainedConfig,
    RepetitionPenaltyLogitsProcessor,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.generation.streamers import BaseStreamer
from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

from autoglm_demo.engine.detokenize import IncrementalDecoder
from autoglm_demo.engine.types import (
    ChatMessage,
    ChatTemplateError,
    Finished,
    GenerationEvent,
    ModelInfo,
    PreparedPrompt,
    SamplingParams,
    TextDelta,
    planned_max_tokens,
)
from autoglm_demo.reasoning import TAGS, THINK_OPEN

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

Quantization = Literal["bitsandbytes-int8", "bitsandbytes-nf4", "torch-dynamic-int8"]
WEIGHT_FORMATS: dict[str, str] = {
    "bitsandbytes-int8": "int8 (bitsandbytes LLM.int8)",
    "bitsandbytes-nf4": "nf4 (bitsandbytes)",
    "torch-dynamic-int8": "int8 (torch dynamic)",
}


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device == "cuda" else torch.float32
    return _DTYPES[dtype]


def _quantization_config(
    quantization: Quantization | None, compute_dtype: torch.dtype
) -> BitsAndBytesConfig | None:
    if quantization == "bitsandbytes-int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    if quantization == "bitsandbytes-nf4":
        return BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype
        )
    return None


def _weight_bytes(model: Any) -> int:
    """Bytes held by the weights, quantized ones included: torch's dynamic int8 layers keep
    their weights packed outside `parameters()`, so they are counted separately."""
    total = model.get_memory_footprint()
    for module in model.modules():
        if isinstance(module, torch.ao.nn.quantized.dynamic.Linear):
            weight = module.weight()
            total += weight.numel() * weight.element_size()
    return int(total)


def _is_image_text_to_text(config: PretrainedConfig) -> bool:
    return config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


def _context_length(config: PretrainedConfig) -> int:
    for candidate in (config, getattr(config, "text_config", None)):
        value = getattr(candidate, "max_position_embeddings", None)
        if value:
            return int(value)
    return 4096


class TransformersRuntime:
    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        processor: Any | None,
        source: str,
        quantization: Quantization | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self._processor = processor
        self._eos_ids = _eos_ids(model, tokenizer)
        self._skip_ids = _skip_ids(tokenizer)
        self._pad_id = (
            tokenizer.pad_token_id
            if tokenizer.pad_token_id is not None
            else min(self._eos_ids, default=None)
        )
        self.info = ModelInfo(
            source=source,
            architecture=type(model).__name__,
            runtime="transformers",
            vision=processor is not None,
            reasoning="</think>" in tokenizer.get_vocab(),
            context_length=_context_length(model.config),
            dtype=WEIGHT_FORMATS.get(quantization or "", str(model.dtype).removeprefix("torch.")),
            device=str(model.device),
            weight_bytes=_weight_bytes(model),
        )

    @classmethod
    def load(
        cls,
        path: str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        trust_remote_code: bool = False,
        quantization: Quantization | None = None,
        source: str | None = None,
        on_phase: Callable[[str], None] = lambda phase: None,
    ) -> TransformersRuntime:
        on_phase("reading the model configuration")
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
        device = resolve_device(device)
        vision = _is_image_text_to_text(config)
        model_class = AutoModelForImageTextToText if vision else AutoModelForCausalLM
        on_phase(f"loading weights ({model_class.__name__} on {device})")
        compute_dtype = resolve_dtype(dtype, device)
        model = model_class.from_pretrained(
            path,
            config=config,
            dtype=compute_dtype,
            device_map="auto" if device == "cuda" else device,
            quantization_config=_quantization_config(quantization, compute_dtype),
            trust_remote_code=trust_remote_code,
        )
        model.eval()
        if quantization == "torch-dynamic-int8":
            on_phase("quantizing Linear layers to int8 (torch dynamic)")
            model = torch.ao.quantization.quantize_dynamic(
                model, {torch.nn.Linear}, dtype=torch.qint8
            )
        on_phase("loading the processor" if vision else "loading the tokenizer")
        if vision:
            processor = AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)
            tokenizer = processor.tokenizer
        else:
            processor = None
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        if tokenizer.chat_template is None and getattr(processor, "chat_template", None) is None:
            raise ValueError(f"{path} has no chat template, so it cannot serve chat requests")
        runtime = cls(model, tokenizer, processor, source or path, quantization)
        on_phase("warming up")
        runtime.warm_up()
        return runtime

    def warm_up(self) -> None:
        """One tiny generation, so the first real request does not pay for lazy setup."""
        prompt = self.prepare([ChatMessage(role="user", text="Hi")], {})
        for _ in self.generate(
            prompt, SamplingParams(max_tokens=1, temperature=0), threading.Event()
        ):
            pass

    def prepare(
        self, messages: list[ChatMessage], template_kwargs: dict[str, Any]
    ) -> PreparedPrompt:
        renderer = self._processor or self.tokenizer
        try:
            inputs = renderer.apply_chat_template(
                self._template_messages(messages),
                add_generation_prompt=True,
                tokenize=True,
                return_dict=True,
                return_tensors="pt",
                **template_kwargs,
            )
        except jinja2.TemplateError as error:  # the template's own raise_exception, too
            raise ChatTemplateError(str(error)) from None
        ids = inputs["input_ids"][0]
        prompt_tokens = int(ids.shape[0])
        tail = self.tokenizer.decode(ids[-4:].tolist(), skip_special_tokens=False)
        return PreparedPrompt(
            inputs=inputs,
            prompt_tokens=prompt_tokens,
            starts_in_reasoning=tail.rstrip().endswith(THINK_OPEN),
        )

    def _template_messages(self, messages: list[ChatMessage]) -> list[dict[str, Any]]:
        if self._processor is None:
            return [{"role": m.role, "content": m.text} for m in messages]
        return [
            {
                "role": m.role,
                "content": [{"type": "image", "image": image} for image in m.images]
                + ([{"type": "text", "text": m.text}] if m.text else []),
            }
            for m in messages
        ]

    def generate(
        self, prompt: PreparedPrompt, params: SamplingParams, cancel: threading.Event
    ) -> Iterator[GenerationEvent]:
        max_new = planned_max_tokens(params)
        ids: queue.SimpleQueue[int | None | BaseException] = queue.SimpleQueue()
        worker = threading.Thread(
            target=self._run_generate,
            args=(prompt, params, max_new, cancel, ids),
            name="transformers-generate",
            daemon=True,
        )
        worker.start()
        decoder = IncrementalDecoder(self.tokenizer, self._skip_ids)
        count, last, drained = 0, None, False
        try:
            while (item := ids.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                count, last = count + 1, item
                if text := decoder.push(item):
                    yield TextDelta(text)
            drained = True
            if text := decoder.flush():
                yield TextDelta(text)
        finally:
            if not drained:
                cancel.set()  # a consumer that stops early must not leave generate running
            worker.join()
        if cancel.is_set() and last not in self._eos_ids and count < max_new:
            reason = "cancelled"
        else:
            reason = "stop" if last in self._eos_ids else "length"
        yield Finished(reason, prompt.prompt_tokens, count)

    def _run_generate(
        self,
        prompt: PreparedPrompt,
        params: SamplingParams,
        max_new: int,
        cancel: threading.Event,
        out: queue.SimpleQueue[int | None | BaseException],
    ) -> None:
        try:
            if params.seed is not None:
                torch.manual_seed(params.seed)
            sampling: dict[str, Any] = {"do_sample": False}
            if not params.greedy:
                sampling = {
                    "do_sample": True,
                    "temperature": params.temperature,
                    "top_p": params.top_p,
                    "top_k": None,
                }
            with torch.inference_mode():
                self.model.generate(
                    **prompt.inputs.to(self.model.device),
                    **sampling,
                    max_new_tokens=max_new,
                    streamer=_QueueStreamer(out),
                    stopping_criteria=StoppingCriteriaList([_StopWhenSet(cancel)]),
                    logits_processor=_penalties(params, prompt.prompt_tokens),
                    pad_token_id=self._pad_id,
                )
        except BaseException as error:  # surfaced to the consumer thread, not swallowed
            out.put(error)
        finally:
            out.put(None)


def _penalties(params: SamplingParams, prompt_tokens: int) -> LogitsProcessorList:
    """vLLM's penalties: repetition over prompt and output with transformers' own processor
    (the same multiplicative rule), then frequency and presence over the output."""
    processors = LogitsProcessorList()
    if params.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(params.repetition_penalty))
    if params.frequency_penalty or params.presence_penalty:
        processors.append(
            _OutputPenalties(params.frequency_penalty, params.presence_penalty, prompt_tokens)
        )
    return processors


class _OutputPenalties(LogitsProcessor):
    """OpenAI's additive penalties, counted over the generated tokens only: each logit loses
    `frequency` times its token's count so far, and `presence` once if it appeared at all.
    transformers has no processor for them."""

    def __init__(self, frequency: float, presence: float, prompt_tokens: int) -> None:
        self._frequency = frequency
        self._presence = presence
        self._prompt_tokens = prompt_tokens

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids[:, self._prompt_tokens :]
        counts = torch.zeros_like(scores).scatter_add_(
            1, generated, torch.ones_like(generated, dtype=scores.dtype)
        )
        return scores - self._frequency * counts - self._presence * (counts > 0).to(scores.dtype)


class _QueueStreamer(BaseStreamer):
    """Receives ids from generate(); the first call carries the prompt, which we skip."""

    def __init__(self, out: queue.SimpleQueue[int | None | BaseException]) -> None:
        self._out = out
        self._seen_prompt = False

    def put(self, value: torch.Tensor) -> None:
        if not self._seen_prompt:
            self._seen_prompt = True
            return
        for token_id in value.reshape(-1).tolist():
            self._out.put(int(token_id))

    def end(self) -> None:
        pass


class _StopWhenSet(StoppingCriteria):
    def __init__(self, event: threading.Event) -> None:
        self._event = event

    def __call__(
        self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any
    ) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), self._event.is_set(), dtype=torch.bool)


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    configured = model.generation_config.eos_token_id
    ids = set(configured if isinstance(configured, list) else [configured])
    ids.add(tokenizer.eos_token_id)
    return frozenset(i for i in ids if i is not None)


def _skip_ids(tokenizer: Any) -> set[int]:
    """Special tokens hidden from the text: all of them except the reasoning tags."""
    keep = {tokenizer.convert_tokens_to_ids(tag) for tag in TAGS}
    added = {i for i, token in tokenizer.added_tokens_decoder.items() if token.special}
    return (set(tokenizer.all_special_ids) | added) - keep
