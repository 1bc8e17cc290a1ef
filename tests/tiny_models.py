"""Tiny, locally built model folders for tests.

No model hub is reachable from the test machines, so every model the tests load
is built here, from nothing, with a fixed seed, and written with
``save_pretrained``.  The product then loads these folders through exactly the
same code it uses for the real checkpoint (``AutoConfig`` / ``AutoProcessor`` /
``from_pretrained``), so the loading and generation paths are tested for real;
only the weights are tiny.

Three builders:

* :func:`build_tiny_glm4v` - a random ``Glm4vForConditionalGeneration`` (the
  architecture of AutoGLM-Phone-9B / GLM-4.1V-9B-Thinking) with a full
  ``Glm4vProcessor`` (tokenizer with GLM's special tokens, image processor,
  video processor) and the real GLM-4.1V chat template.
* :func:`build_tiny_llama` - a random ``LlamaForCausalLM`` with a ChatML
  template, for "some other causal LM" cases.
* :func:`train_tiny_tagged_model` - a tiny causal LM that is genuinely *trained*
  (AdamW, CPU, seconds) to answer any prompt with a fixed reply such as
  ``<think>...</think><answer>...</answer>``, so that tests of reasoning-trace
  parsing / streaming see real model output instead of a mock.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

__all__ = [
    "GLM4V_CHAT_TEMPLATE",
    "GLM_SPECIAL_TOKENS",
    "CHATML_TEMPLATE",
    "build_tiny_glm4v",
    "build_tiny_llama",
    "train_tiny_tagged_model",
]

# The chat template shipped by zai-org/GLM-4.1V-9B-Thinking (chat_template in its
# tokenizer config), verbatim.  Note what it does NOT do: it never emits a
# closing token after a turn (the next role token ends the previous turn), and
# the generation prompt is "<|assistant|>\n".
GLM4V_CHAT_TEMPLATE = (
    "[gMASK]<sop>\n"
    "{%- for msg in messages %}\n"
    "    {%- if msg.role == 'system' %}\n"
    "<|system|>\n"
    "{{ msg.content }}\n"
    "    {%- elif msg.role == 'user' %}\n"
    "<|user|>{{ '\\n' }}\n"
    "\n"
    "        {%- if msg.content is string %}\n"
    "{{ msg.content }}\n"
    "        {%- else %}\n"
    "            {%- for item in msg.content %}\n"
    "                {%- if item.type == 'video' or 'video' in item %}\n"
    "<|begin_of_video|><|video|><|end_of_video|>\n"
    "                {%- elif item.type == 'image' or 'image' in item %}\n"
    "<|begin_of_image|><|image|><|end_of_image|>\n"
    "                {%- elif item.type == 'text' %}\n"
    "{{ item.text }}\n"
    "                {%- endif %}\n"
    "            {%- endfor %}\n"
    "        {%- endif %}\n"
    "    {%- elif msg.role == 'assistant' %}\n"
    "        {%- if msg.metadata %}\n"
    "<|assistant|>{{ msg.metadata }}\n"
    "{{ msg.content }}\n"
    "        {%- else %}\n"
    "<|assistant|>\n"
    "{{ msg.content }}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{% if add_generation_prompt %}<|assistant|>\n"
    "{% endif %}"
)

# GLM-4.1V's special tokens, in the order of the real vocabulary (151329...).
# The tiny vocab keeps the order, not the ids: configs are written from the ids
# the tiny tokenizer actually assigns.
GLM_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "[MASK]",
    "[gMASK]",
    "[sMASK]",
    "<sop>",
    "<eop>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|observation|>",
    "<|begin_of_image|>",
    "<|end_of_image|>",
    "<|begin_of_video|>",
    "<|end_of_video|>",
    "<|image|>",
    "<|video|>",
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
)

# GLM-4.1V stops on any of these (generation_config.json: 151329, 151336, 151338).
_GLM_EOS_TOKENS = ("<|endoftext|>", "<|user|>", "<|observation|>")

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# The image/video preprocessing values of GLM-4.1V-9B-Thinking's
# preprocessor_config.json / video_preprocessor_config.json.  Kept as they are
# so that the tiny folder resizes images exactly like the real one.
_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
_GLM_IMAGE_PREPROCESSOR: dict[str, Any] = {
    "size": {"shortest_edge": 12544, "longest_edge": 9633792},
    "do_rescale": True,
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": _CLIP_MEAN,
    "image_std": _CLIP_STD,
    "image_processor_type": "Glm4vImageProcessor",
    "processor_class": "Glm4vProcessor",
}
_GLM_VIDEO_PREPROCESSOR: dict[str, Any] = {
    "size": {"shortest_edge": 12544, "longest_edge": 47040000},
    "do_rescale": True,
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": _CLIP_MEAN,
    "image_std": _CLIP_STD,
    "video_processor_type": "Glm4vVideoProcessor",
    "processor_class": "Glm4vProcessor",
}


def _byte_level_tokenizer(
    special_tokens: tuple[str, ...] | list[str],
    *,
    corpus: list[str] | None = None,
    vocab_size: int = 0,
    vocabulary: Path | None = None,
    **fast_kwargs: Any,
):
    """A byte-level BPE tokenizer (any UTF-8 text, Chinese included, round-trips).

    Without ``corpus`` it has no merges: 256 byte tokens, then the special
    tokens (ids 256...).  With ``corpus`` it learns BPE merges up to
    ``vocab_size`` first (shorter sequences, which makes training faster and
    easier).  With ``vocabulary`` (a GGUF vocabulary file such as llama.cpp's
    ``ggml-vocab-gpt-2.gguf``) it takes that file's tokens and merges.
    Special tokens are always *added* tokens (``special=True``) and come last,
    as in the real GLM vocabulary.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab, merges = (
        _gguf_vocabulary(vocabulary)
        if vocabulary
        else ({c: i for i, c in enumerate(alphabet)}, [])
    )
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    if corpus:
        trainer = trainers.BpeTrainer(
            vocab_size=max(vocab_size, len(alphabet)),
            min_frequency=2,
            initial_alphabet=alphabet,
            show_progress=False,
        )
        tok.train_from_iterator(corpus, trainer=trainer)
    tok.add_special_tokens(list(special_tokens))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, clean_up_tokenization_spaces=False, **fast_kwargs
    )


