"""The llama.cpp runtime: GGUF files on the CPU, through llama-cpp-python.

On a CPU, llama.cpp's quantized kernels read 4-bit or 8-bit weights straight from memory,
which is where decoding spends its time; transformers would dequantize them first. So GGUF
variants run here: the offline default's int8 and int4, and its full precision as F32,
which needs no torch at all.

The chat template comes from the GGUF file's own metadata and is rendered by
llama-cpp-python's Jinja2 formatter, which follows transformers' renderer (the same sandbox,
extensions and `tojson`), so `enable_thinking` and other template arguments behave as they
do on the transformers runtime. Text is decoded from bytes with an incremental UTF-8
decoder, so a Chinese character split over two tokens is never emitted half-way.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jinja2

from autoglm_demo.engine.llama_cpp_log import import_llama_cpp
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
from autoglm_demo.reasoning import THINK_OPEN

MAX_CONTEXT = 8192
"""The KV cache is allocated up front for the whole context; past this it costs more memory
than a demo conversation uses (a 64k-context 9B model would reserve gigabytes)."""


def available_threads() -> int:
    """The cores this process may run on (a container's limit, not the host's count)."""
    return len(os.sched_getaffinity(0))


class LlamaCppRuntime:
    def __init__(self, llm: Any, source: str, dtype: str) -> None:
        llama_cpp = import_llama_cpp()
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llm = llm
        self._is_end = lambda token: bool(llama_cpp.llama_vocab_is_eog(llm._model.vocab, token))
        metadata = llm.metadata
        template = metadata.get("tokenizer.chat_template")
        if template is None:
            raise ValueError(f"{source} has no chat template, so it cannot serve chat requests")
        self._format = Jinja2ChatFormatter(
            template,
            eos_token=_token_text(llm, llm.token_eos()),
            bos_token=_token_text(llm, llm.token_bos()),
        )
        self.info = ModelInfo(
            source=source,
            architecture=metadata.get("general.architecture", "unknown"),
            runtime="llama.cpp",
            vision=False,
            reasoning=len(llm.tokenize(b"</think>", add_bos=False, special=True)) == 1,
            context_length=llm.n_ctx(),
            dtype=dtype,
            device="cpu",
            weight_bytes=int(llm._model.size()),
        )

    @classmethod
    def load(
        cls,
        gguf: Path,
        *,
        source: str,
        dtype: str,
        threads: int = 0,
        on_phase: Callable[[str], None] = lambda phase: None,
    ) -> LlamaCppRuntime:
        on_phase(f"loading {gguf.name} with llama.cpp")
        threads = threads or available_threads()
        llm = import_llama_cpp().Llama(
            str(gguf),
            n_ctx=min(_trained_context(gguf), MAX_CONTEXT),
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
        return cls(llm, source, dtype)

    def prepare(
        self, messages: list[ChatMessage], template_kwargs: dict[str, Any]
    ) -> PreparedPrompt:
        try:
            text = self._format(
                messages=[{"role": m.role, "content": m.text} for m in messages], **template_kwargs
            ).prompt
        # The formatter's raise_exception (a template refusing the conversation) raises
        # ValueError; a template that breaks while rendering raises jinja2's TemplateError.
        except (jinja2.TemplateError, ValueError) as error:
            raise ChatTemplateError(str(error)) from None
        ids = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return PreparedPrompt(
            inputs=ids,
            prompt_tokens=len(ids),
            starts_in_reasoning=text.rstrip().endswith(THINK_OPEN),
        )

    def generate(
        self, prompt: PreparedPrompt, params: SamplingParams, cancel: threading.Event
    ) -> Iterator[GenerationEvent]:
        max_new = planned_max_tokens(params)
        if params.seed is not None:
            # llama.cpp reuses the cached prefix of the previous prompt, and evaluating the
            # rest in a smaller batch shifts the logits slightly; a seed must give the same
            # text every time, so a seeded request evaluates its whole prompt afresh.
            self.llm.reset()
        self.llm.set_seed(random.getrandbits(32) if params.seed is None else params.seed)
        # temp 0 is greedy in llama.cpp; top_k 0 and min_p 0 switch off the samplers that the
        # OpenAI API has no field for, so sampling means the same as on transformers.
        tokens = self.llm.generate(
            prompt.inputs,
            temp=0.0 if params.greedy else params.temperature,
            top_p=params.top_p,
            top_k=0,
            min_p=0.0,
            reset=True,
            **penalties(self.llm, params, max_new),
        )
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        count, reason = 0, "length"
        try:
            for token in tokens:
                if self._is_end(token):
                    reason = "stop"
                    break
                count += 1
                if text := decoder.decode(self.llm.detokenize([token], special=True)):
                    yield TextDelta(text)
                if cancel.is_set():
                    reason = "cancelled"
                    break
                if count >= max_new:
                    break
        finally:
            tokens.close()
        if text := decoder.decode(b"", final=True):
            yield TextDelta(text)
        yield Finished(reason, prompt.prompt_tokens, count)


def penalties(llm: Any, params: SamplingParams, max_new: int) -> dict[str, float]:
    """The request's penalties as arguments of llama-cpp-python's sampler.

    llama.cpp's penalty sampler counts the tokens it has sampled (never the prompt) within
    its last-n window; a window as long as the completion counts every generated token,
    as vLLM does for frequency and presence (its repetition penalty also counts the
    prompt's tokens)."""
    llm.last_n_tokens_size = max_new
    return {
        "repeat_penalty": params.repetition_penalty,
        "frequency_penalty": params.frequency_penalty,
        "presence_penalty": params.presence_penalty,
    }


def _trained_context(gguf: Path) -> int:
    """The context length the model was trained for, read from the file's metadata with a
    vocabulary-only load (a tenth of a second; no tensors, no context, no warnings)."""
    llama_cpp = import_llama_cpp()
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = llama_cpp.llama_model_load_from_file(str(gguf).encode(), params)
    if not model:
        raise ValueError(f"llama.cpp cannot read {gguf}")
    try:
        architecture = _metadata(model, b"general.architecture")
        return int(_metadata(model, architecture + b".context_length") or 4096)
    finally:
        llama_cpp.llama_model_free(model)


def _metadata(model: Any, key: bytes) -> bytes:
    llama_cpp = import_llama_cpp()
    value = ctypes.create_string_buffer(256)
    llama_cpp.llama_model_meta_val_str(model, key, value, len(value))
    return value.value


def _token_text(llm: Any, token: int) -> str:
    return llm.detokenize([token], special=True).decode("utf-8", errors="replace")
