"""`python -m autoglm_demo serve …`: the OpenAI-compatible server on its own."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from autoglm_demo import settings as settings_module


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m autoglm_demo")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="Serve the OpenAI-compatible API.")
    settings_module.add_arguments(serve_parser)
    args = parser.parse_args(argv)
    if args.command == "serve":
        settings = settings_module.from_namespace(args)
        # Imported only once the flags are read, so `serve --help` loads no web stack.
        from autoglm_demo.main import serve_api

        serve_api(settings)