def _gguf_vocabulary(path: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The tokens and BPE merges stored in a GGUF vocabulary file."""
    from gguf import GGUFReader

    reader = GGUFReader(path)

    def strings(key: str) -> list[str]:
        field = reader.fields[key]
        return [bytes(field.parts[index]).decode("utf-8") for index in field.data]

    tokens = strings("tokenizer.ggml.tokens")
    merges = [tuple(merge.split(" ", 1)) for merge in strings("tokenizer.ggml.merges")]
    return {token: i for i, token in enumerate(tokens)}, merges  # type: ignore[return-value]


def _glm_tokenizer(
    *, corpus: list[str] | None = None, vocab_size: int = 0, vocabulary: Path | None = None
):
    """GLM-4.1V-like tokenizer: GLM special tokens, eos = pad = <|endoftext|>,
    left padding and the real chat template (as in the real tokenizer_config)."""
    tokenizer = _byte_level_tokenizer(
        GLM_SPECIAL_TOKENS,
        corpus=corpus,
        vocab_size=vocab_size,
        vocabulary=vocabulary,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=[t for t in GLM_SPECIAL_TOKENS if t != "<|endoftext|>"],
        padding_side="left",
        model_max_length=8192,
    )
    tokenizer.chat_template = GLM4V_CHAT_TEMPLATE
    return tokenizer


def _ids(tokenizer, tokens) -> dict[str, int]:
    return {t: int(tokenizer.convert_tokens_to_ids(t)) for t in tokens}


def _padded_vocab(n: int, multiple: int = 64) -> int:
    return ((n + multiple - 1) // multiple) * multiple


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_glm4v_processor(folder: Path, vocabulary: Path | None = None):
    """Write GLM-4.1V's tokenizer (GLM's special tokens) and processor configs into
    ``folder``; returns the tokenizer."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _glm_tokenizer(vocabulary=vocabulary)
    tokenizer.save_pretrained(folder)
    _write_json(folder / "preprocessor_config.json", _GLM_IMAGE_PREPROCESSOR)
    _write_json(folder / "video_preprocessor_config.json", _GLM_VIDEO_PREPROCESSOR)
    return tokenizer


