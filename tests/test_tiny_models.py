"""The tiny model fixtures load and run through the real transformers paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests import tiny_models
from tests.conftest import TAGGED_REPLY


def _image(color: tuple[int, int, int]):
    from PIL import Image

    return Image.new("RGB", (64, 64), color)


def _two_turn_messages():
    return [
        {"role": "system", "content": "You are a phone agent."},
        {
            "role": "user",
            "content": [
                {"type": "image", "image": _image((200, 30, 30))},
                {"type": "text", "text": "Tap the search box"},
            ],
        },
        {
            "role": "assistant",
            "content": '<think>ok</think><answer>do(action="Tap", element=[1,2])</answer>',
        },
        {
            "role": "user",
            "content": [
                {"type": "image", "image": _image((30, 200, 30))},
                {"type": "image", "image": _image((30, 30, 200))},
                {"type": "text", "text": "Now type 你好"},
            ],
        },
    ]


# ---------------------------------------------------------------- GLM-4.1V


def test_glm4v_config_and_tokenizer(tiny_glm4v_dir: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(tiny_glm4v_dir)
    assert config.architectures == ["Glm4vForConditionalGeneration"]
    assert config.model_type == "glm4v"

    tok = AutoTokenizer.from_pretrained(tiny_glm4v_dir)
    added = {t.content: t for t in tok.added_tokens_decoder.values()}
    for token in tiny_models.GLM_SPECIAL_TOKENS:
        assert token in added and added[token].special, token
        assert tok.convert_tokens_to_ids(token) != tok.unk_token_id
    assert tok.eos_token == "<|endoftext|>" and tok.pad_token == "<|endoftext|>"
    assert config.image_token_id == tok.convert_tokens_to_ids("<|image|>")
    assert config.video_token_id == tok.convert_tokens_to_ids("<|video|>")
    assert config.image_start_token_id == tok.convert_tokens_to_ids("<|begin_of_image|>")
    assert config.image_end_token_id == tok.convert_tokens_to_ids("<|end_of_image|>")
    assert config.text_config.vocab_size >= len(tok)

    gen = json.loads((tiny_glm4v_dir / "generation_config.json").read_text())
    assert gen["eos_token_id"] == [
        tok.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|user|>", "<|observation|>")
    ]

    text = tok.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert (
        text == "[gMASK]<sop><|user|>\n<|begin_of_image|><|image|><|end_of_image|>hi<|assistant|>\n"
    )
    # byte-level: any text round-trips, Chinese included
    sample = "点击 <think>搜索框</think> done"
    assert (
        tok.decode(tok.encode(sample, add_special_tokens=False), skip_special_tokens=False)
        == sample
    )


def test_glm4v_processor_chat_template_and_generate(tiny_glm4v_dir: Path) -> None:
    from transformers import (
        AutoConfig,
        AutoProcessor,
        Glm4vForConditionalGeneration,
        Glm4vProcessor,
    )

    config = AutoConfig.from_pretrained(tiny_glm4v_dir)
    processor = AutoProcessor.from_pretrained(tiny_glm4v_dir)
    assert isinstance(processor, Glm4vProcessor)
    assert processor.chat_template == tiny_models.GLM4V_CHAT_TEMPLATE

    inputs = processor.apply_chat_template(
        _two_turn_messages(),
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
    )
    ids = inputs["input_ids"]
    grid = inputs["image_grid_thw"]
    assert grid.tolist() == [[1, 6, 6]] * 3  # 64x64 -> 84x84 -> 6x6 patches of 14
    merge = processor.image_processor.merge_size
    expected = int(grid.prod(-1).sum()) // merge**2  # 3 images x 9 tokens
    assert int((ids == config.image_token_id).sum()) == expected == 27
    assert int((ids == config.image_start_token_id).sum()) == 3
    assert int((ids == config.image_end_token_id).sum()) == 3
    text = processor.decode(ids[0], skip_special_tokens=False)
    assert text.startswith(
        "[gMASK]<sop><|system|>\nYou are a phone agent.<|user|>\n<|begin_of_image|>"
    )
    assert text.endswith("Now type 你好<|assistant|>\n")

    model = Glm4vForConditionalGeneration.from_pretrained(
        tiny_glm4v_dir, dtype=torch.float32, device_map="cpu"
    )
    out = model.generate(**inputs, max_new_tokens=8)
    assert out.shape[1] > ids.shape[1]
    assert torch.equal(out[:, : ids.shape[1]], ids)


# ---------------------------------------------------------------- Llama


def test_llama_load_and_generate(tiny_llama_dir: Path) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    assert AutoConfig.from_pretrained(tiny_llama_dir).architectures == ["LlamaForCausalLM"]
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    model = AutoModelForCausalLM.from_pretrained(
        tiny_llama_dir, dtype=torch.float32, device_map="cpu"
    )
    assert isinstance(model, LlamaForCausalLM)
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello 世界"},
    ]
    assert tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) == (
        "<|im_start|>system\nbe brief<|im_end|>\n"
        "<|im_start|>user\nhello 世界<|im_end|>\n<|im_start|>assistant\n"
    )
    inputs = tok.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    out = model.generate(**inputs, max_new_tokens=6)
    assert inputs["input_ids"].shape[1] < out.shape[1] <= inputs["input_ids"].shape[1] + 6


# bitsandbytes 0.50's NF4 on a CPU with AVX512-BF16 repacks each weight for its kernels, which
# needs the input width to be a multiple of the NF4 block (64) and the output width a
# multiple of 32 (`_convert_weight_packed_for_cpu`); other CPUs take a path with no such limit.
NF4_BLOCK_IN, NF4_PACK_OUT = 64, 32


def test_llama_layers_fit_nf4_on_every_cpu(tiny_llama_dir: Path) -> None:
    """The transformers NF4 tests (tests/test_precision_variants.py) quantize the tiny Llama
    on the CPU. They run everywhere, unskipped, because its layers fit the AVX512-BF16
    repacking; a model resized so that they do not would pass on other CPUs and fail there,
    so the widths are held here, on any CPU."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
    quantized = [  # transformers keeps the output layer unquantized
        (name, layer) for name, layer in model.named_modules()
        if isinstance(layer, torch.nn.Linear) and name != "lm_head"
    ]
    assert quantized
    misfits = [
        f"{name}: {layer.in_features} -> {layer.out_features}" for name, layer in quantized
        if layer.in_features % NF4_BLOCK_IN or layer.out_features % NF4_PACK_OUT
    ]
    assert misfits == []


# ---------------------------------------------------------------- trained tagged model


@pytest.mark.parametrize(
    "prompt",
    [
        "Open the weather app and check tomorrow",
        "请打开微信并搜索张三",
        "zqx plorb 42 — scroll down until you see the blue button?",
    ],
)
def test_tagged_model_emits_reply_for_unseen_prompts(tagged_model_dir: Path, prompt: str) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tagged_model_dir)
    model = AutoModelForCausalLM.from_pretrained(
        tagged_model_dir, dtype=torch.float32, device_map="cpu"
    )
    for token in ("<think>", "</think>", "<answer>", "</answer>"):
        assert token in tok.all_special_tokens
    inputs = tok.apply_chat_template(
        [{"role": "user", "content": prompt}],
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
    )
    out = model.generate(**inputs, max_new_tokens=80)
    new = tok.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=False)
    assert new == TAGGED_REPLY + tok.eos_token
