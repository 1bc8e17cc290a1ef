"""`python -m autoglm_demo eval`: accuracy per variant over marked QA sessions, unattended.

It replays the sessions named (and those in the exports it imports) on each variant,
scores every marked turn, records the replays in the QA database as the QA tab does, and
writes eval.json, eval.md and eval.png. Each turn is asked with the options recorded with
it, or with --temperature, --top-p and --max-tokens where given (`answer_options`). The
backend is `--backend-url`, or, without one, the embedded server started in this process,
as the page starts it. Every problem a person must fix (an unknown session or variant, a
bad export, a backend out of reach) ends the command with a non-zero status and one line
saying what.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import openai

from autoglm_demo.client import BackendClient, ChatOptions
from autoglm_demo.command_sessions import CommandFailed, named_sessions, open_store
from autoglm_demo.qa.episodes import EPISODE_OPTIONS
from autoglm_demo.qa.eval_report import miss_reason, to_markdown, write_report
from autoglm_demo.qa.evaluate import Evaluation, Progress, UnknownVariant, evaluate
from autoglm_demo.qa.media import MediaFolder
from autoglm_demo.qa.recorder import Recorder
from autoglm_demo.qa.records import SessionRecord
from autoglm_demo.qa.store import QaStore
from autoglm_demo.settings import Settings


def run(args: argparse.Namespace, settings: Settings) -> None:
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    if not variants:
        raise SystemExit("eval: --variants names no variant")
    if not 0 <= args.tolerance <= 1:
        raise SystemExit("eval: --tolerance is a share of the screen's diagonal, from 0 to 1")
    options = answer_options(args)
    try:
        store = open_store(settings)
    except CommandFailed as error:
        raise SystemExit(f"eval: {error}") from None
    recorder = Recorder(store, store_media=settings.qa_store_media)
    try:
        sessions = _sessions(store, args.session, args.imports)
        evaluation = asyncio.run(
            _evaluate(settings, store, recorder, sessions, variants, args.tolerance, options)
        )
    except CommandFailed as error:
        raise SystemExit(f"eval: {error}") from None
    finally:
        recorder.close()  # the replays recorded so far are written before the command ends
        store.close()
    write_report(evaluation, args.out)
    print(to_markdown(evaluation))
    print(f"Wrote {args.out / 'eval.json'}, eval.md and eval.png", file=sys.stderr)


def answer_options(args: argparse.Namespace) -> ChatOptions | None:
    """The options every turn is asked with: None, when no flag gives one, leaves each turn
    its recorded options; the flags given override the episode defaults (`EPISODE_OPTIONS`)."""
    if args.temperature is not None and not 0 <= args.temperature <= 2:
        raise SystemExit("eval: --temperature goes from 0 to 2")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise SystemExit("eval: --top-p is a share, above 0 and up to 1")
    if args.max_tokens is not None and args.max_tokens < 1:
        raise SystemExit("eval: --max-tokens must be at least 1")
    flags = {"temperature": args.temperature, "top_p": args.top_p, "max_tokens": args.max_tokens}
    given = {name: value for name, value in flags.items() if value is not None}
    return dataclasses.replace(EPISODE_OPTIONS.chat_options(), **given) if given else None


def _sessions(store: QaStore, ids: Sequence[str], imports: Sequence[Path]) -> list[SessionRecord]:
    sessions = named_sessions(store, ids, imports)
    if not any(turn.target for session in sessions for turn in session.turns):
        raise CommandFailed("nothing to score: no turn of these sessions has a marked target")
    return sessions


async def _evaluate(
    settings: Settings,
    store: QaStore,
    recorder: Recorder,
    sessions: list[SessionRecord],
    variants: list[str],
    tolerance: float,
    options: ChatOptions | None,
) -> Evaluation:
    client = backend_client(settings)
    try:
        with tempfile.TemporaryDirectory(prefix="autoglm-eval-media-") as folder:
            return await evaluate(
                client,
                sessions,
                variants,
                MediaFolder(store, Path(folder)),
                tolerance,
                _show_progress,
                recorder=recorder,
                options=options,
            )
    except UnknownVariant as error:
        raise CommandFailed(str(error)) from None
    except openai.APIError as error:  # out of reach, or refused the model listing
        raise CommandFailed(f"the backend at {client.base_url} failed: {error.message}") from None
    finally:
        await client.close()


def backend_client(settings: Settings) -> BackendClient:
    """The remote backend's client, or the embedded server's, answering in this process."""
    if settings.backend_url:
        return BackendClient(settings.backend_url, settings.api_key)
    # Imported here: a run against a remote backend loads no model code.
    from autoglm_demo.inprocess import StreamingASGITransport
    from autoglm_demo.main import build_pool
    from autoglm_demo.server.api import create_app

    pool = build_pool(settings)
    pool.start()  # no server runs the app's lifespan here: start loading the default now
    app = create_app(settings, pool)
    return BackendClient(
        settings.local_url + "/v1", settings.api_key, transport=StreamingASGITransport(app)
    )


def _show_progress(progress: Progress) -> None:
    score = progress.score
    if score is None:
        verdict = "(not marked)"
    else:
        verdict = "✓" if score.score.hit else f"✗ {miss_reason(score.score)}"
    print(
        f"[{progress.variant}] {progress.done}/{progress.total} session {progress.session_id[:8]} "
        f"{verdict}",
        file=sys.stderr,
        flush=True,
    )
