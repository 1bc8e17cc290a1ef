"""Checks on a chat request that its field types cannot express; each failure is a 400
that names the parameter.

- Text must be valid Unicode: JSON can carry a lone UTF-16 surrogate (`"\\ud800"`), which
  Python keeps in a str but nothing can encode, so the tokenizer, the log or the response
  would fail on it later.
- `chat_template_kwargs` become variables of the model's chat template, so they may not
  take the names the renderer itself passes or defines, and may not nest deeper than any
  template reads.
- OpenAI parameters this server does not implement are refused rather than ignored, so a
  client that relies on them learns it at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

from autoglm_demo.server.errors import APIError
from autoglm_demo.server.protocol import ChatCompletionRequest

MAX_TEMPLATE_KWARGS_DEPTH = 8

# The renderer's own arguments (transformers' apply_chat_template and render_jinja_template,
# the processor's, and llama-cpp-python's Jinja2ChatFormatter), and the globals the template
# environment defines.
_RENDERER_NAMES = frozenset(
    {
        "add_generation_prompt",
        "bos_token",
        "chat_template",
        "continue_final_message",
        "conversation",
        "conversations",
        "documents",
        "eos_token",
        "images",
        "max_length",
        "function_call",
        "functions",
        "tool_choice",
        "messages",
        "padding",
        "processor_kwargs",
        "return_assistant_tokens_mask",
        "return_dict",
        "return_tensors",
        "tokenize",
        "tokenizer_kwargs",
        "tools",
        "truncation",
        "videos",
        "cycler",
        "dict",
        "joiner",
        "lipsum",
        "namespace",
        "range",
        "raise_exception",
        "strftime_now",
    }
)

# Parameter → (what it asks for, the values that ask for nothing and are accepted).
_UNSUPPORTED: dict[str, tuple[str, tuple[Any, ...]]] = {
    "logprobs": ("log probabilities", (None, False)),
    "top_logprobs": ("log probabilities", (None, 0)),
    "tools": ("tool calling", (None, [])),
    "tool_choice": ("tool calling", (None, "none", "auto")),
    "functions": ("function calling", (None, [])),
    "function_call": ("function calling", (None, "none", "auto")),
    "response_format": ("structured output", (None, {"type": "text"})),
}


def check_request(request: ChatCompletionRequest) -> None:
    _check_unicode(request)
    _check_unsupported(request)
    if request.chat_template_kwargs:
        _check_template_kwargs(request.chat_template_kwargs)


def _check_unicode(request: ChatCompletionRequest) -> None:
    for path, text in _strings(request.model_dump()):
        if not _encodable(text):
            param = path or "body"
            raise APIError(
                400,
                f"{param}: the text holds a lone UTF-16 surrogate, which is not valid Unicode.",
                param=param,
            )


def _strings(value: Any) -> Iterator[tuple[str, str]]:
    """Every string in a JSON value, object keys included, with the path to it; walked
    without recursion, since the value may nest deeply."""
    pending = deque([("", value)])
    while pending:
        path, item = pending.popleft()
        if isinstance(item, str):
            yield path, item
        elif isinstance(item, dict):
            for key, child in item.items():
                yield path, str(key)
                pending.append((f"{path}.{key}" if path else str(key), child))
        elif isinstance(item, list):
            pending.extend((f"{path}.{number}", child) for number, child in enumerate(item))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_unsupported(request: ChatCompletionRequest) -> None:
    extra = request.model_extra or {}
    for name, (feature, inert) in _UNSUPPORTED.items():
        if name in extra and extra[name] not in inert:
            raise APIError(
                400,
                f"{name}: this server does not support {feature}.",
                param=name,
                code="unsupported_parameter",
            )


def _check_template_kwargs(kwargs: dict[str, Any]) -> None:
    for name, value in kwargs.items():
        param = f"chat_template_kwargs.{name}"
        if name in _RENDERER_NAMES or not name.isidentifier() or name.startswith("_"):
            raise APIError(
                400,
                f"{param}: '{name}' cannot be a chat template variable; the renderer sets it "
                "itself or it is not a template name.",
                param=param,
            )
        if _depth(value) > MAX_TEMPLATE_KWARGS_DEPTH:
            raise APIError(
                400,
                f"{param}: the value nests deeper than {MAX_TEMPLATE_KWARGS_DEPTH} levels.",
                param=param,
            )


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in a JSON value, counted without recursion."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, level = pending.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            pending.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, level + 1) for child in item)
    return deepest
