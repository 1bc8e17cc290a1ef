"""`python -m autoglm_demo serve …`: the OpenAI-compatible server on its own."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import uvicorn

from autoglm_demo import settings as settings_module
from autoglm_demo.engine.catalogue import load_runtime
from autoglm_demo.engine.engine import Engine
from autoglm_demo.server.app import create_app
from autoglm_demo.settings import Settings


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def build_engine(settings: Settings) -> Engine:
    return Engine(
        lambda on_phase: load_runtime(settings, on_phase),
        default_max_tokens=settings.default_max_tokens,
        max_concurrent=settings.max_concurrent,
        max_queue=settings.max_queue,
    )


def serve(settings: Settings) -> None:
    configure_logging(settings.log_level)
    app = create_app(settings, build_engine(settings))
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m autoglm_demo")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="Serve the OpenAI-compatible API.")
    settings_module.add_arguments(serve_parser)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(settings_module.from_namespace(args))