# The tiny GLM-4.1V's layers: the real architecture (partial rotary, 3-D M-RoPE sections,
# grouped KV heads, a merging vision tower) at the smallest sizes its code accepts.
TINY_GLM4V_TEXT: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "rope_parameters": {
        "rope_type": "default",
        "rope_theta": 10000.0,
        "partial_rotary_factor": 0.5,
        "mrope_section": [2, 3, 3],
    },
}
TINY_GLM4V_VISION: dict[str, Any] = {
    "depth": 1,
    "hidden_size": 32,
    "num_heads": 2,
    "intermediate_size": 64,
    "out_hidden_size": 64,
    "image_size": 28,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
}


def glm4v_token_config(tokenizer) -> dict[str, dict[str, Any]]:
    """The token ids a Glm4vConfig needs, from the ids ``tokenizer`` assigns: ``text`` for
    its text_config, ``model`` for the top level."""
    ids = _ids(tokenizer, GLM_SPECIAL_TOKENS)
    return {
        "text": {
            "pad_token_id": ids["<|endoftext|>"],
            "eos_token_id": [ids[t] for t in _GLM_EOS_TOKENS],
        },
        "model": {
            "image_token_id": ids["<|image|>"],
            "video_token_id": ids["<|video|>"],
            "image_start_token_id": ids["<|begin_of_image|>"],
            "image_end_token_id": ids["<|end_of_image|>"],
            "video_start_token_id": ids["<|begin_of_video|>"],
            "video_end_token_id": ids["<|end_of_video|>"],
        },
    }


def build_tiny_glm4v(
    folder: Path, vocabulary: Path | None = None, reply: tuple[str, ...] = ()
) -> Path:
    """Write a tiny random GLM-4.1V (``Glm4vForConditionalGeneration``) + processor.

    The folder has the same files as the real checkpoint (config.json,
    generation_config.json, model.safetensors, tokenizer.json,
    tokenizer_config.json, chat_template.jinja, preprocessor_config.json,
    video_preprocessor_config.json), so ``AutoConfig`` / ``AutoProcessor`` /
    ``Glm4vForConditionalGeneration.from_pretrained`` load it unchanged.

    Dimensions are the smallest that satisfy the model's constraints:
    text head_dim 32 with partial_rotary_factor 0.5 -> 16 rotary dims -> 8
    frequencies = sum(mrope_section [2, 3, 3]); vision head_dim 16 (axial rope
    needs a multiple of 4); vision ``out_hidden_size`` == text ``hidden_size``;
    ``image_size`` 28 = 2x2 patches of 14 for the interpolated position table.
    Patch size 14 / merge 2 / temporal 2 are the real values (the processor
    and the model must agree on them), so a 64x64 image becomes 84x84 -> 6x6
    patches -> 9 ``<|image|>`` tokens.

    The processor files are written as JSON rather than through
    ``Glm4vProcessor.save_pretrained`` because constructing a ``Glm4vProcessor``
    needs torchvision (for its video processor); writing them lets the folder
    be built anywhere.  *Loading* it with ``AutoProcessor`` still needs
    torchvision, exactly as for the real checkpoint.

    ``vocabulary`` (llama.cpp's ``ggml-vocab-gpt-2.gguf``) gives it GPT-2's
    tokens and merges, a vocabulary whose pre-tokenizer llama.cpp's converter
    recognises, so the folder converts to GGUF; without it the vocabulary is
    256 bytes and the model stays tiny.

    ``reply`` (single-token pieces) makes greedy decoding write those pieces
    after the generation prompt, then repeat the last one forever: see
    :func:`_wire_reply`.  Without it the weights are random.
    """
    import torch
    from transformers import GenerationConfig, Glm4vConfig, Glm4vForConditionalGeneration

    folder = Path(folder)
    tokenizer = write_glm4v_processor(folder, vocabulary)
    config = Glm4vConfig(
        text_config={
            "vocab_size": _padded_vocab(len(tokenizer)),
            "max_position_embeddings": 4096,
            **TINY_GLM4V_TEXT,
            **glm4v_token_config(tokenizer)["text"],
        },
        vision_config=TINY_GLM4V_VISION,
        **glm4v_token_config(tokenizer)["model"],
    )
    config.architectures = ["Glm4vForConditionalGeneration"]
    eos_ids, pad_id = config.text_config.eos_token_id, config.text_config.pad_token_id

    torch.manual_seed(0)
    model = Glm4vForConditionalGeneration(config).eval()
    if reply:
        _wire_reply(model, tokenizer, ["\n", *reply])
    # Greedy, unlike the real checkpoint (which samples), so tests are repeatable.
    model.generation_config = GenerationConfig(
        eos_token_id=eos_ids, pad_token_id=pad_id, do_sample=False
    )
    model.save_pretrained(folder)
    return folder


