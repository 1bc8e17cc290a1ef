"""Schema fuzzing: schemathesis generates requests from the server's own OpenAPI document and
checks every answer against it.

The real app (a tiny random Llama, `max_images=2`, `default_max_tokens=4`) runs under
uvicorn on loopback, so streamed answers travel as real SSE. For every operation in
/openapi.json, schemathesis draws schema-valid requests (positive mode) and schema-violating
ones (negative mode); each answer must

- never be a 5xx (`not_a_server_error`);
- use a documented status code, content type and headers, and match the documented body
  schema (`status_code_conformance`, `content_type_conformance`,
  `response_headers_conformance`, `response_schema_conformance`);
- for a negative case, be a 4xx (`negative_data_rejection`);
- for a streamed chat answer, be well-formed SSE: every event a `chat.completion.chunk` (or an
  in-band error), ending with `data: [DONE]` (our own check; the schema cannot say this).

No route is excluded. Generation is kept fast: a drawn `max_tokens` or
`max_completion_tokens` above 8 is lowered to 8. So that requests reach the model instead
of nearly all stopping at a refusal, nine in ten drawn `model` names are replaced by the
served one (the rest keep exercising the 404), and half of the positive chat cases have
their messages tamed (role "tool" becomes "user", non-text parts are dropped, empty content
becomes "hi"); the other half go as drawn. Junk audio (transcriptions and input_audio parts) is
refused by the decoder before any speech model loads, so the test needs no Whisper weights.
Each operation's examples are bounded in count and the whole test in time.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import app_for, serve_app

POSITIVE = GenerationMode.POSITIVE
MAX_TOKENS_CAP = 8
MIN_CASES = 500
TIME_BUDGET_S = 80.0  # the generated examples stop here; the test itself stays under 90 s

# Examples per (method path, mode). Operations without inputs repeat one request, so they
# get few; chat completions, the richest input, gets most.
EXAMPLES: dict[tuple[str, GenerationMode], int] = {
    ("GET /health", GenerationMode.POSITIVE): 10,
    ("GET /v1/models", GenerationMode.POSITIVE): 10,
    ("POST /v1/chat/completions", GenerationMode.POSITIVE): 260,
    ("POST /v1/chat/completions", GenerationMode.NEGATIVE): 140,
    ("POST /v1/audio/transcriptions", GenerationMode.POSITIVE): 60,
    ("POST /v1/audio/transcriptions", GenerationMode.NEGATIVE): 60,
}

COMMON_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def sse_well_formed(ctx: Any, response: Any, case: Any) -> bool | None:
    """A streamed chat answer is a sequence of chunks (or one in-band error) ending in [DONE]."""
    if not response.headers.get("content-type", [""])[0].startswith("text/event-stream"):
        return None
    events = [
        line[len("data: ") :] for line in response.text.splitlines() if line.startswith("data: ")
    ]
    assert events and events[-1] == "[DONE]", f"stream does not end with [DONE]: {events[-3:]}"
    assert "[DONE]" not in events[:-1], "[DONE] before the end of the stream"
    for event in events[:-1]:
        chunk = json.loads(event)
        if "error" in chunk:
            raise AssertionError(f"in-band error in the stream: {chunk['error']}")
        assert chunk["object"] == "chat.completion.chunk", chunk
        assert isinstance(chunk["choices"], list), chunk
    return True


def _operations(schema: Any) -> dict[str, Any]:
    operations = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        operations[f"{operation.method.upper()} {operation.path}"] = operation
    return operations


def _shape_body(body: Any, served: str, *, keep_model: bool, tame: bool) -> None:
    """Small completions, mostly the served model name, and (when `tame`) messages the model
    can answer: drawn messages are mostly refused (role "tool", empty content, junk audio),
    which would leave generation itself barely fuzzed. Changes `body` in place."""
    if not isinstance(body, dict):
        return
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        # JSON Schema's integers include 5.0, and pydantic takes it: cap floats as well.
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and value > MAX_TOKENS_CAP
        ):
            body[key] = MAX_TOKENS_CAP
    if not keep_model and isinstance(body.get("model"), str):
        body["model"] = served
    if tame and isinstance(body.get("messages"), list):
        for message in body["messages"]:
            if not isinstance(message, dict):
                continue
            if message.get("role") == "tool":
                message["role"] = "user"
            content = message.get("content")
            if isinstance(content, list):
                content = [p for p in content if isinstance(p, dict) and p.get("type") == "text"]
            if not content or (
                isinstance(content, list) and not any(p.get("text") for p in content)
            ):
                content = "hi"
            message["content"] = content


@pytest.mark.timeout(240)
def test_openapi_schema_fuzz(tiny_llama_dir: Path) -> None:
    app = app_for(tiny_llama_dir, max_images=2, default_max_tokens=4)
    with serve_app(app) as base:
        served = httpx.get(base + "/v1/models", timeout=10).json()["data"][0]["id"]
        schema = schemathesis.openapi.from_url(base + "/openapi.json")
        operations = _operations(schema)
        assert set(operations) == {name for name, _ in EXAMPLES}, sorted(operations)

        statuses: Counter[tuple[str, str, int]] = Counter()
        deadline = time.monotonic() + TIME_BUDGET_S
        for (name, mode), examples in EXAMPLES.items():
            checks = COMMON_CHECKS + [sse_well_formed]
            if mode is GenerationMode.NEGATIVE:
                checks = checks + [negative_data_rejection]

            @given(
                case=operations[name].as_strategy(generation_mode=mode),
                keep=st.integers(0, 9),
                tame=st.booleans(),
            )
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,  # the same cases every run: a failure here is reproducible
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def exercise(case: Any, keep: int, tame: bool) -> None:
                # Runs to its end below, in this iteration: the loop variables it reads
                # cannot move on under it (bugbear's B023 cannot see that).
                if time.monotonic() > deadline:
                    return
                tame = tame and mode is POSITIVE  # noqa: B023
                _shape_body(case.body, served, keep_model=keep == 5, tame=tame)
                response = case.call_and_validate(base_url=base, checks=checks, timeout=30)  # noqa: B023
                statuses[(name, mode.value, response.status_code)] += 1  # noqa: B023

            exercise()

    total = sum(statuses.values())
    summary = "\n".join(f"{key}: {count}" for key, count in sorted(statuses.items()))
    print(f"\n{total} schemathesis cases\n{summary}")
    assert total >= MIN_CASES, f"only {total} cases ran within {TIME_BUDGET_S} s:\n{summary}"
    # The fuzzing reached the model, not only the refusals.
    assert statuses[("POST /v1/chat/completions", "positive", 200)] >= 50, summary
