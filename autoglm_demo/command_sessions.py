"""What the QA commands (`eval`, `export-episodes`) share: the QA store the settings name,
and the sessions a person names by id or by an export file to import.

Every problem here is the person's to fix; it is raised as CommandFailed, whose message
the command prints on one line before it ends with a non-zero status.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from autoglm_demo.qa.export import InvalidExport, open_export
from autoglm_demo.qa.records import SessionRecord
from autoglm_demo.qa.store import QaStore, QaStoreError, SessionExists, default_url
from autoglm_demo.settings import Settings


class CommandFailed(Exception):
    """What stops a command; the message is for the person who ran it."""


def open_store(settings: Settings) -> QaStore:
    """The QA database of --qa-db, or the default one in the cache folder."""
    try:
        return QaStore(settings.qa_db or default_url(settings.cache_dir))
    except QaStoreError as error:
        raise CommandFailed(str(error)) from None


def named_sessions(
    store: QaStore, ids: Sequence[str], imports: Sequence[Path]
) -> list[SessionRecord]:
    """The sessions named by id, then those of the exports (imported first), each once."""
    wanted = list(ids)
    for path in imports:
        wanted.append(import_export(store, path))
    if not wanted:
        raise CommandFailed("name at least one --session or --import")
    sessions = []
    for session_id in dict.fromkeys(wanted):
        try:
            sessions.append(store.session(session_id))
        except QaStoreError as error:
            raise CommandFailed(str(error)) from None
    return sessions


def import_export(store: QaStore, path: Path) -> str:
    """The id of the session in the export, imported unless it is in the database already
    (a command run again on the same file)."""
    if not path.is_file():
        raise CommandFailed(f"--import {path}: no such file")
    try:
        with open_export(path) as imported:
            try:
                store.add_session(imported.session, imported.blobs())
            except SessionExists:
                print(f"{path.name}: already imported; using the stored session", file=sys.stderr)
            return imported.session.id
    except (InvalidExport, QaStoreError) as error:
        raise CommandFailed(str(error)) from None
