"""The llama.cpp multimodal runtime: a GLM-4.1V GGUF and its vision projector, on the CPU.

libmtmd (llama.cpp's multimodal library, through llama-cpp-python's `mtmd_cpp` bindings)
encodes each image with the projector and places its embeddings in the prompt, so the
model sees screenshots itself, as on transformers; no OCR. We drive libmtmd directly
instead of through llama-cpp-python's `MTMDChatHandler`, because serving GLM-4.1V right
needs five things that handler does not do:

- Images are resized to multiples of 28 first (bicubic, with transformers' own rule), as
  transformers' processor does. libmtmd would pad them to that size with black bars
  instead of stretching them: the same number of tokens, but a different picture.
- `image_max_tokens` is raised to 6144, transformers' limit; libmtmd caps GLM-4V at 4096,
  and a 1440x3200 screenshot is 5814 tokens.
- Prompt length counts tokens (KV-cache cells), not rope positions. With M-RoPE an image
  of 3,000 tokens advances the position by only about 60, but fills 3,000 cells, so the
  context check must count tokens, or an over-long prompt fails deep in llama.cpp.
- `<|observation|>` ends a turn, as in GLM-4.1V's generation config; the GGUF lists only
  `<|endoftext|>` and `<|user|>`.
- Text is detokenized with special tokens: `<think>` and `<answer>` are control tokens in
  the GGUF, and the reasoning splitter needs to see them.

Flash attention is on for the language model and the vision encoder alike (it cut the
vision encode of a 1080x2400 screenshot tenfold on the CPU).
"""

from __future__ import annotations

import codecs
import ctypes
import random
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jinja2
from PIL import Image
from transformers.utils.chat_template_utils import render_jinja_template

from autoglm_demo.engine.llama_cpp_log import log_callback
from autoglm_demo.engine.llama_cpp_runtime import (
    MAX_CONTEXT,
    _token_text,
    _trained_context,
    available_threads,
    penalties,
)
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

IMAGE_MAX_TOKENS = 6144
"""GLM-4.1V's processor allows images of up to 6144 tokens (longest_edge 9633792 pixels
over two temporal frames of 28x28 pixels per token)."""

EXTRA_END_TOKENS = ("<|observation|>",)
"""Turn-ending tokens that the GGUF does not mark as end-of-generation."""

# GLM-4.1V-9B-Thinking's preprocessor_config.json: what transformers resizes images with.
PATCH_SIZE, MERGE_SIZE, TEMPORAL_PATCH_SIZE = 14, 2, 2
MIN_PIXELS, MAX_PIXELS = 12544, 9633792


def aligned_size(width: int, height: int) -> tuple[int, int]:
    """The size transformers' GLM-4.1V processor resizes an image to (multiples of 28)."""
    from transformers.models.glm4v.image_processing_glm4v import smart_resize

    new_height, new_width = smart_resize(
        num_frames=TEMPORAL_PATCH_SIZE,
        height=height,
        width=width,
        temporal_factor=TEMPORAL_PATCH_SIZE,
        factor=PATCH_SIZE * MERGE_SIZE,
        min_pixels=MIN_PIXELS,
        max_pixels=MAX_PIXELS,
    )
    return new_width, new_height


def align_image(image: Image.Image) -> Image.Image:
    """The image stretched to the processor's aligned size, so libmtmd does not letterbox."""
    image = image.convert("RGB")
    size = aligned_size(*image.size)
    return image if size == image.size else image.resize(size, Image.Resampling.BICUBIC)


class _Chunks:
    """A tokenized multimodal prompt (libmtmd's input chunks), freed with this object."""

    def __init__(self, pointer: Any) -> None:
        import llama_cpp.mtmd_cpp as mtmd

        self.pointer = pointer
        weakref.finalize(self, mtmd.mtmd_input_chunks_free, pointer)

    @property
    def count(self) -> int:
        import llama_cpp.mtmd_cpp as mtmd

        return mtmd.mtmd_input_chunks_size(self.pointer)

    @property
    def tokens(self) -> int:
        """Prompt tokens, images included: the KV-cache cells the prompt fills."""
        import llama_cpp.mtmd_cpp as mtmd

        return mtmd.mtmd_helper_get_n_tokens(self.pointer)

    def __getitem__(self, index: int) -> Any:
        import llama_cpp.mtmd_cpp as mtmd

        return mtmd.mtmd_input_chunks_get(self.pointer, index)


