"""`python -m autoglm_demo serve …`: the OpenAI-compatible server on its own."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import uvicorn

from autoglm_demo import settings as settings_module
from autoglm_demo.engine.admission import Admission
from autoglm_demo.engine.catalogue import VariantSpec, default_precision, variant_specs
from autoglm_demo.engine.engine import Engine
from autoglm_demo.engine.pool import Variant, VariantPool
from autoglm_demo.server.app import create_app
from autoglm_demo.server.deadlines import uvicorn_options
from autoglm_demo.settings import Settings


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def served_names(names: tuple[str, ...], precision: str) -> tuple[str, ...]:
    """Full precision answers to the names as given; others add their precision to them."""
    return names if precision == "full" else tuple(f"{name}-{precision}" for name in names)


def build_pool(settings: Settings) -> VariantPool:
    specs = variant_specs(settings)
    admission = Admission(settings.max_concurrent, settings.max_queue)
    variants = [
        Variant(served_names(settings.served_model_name, spec.precision), spec) for spec in specs
    ]
    first = default_precision(settings, specs)

    def make_engine(spec: VariantSpec) -> Engine:
        return Engine(
            spec.load,
            default_max_tokens=settings.default_max_tokens,
            sampling_defaults=spec.sampling_defaults,
        )

    return VariantPool(
        variants,
        next(variant for variant in variants if variant.spec.precision == first),
        make_engine,
        admission=admission,
        max_loaded=settings.max_loaded_variants,
        max_bytes=settings.max_variant_memory_mb * 2**20,
    )


def serve(settings: Settings) -> None:
    configure_logging(settings.log_level)
    app = create_app(settings, build_pool(settings))
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        **uvicorn_options(settings.read_timeout),
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m autoglm_demo")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="Serve the OpenAI-compatible API.")
    settings_module.add_arguments(serve_parser)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(settings_module.from_namespace(args))
