"""`python -m autoglm_demo export-episodes`: marked episodes of the QA database as one zip
(episodes.jsonl and the sample_messages files, see `qa/episode_export.py`).

The sessions are named by id or by an export file to import, as for `eval`. An unknown
session, a session that is no episode or has no marked step, or a bad export ends the
command with a non-zero status and one line saying what; no zip is left behind then.
"""

from __future__ import annotations

import argparse
import sys

from autoglm_demo.command_sessions import CommandFailed, named_sessions, open_store
from autoglm_demo.qa.episode_export import NotAnEpisode, write_episode_set
from autoglm_demo.settings import Settings


def run(args: argparse.Namespace, settings: Settings) -> None:
    if not args.out.parent.is_dir():
        raise SystemExit(f"export-episodes: --out {args.out}: no such folder")
    try:
        store = open_store(settings)
    except CommandFailed as error:
        raise SystemExit(f"export-episodes: {error}") from None
    try:
        sessions = named_sessions(store, args.session, args.imports)
        # Written beside the target, then moved: a failed export leaves no half zip.
        partial = args.out.with_name(args.out.name + ".partial")
        try:
            write_episode_set(sessions, store.blob, partial)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(args.out)
    except (CommandFailed, NotAnEpisode) as error:
        raise SystemExit(f"export-episodes: {error}") from None
    finally:
        store.close()
    steps = sum(len(session.turns) for session in sessions)
    print(f"Wrote {args.out}: {len(sessions)} episodes, {steps} steps", file=sys.stderr)