class LlamaCppVisionRuntime:
    def __init__(self, llm: Any, mtmd_context: Any, source: str, dtype: str, weight_bytes: int):
        import llama_cpp
        import llama_cpp.mtmd_cpp as mtmd

        self.llm = llm
        self.mtmd_context = mtmd_context
        self._marker = mtmd.mtmd_default_marker().decode()
        metadata = llm.metadata
        self._template = metadata.get("tokenizer.chat_template")
        self._bos = _token_text(llm, llm.token_bos())
        self._eos = _token_text(llm, llm.token_eos())
        extra = {self._single_token(text) for text in EXTRA_END_TOKENS} - {None}
        vocab = llm._model.vocab
        self._is_end = lambda token: (
            token in extra or bool(llama_cpp.llama_vocab_is_eog(vocab, token))
        )
        self.info = ModelInfo(
            source=source,
            architecture=metadata.get("general.architecture", "unknown"),
            runtime="llama.cpp",
            vision=True,
            reasoning=self._single_token("</think>") is not None,
            context_length=llm.n_ctx(),
            dtype=dtype,
            device="cpu",
            weight_bytes=weight_bytes,
        )

    @classmethod
    def load(
        cls,
        gguf: Path,
        mmproj: Path,
        *,
        source: str,
        dtype: str,
        threads: int = 0,
        context_length: int = 0,
        on_phase: Callable[[str], None] = lambda phase: None,
    ) -> LlamaCppVisionRuntime:
        import llama_cpp
        import llama_cpp.mtmd_cpp as mtmd
        from llama_cpp import Llama

        on_phase(f"loading {gguf.name} with llama.cpp")
        threads = threads or available_threads()
        llm = Llama(
            str(gguf),
            n_ctx=context_length or min(_trained_context(gguf), MAX_CONTEXT),
            n_threads=threads,
            n_threads_batch=threads,
            flash_attn=True,
            verbose=False,
        )
        if not llm.metadata.get("tokenizer.chat_template"):
            raise ValueError(f"{gguf} has no chat template, so it cannot serve chat requests")
        on_phase(f"loading the vision projector {mmproj.name}")
        # libmtmd logs through its own hook; route it where llama.cpp's log goes.
        mtmd.mtmd_log_set(log_callback(), ctypes.c_void_p(0))
        mtmd.mtmd_helper_log_set(log_callback(), ctypes.c_void_p(0))
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = False
        params.print_timings = False
        params.n_threads = threads
        params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
        params.image_max_tokens = IMAGE_MAX_TOKENS
        context = mtmd.mtmd_init_from_file(str(mmproj).encode(), llm.model, params)
        if not context:
            raise ValueError(f"llama.cpp cannot load the vision projector {mmproj}")
        # Freed with the model, and before it: the projector context points into it.
        llm._stack.callback(mtmd.mtmd_free, context)
        if not mtmd.mtmd_support_vision(context):
            raise ValueError(f"{mmproj} is not a vision projector")
        weight_bytes = int(llm._model.size()) + mmproj.stat().st_size
        return cls(llm, context, source, dtype, weight_bytes)

    def _single_token(self, text: str) -> int | None:
        ids = self.llm.tokenize(text.encode(), add_bos=False, special=True)
        return ids[0] if len(ids) == 1 else None

    def prepare(
        self, messages: list[ChatMessage], template_kwargs: dict[str, Any]
    ) -> PreparedPrompt:
        # Each image becomes libmtmd's marker, which it replaces with
        # <|begin_of_image|>, the image's embeddings and <|end_of_image|>.
        try:
            rendered, _ = render_jinja_template(
                conversations=[[self._template_message(m) for m in messages]],
                chat_template=self._template,
                add_generation_prompt=True,
                bos_token=self._bos,
                eos_token=self._eos,
                **template_kwargs,
            )
        except jinja2.TemplateError as error:  # the template's own raise_exception, too
            raise ChatTemplateError(str(error)) from None
        text = rendered[0]
        images = [align_image(image) for m in messages for image in m.images]
        chunks = self.tokenize(text, images)
        return PreparedPrompt(
            inputs=chunks,
            prompt_tokens=chunks.tokens,
            starts_in_reasoning=text.rstrip().endswith(THINK_OPEN),
        )

    def _template_message(self, message: ChatMessage) -> dict[str, Any]:
        if not message.images:
            return {"role": message.role, "content": message.text}
        parts = [{"type": "text", "text": self._marker} for _ in message.images]
        text = [{"type": "text", "text": message.text}] if message.text else []
        return {"role": message.role, "content": parts + text}

    def tokenize(self, text: str, images: list[Image.Image]) -> _Chunks:
        """The prompt as libmtmd's chunks: text tokens and images, not yet encoded."""
        import llama_cpp.mtmd_cpp as mtmd

        bitmaps = [_bitmap(image) for image in images]
        try:
            encoded = text.encode("utf-8")
            prompt = mtmd.mtmd_input_text()
            prompt.text, prompt.text_len = encoded, len(encoded)
            # The template writes GLM's own prefix ([gMASK]<sop>); llama.cpp adds nothing.
            prompt.add_special, prompt.parse_special = False, True
            pointer = mtmd.mtmd_input_chunks_init()
            chunks = _Chunks(pointer)
            array = (mtmd.mtmd_bitmap_p_ctypes * len(bitmaps))(*bitmaps)
            failed = mtmd.mtmd_tokenize(
                self.mtmd_context, pointer, ctypes.byref(prompt), array, len(bitmaps)
            )
            if failed:
                raise ValueError(f"llama.cpp could not tokenize the prompt (error {failed})")
            return chunks
        finally:
            for bitmap in bitmaps:
                mtmd.mtmd_bitmap_free(bitmap)

    def generate(
        self, prompt: PreparedPrompt, params: SamplingParams, cancel: threading.Event
    ) -> Iterator[GenerationEvent]:
        llm = self.llm
        max_new = planned_max_tokens(params)
        position = self._evaluate(prompt.inputs, cancel)
        if position is None:
            yield Finished("cancelled", prompt.prompt_tokens, 0)
            return
        # llama-cpp-python's own bookkeeping is in positions: the next token goes there.
        llm.n_tokens = position
        llm.set_seed(random.getrandbits(32) if params.seed is None else params.seed)
        # temp 0 is greedy in llama.cpp; top_k 0 and min_p 0 switch off the samplers that
        # the OpenAI API has no field for, so sampling means the same as on transformers.
        sampler = llm._init_sampler(
            temp=0.0 if params.greedy else params.temperature,
            top_p=params.top_p,
            top_k=0,
            min_p=0.0,
            **penalties(llm, params, max_new),
        )
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        count, reason = 0, "length"
        while count < max_new:
            token = sampler.sample(llm._ctx, -1)
            if self._is_end(token):
                reason = "stop"
                break
            count += 1
            if text := decoder.decode(llm.detokenize([token], special=True)):
                yield TextDelta(text)
            if cancel.is_set():
                reason = "cancelled"
                break
            if count < max_new:
                llm.eval([token])
        if text := decoder.decode(b"", final=True):
            yield TextDelta(text)
        yield Finished(reason, prompt.prompt_tokens, count)

    def _evaluate(self, chunks: _Chunks, cancel: threading.Event) -> int | None:
        """Run the prompt through the model, chunk by chunk (images are encoded here);
        returns the next rope position, or None when cancelled between chunks."""
        import llama_cpp
        import llama_cpp.mtmd_cpp as mtmd

        llm = self.llm
        llm.reset()
        llm._ctx.kv_cache_clear()
        position = 0
        for index in range(chunks.count):
            if cancel.is_set():
                return None
            # The helper adds a text chunk's length to this, so it starts at the position.
            after = llama_cpp.llama_pos(position)
            failed = mtmd.mtmd_helper_eval_chunk_single(
                self.mtmd_context,
                llm._ctx.ctx,
                chunks[index],
                position,
                0,
                llm.n_batch,
                index == chunks.count - 1,  # logits for the last prompt token only
                ctypes.byref(after),
            )
            if failed:
                raise RuntimeError(f"llama.cpp could not evaluate the prompt (error {failed})")
            position = after.value
        return position


def _bitmap(image: Image.Image) -> Any:
    import llama_cpp.mtmd_cpp as mtmd

    pixels = image.convert("RGB").tobytes()
    bitmap = mtmd.mtmd_bitmap_init(
        image.width, image.height, (ctypes.c_uint8 * len(pixels)).from_buffer_copy(pixels)
    )
    if not bitmap:
        raise ValueError("llama.cpp could not take the image")
    return bitmap