def _wire_reply(model: Any, tokenizer: Any, chain: list[str]) -> None:
    """Set the weights so that each piece of ``chain`` is followed by the next one.

    Every attention and MLP output projection is zeroed, so the last hidden
    state is the (normed) embedding of the current token alone.  Each chain
    token gets its own axis of the hidden space as embedding, and the
    language-model head maps that axis strongly to the next piece.  The
    chain starts at the newline that ends GLM's generation prompt
    (``<|assistant|>\n``); its last piece maps to itself.  The result is a
    real Glm4v checkpoint whose greedy output is known in advance, in every
    runtime that computes the architecture right.
    """
    import torch

    ids = [tokenizer.convert_tokens_to_ids(p) if p in GLM_SPECIAL_TOKENS else
           tokenizer.encode(p, add_special_tokens=False) for p in chain]
    assert all(isinstance(i, int) or len(i) == 1 for i in ids), f"not single tokens: {chain}"
    ids = [i if isinstance(i, int) else i[0] for i in ids]
    assert len(set(ids)) == len(ids), "each piece must be a distinct token"
    text = model.model.language_model
    with torch.no_grad():
        for layer in text.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        hidden = text.config.hidden_size
        for axis, (token, following) in enumerate(zip(ids, ids[1:] + ids[-1:], strict=True)):
            text.embed_tokens.weight[token] = torch.nn.functional.one_hot(
                torch.tensor(axis), hidden
            ).float()
            model.lm_head.weight[following, axis] = 100.0


