"""`python -m autoglm_demo serve …`: the OpenAI-compatible server on its own.
`python -m autoglm_demo eval …`: accuracy per variant over marked QA sessions.
`python -m autoglm_demo export-episodes …`: marked QA episodes as one data-set zip."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from autoglm_demo import settings as settings_module
from autoglm_demo.scoring import DEFAULT_TOLERANCE


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m autoglm_demo")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="Serve the OpenAI-compatible API.")
    settings_module.add_arguments(serve_parser)
    eval_parser = commands.add_parser(
        "eval",
        help="Replay marked QA sessions on each variant and write the accuracy per variant.",
    )
    add_eval_arguments(eval_parser)
    settings_module.add_arguments(eval_parser)
    episodes_parser = commands.add_parser(
        "export-episodes",
        help="Write marked QA episodes as one zip: episodes.jsonl and sample_messages files.",
    )
    add_episodes_arguments(episodes_parser)
    settings_module.add_arguments(episodes_parser)
    args = parser.parse_args(argv)
    settings = settings_module.from_namespace(args)
    # Imported only once the flags are read, so `--help` loads no web stack.
    if args.command == "serve":
        from autoglm_demo.main import serve_api

        serve_api(settings)
    elif args.command == "eval":
        from autoglm_demo import eval_command

        eval_command.run(args, settings)
    elif args.command == "export-episodes":
        from autoglm_demo import episodes_command

        episodes_command.run(args, settings)


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    _add_session_arguments(parser, "replay")
    parser.add_argument(
        "--variants",
        required=True,
        help="Comma-separated variants: full, int8, int4, or model ids as /v1/models lists them.",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help="A point within this share of the screen's diagonal of a marked point hits it "
        f"[default {DEFAULT_TOLERANCE}].",
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="The folder for eval.json, eval.md, eval.png."
    )
    answering = parser.add_argument_group(
        "answer options",
        "Without these, each turn is asked with the options recorded with it: an uploaded "
        "episode step with greedy decoding and at most 1024 tokens, a turn recorded in the "
        "chat with the chat's settings. With any of them, every turn is asked with them, and "
        "with those defaults for the ones not given.",
    )
    answering.add_argument("--temperature", type=float, help="Sampling temperature, 0 to 2.")
    answering.add_argument("--top-p", type=float, help="Nucleus sampling share, above 0 up to 1.")
    answering.add_argument(
        "--max-tokens",
        type=int,
        help="Most tokens an answer may have; lower it for a model with a small context.",
    )


def add_episodes_arguments(parser: argparse.ArgumentParser) -> None:
    _add_session_arguments(parser, "export")
    parser.add_argument(
        "--out", type=Path, required=True, metavar="FILE.zip", help="The zip to write."
    )


def _add_session_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    """The sessions a QA command works on: by id, or by an export file to import."""
    parser.add_argument(
        "--session", action="append", default=[], metavar="ID", help=f"A QA session to {verb}."
    )
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help=f"A session export (.zip or .jsonl) to import into the QA database and {verb}.",
    )