def build_tiny_llama(folder: Path) -> Path:
    """Write a tiny random ``LlamaForCausalLM`` + byte-level tokenizer with ChatML.

    eos = ``<|im_end|>`` (what a ChatML model ends its turn with), pad =
    ``<|endoftext|>``.  Loadable with AutoConfig / AutoModelForCausalLM /
    AutoTokenizer; it is a plain text model, not a processor-backed one.
    """
    import torch
    from transformers import GenerationConfig, LlamaForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _byte_level_tokenizer(
        ("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=2048,
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.save_pretrained(folder)

    eos_id = int(tokenizer.convert_tokens_to_ids("<|im_end|>"))
    pad_id = int(tokenizer.convert_tokens_to_ids("<|endoftext|>"))
    config = _tiny_llama_config(len(tokenizer), eos_id=eos_id, pad_id=pad_id)
    # With the default small init and tied embeddings, greedy decoding repeats one token
    # forever; a wider init gives varied text, which tests of streaming and stops need.
    config.initializer_range = 0.3
    config.tie_word_embeddings = False
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    # Random weights would end the turn at an arbitrary token; tests of Stop, cancellation
    # and lengths want generations that run until max_tokens, so end-of-turn scores zero.
    with torch.no_grad():
        model.lm_head.weight[eos_id] = 0
    model.generation_config = GenerationConfig(
        eos_token_id=eos_id, pad_token_id=pad_id, do_sample=False
    )
    model.save_pretrained(folder)
    return folder


def _tiny_llama_config(
    n_tokens: int, *, eos_id: int | list[int], pad_id: int, hidden: int = 64, layers: int = 2
):
    from transformers import LlamaConfig

    config = LlamaConfig(
        vocab_size=_padded_vocab(n_tokens),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )
    config.architectures = ["LlamaForCausalLM"]
    return config


# --------------------------------------------------------------------------
# A tiny model trained to emit a fixed reasoning trace.

_WORDS = (
    "tap swipe open close search box button screen back home settings wifi app "
    "photo camera message send contact call music play pause next video map route "
    "weather today tomorrow order food taxi hotel price cart login password user "
    "the a to of and in on with for please now then find show list select scroll "
    "up down left right top bottom menu icon text input type enter confirm cancel"
).split()
_CJK = (
    "打开微信搜索框点击返回主页设置网络相机照片音乐播放暂停下一个"
    "地图天气今天明天订单外卖酒店价格购物车登录密码用户发送消息联系人电话"
)


def _random_text(rng: random.Random) -> str:
    """Random words, random letter strings and Chinese characters, 1-10 pieces."""
    pieces = []
    for _ in range(rng.randint(1, 10)):
        r = rng.random()
        if r < 0.55:
            w = rng.choice(_WORDS)
            pieces.append(w.capitalize() if rng.random() < 0.2 else w)
        elif r < 0.75:
            pieces.append(
                "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 8)))
            )
        elif r < 0.95:
            pieces.append("".join(rng.choice(_CJK) for _ in range(rng.randint(1, 6))))
        else:
            pieces.append(str(rng.randint(0, 2000)))
    text = " ".join(pieces)
    return text + rng.choice(["", "", ".", "?", "!", "。", "？"])


def _random_messages(rng: random.Random, reply: str) -> list[dict[str, Any]]:
    """A varied conversation ending in a user turn: optional system prompt,
    optional earlier exchange, optional image parts (rendered as GLM image
    placeholders by the template), plain-string or content-part messages."""
    messages: list[dict[str, Any]] = []
    if rng.random() < 0.4:
        messages.append({"role": "system", "content": _random_text(rng)})
    if rng.random() < 0.25:
        messages.append({"role": "user", "content": _random_text(rng)})
        messages.append(
            {"role": "assistant", "content": reply if rng.random() < 0.5 else _random_text(rng)}
        )
    if rng.random() < 0.5:
        messages.append({"role": "user", "content": _random_text(rng)})
    else:
        parts: list[dict[str, Any]] = [{"type": "image"} for _ in range(rng.randint(0, 2))]
        parts.append({"type": "text", "text": _random_text(rng)})
        rng.shuffle(parts)
        messages.append({"role": "user", "content": parts})
    return messages


def train_tiny_tagged_model(folder: Path, reply: str, *, steps: int = 300, seed: int = 0) -> Path:
    """Train a tiny causal LM to answer *any* chat with ``reply`` then EOS.

    This is an honest stand-in for "a model that emits a reasoning trace": the
    text comes out of ``generate`` token by token, from real weights, through
    the real tokenizer and chat template - nothing is mocked.

    * Tokenizer: GLM-style (same special tokens - ``<think>``, ``</think>``,
      ``<answer>``, ``</answer>`` are added special tokens - the real
      GLM-4.1V chat template, eos = pad = ``<|endoftext|>``), byte-level BPE
      whose merges are learnt from the reply plus random text, so the reply is
      a few dozen tokens.  Generation stops on ``<|endoftext|>`` (also on
      ``<|user|>`` / ``<|observation|>``, as GLM-4.1V does).
    * Model: ``LlamaForCausalLM`` (hidden 64, 2 layers), seed ``seed``.
    * Training: AdamW, ``steps`` steps of 16 random conversations (random
      words, random lengths, Chinese, optional system prompt / image
      placeholders / earlier turn), loss on the reply + EOS only.
    * Check: greedy decoding on 8 fresh conversations must reproduce
      ``reply`` + EOS exactly, else ``RuntimeError`` (a fixture that silently
      does not work would make the tests that use it meaningless).

    Writes ``tiny_training.json`` (steps, seconds, final loss) next to the
    weights.  About 20-25 s on this 2-core machine for a ~100 character reply
    (one torch thread; see below).
    """
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    # One thread: for matrices this small, a second thread buys little, and on
    # a busy 2-core box (CI running other tests) OpenMP threads waiting for a
    # descheduled peer made training ~10x slower.
    torch.set_num_threads(1)
    try:
        return _train_tagged(folder, reply, steps=steps, seed=seed)
    finally:
        torch.set_num_threads(threads)


def _train_tagged(folder: Path, reply: str, *, steps: int, seed: int) -> Path:
    import torch
    from transformers import GenerationConfig, LlamaForCausalLM

    start = time.perf_counter()
    rng = random.Random(seed)
    torch.manual_seed(seed)

    # Tokenizer: merges from the reply's text pieces (between special tokens)
    # and from the kind of text the prompts contain.
    reply_text = reply
    for tag in GLM_SPECIAL_TOKENS:
        reply_text = reply_text.replace(tag, "\n")
    corpus = [reply_text] * 20 + [_random_text(random.Random(seed + 1 + i)) for i in range(200)]
    tokenizer = _glm_tokenizer(corpus=corpus, vocab_size=512)
    tokenizer.save_pretrained(folder)

    ids = _ids(tokenizer, GLM_SPECIAL_TOKENS)
    eos_id = ids["<|endoftext|>"]
    pad_id = eos_id
    eos_ids = [ids[t] for t in _GLM_EOS_TOKENS]
    reply_ids = tokenizer.encode(reply, add_special_tokens=False) + [eos_id]
    if tokenizer.decode(reply_ids[:-1], skip_special_tokens=False) != reply:
        raise ValueError(f"reply does not round-trip through the tokenizer: {reply!r}")

    def example() -> tuple[list[int], list[int]]:
        prompt = tokenizer.apply_chat_template(
            _random_messages(rng, reply), add_generation_prompt=True, tokenize=False
        )
        prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
        return prompt_ids + reply_ids, [-100] * len(prompt_ids) + reply_ids

    config = _tiny_llama_config(len(tokenizer), eos_id=eos_ids, pad_id=pad_id)
    model = LlamaForCausalLM(config)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    warmup = max(1, steps // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.05, 1 - s / max(1, steps))
    )
    batch_size = 16
    loss_value = float("nan")
    for _ in range(steps):
        batch = [example() for _ in range(batch_size)]
        width = max(len(x) for x, _ in batch)
        input_ids = torch.full((batch_size, width), pad_id, dtype=torch.long)
        labels = torch.full((batch_size, width), -100, dtype=torch.long)
        mask = torch.zeros((batch_size, width), dtype=torch.long)
        for row, (x, y) in enumerate(batch):
            input_ids[row, : len(x)] = torch.tensor(x)
            labels[row, : len(y)] = torch.tensor(y)
            mask[row, : len(x)] = 1
        # Next-token loss on the reply positions only; the LM head is applied
        # to those positions alone (most of each row is prompt), which is the
        # same loss as model(labels=...) at a fraction of the cost.
        hidden = model.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        targets = labels[:, 1:]
        keep = targets != -100
        logits = model.lm_head(hidden[:, :-1][keep])
        loss = torch.nn.functional.cross_entropy(logits, targets[keep])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        loss_value = float(loss.detach())
    model.eval()

    # Self-check on conversations never seen in training.
    check_rng = random.Random(seed + 10_000)
    for _ in range(8):
        prompt = tokenizer.apply_chat_template(
            _random_messages(check_rng, reply), add_generation_prompt=True, tokenize=False
        )
        got = _greedy(
            model, tokenizer.encode(prompt, add_special_tokens=False), len(reply_ids), eos_ids
        )
        if got != reply_ids:
            raise RuntimeError(
                "tiny tagged model did not learn the reply "
                f"(steps={steps}, loss={loss_value:.4f}); got "
                f"{tokenizer.decode(got, skip_special_tokens=False)!r} for prompt {prompt!r}"
            )

    model.generation_config = GenerationConfig(
        eos_token_id=eos_ids, pad_token_id=pad_id, do_sample=False
    )
    model.save_pretrained(folder)
    _write_json(
        folder / "tiny_training.json",
        {
            "reply": reply,
            "reply_tokens": len(reply_ids),
            "steps": steps,
            "batch_size": batch_size,
            "seed": seed,
            "final_loss": loss_value,
            "seconds": round(time.perf_counter() - start, 2),
        },
    )
    return folder


def _greedy(model, prompt_ids: list[int], max_new: int, eos_ids: list[int]) -> list[int]:
    """Plain greedy decoding (no generate() config involved) for the self-check."""
    import torch

    out: list[int] = []
    x = torch.tensor([prompt_ids])
    past = None
    with torch.no_grad():
        for _ in range(max_new):
            res = model(input_ids=x, past_key_values=past, use_cache=True)
            past = res.past_key_values
            nxt = int(res.logits[0, -1].argmax())
            out.append(nxt)
            if nxt in eos_ids:
                break
            x = torch.tensor([[nxt]])
    return out
