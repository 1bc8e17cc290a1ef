"""Peak memory of importing a hostile QA zip: a small file that unpacks to gigabytes.

The zip is the one a security probe sent: a valid session whose one turn refers to a
screenshot, and that screenshot's entry repeated six times, each 200 MiB of zeros (about
1.2 MiB compressed). The import runs in a fresh process into a fresh SQLite store; the
figure is how far its peak resident memory rose above where it stood before the import.

    python -m bench.bench_qa_import [--copies 6] [--mib 200]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from bench.common import REPO_ROOT

_CHUNK = 1024 * 1024


def hostile_zip(folder: Path, copies: int, mib: int) -> Path:
    """A QA export whose one media entry is repeated `copies` times, `mib` MiB of zeros each."""
    digest = hashlib.sha256()
    for _ in range(mib):
        digest.update(bytes(_CHUNK))
    sha256 = digest.hexdigest()
    session_id, turn_id = "a" * 32, "b" * 32
    now = datetime.now(timezone.utc).isoformat()
    header = {
        "format": "autoglm-qa-session",
        "version": 1,
        "id": session_id,
        "created_at": now,
        "title": "hostile",
        "replay_of": None,
    }
    image = {"kind": "image", "name": "s.png", "sha256": sha256, "mime": "image/png", "size": 1}
    turn = {
        "id": turn_id,
        "seq": 0,
        "created_at": now,
        "text": "What is on the screen?",
        "images": [image],
        "audio": None,
        "system_prompt": "",
        "context": [],
        "model": "m",
        "precision": None,
        "options": {},
        "status": "done",
        "reasoning": "",
        "answer": "",
        "error": None,
        "metrics": None,
        "reasoning_seconds": None,
        "feedback": None,
    }
    target = folder / "hostile.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("session.jsonl", json.dumps(header) + "\n" + json.dumps(turn) + "\n")
        for _ in range(copies):
            # The same name each time: zipfile warns about it, and a reader sees six entries.
            with archive.open(f"media/{sha256}.png", "w", force_zip64=True) as entry:
                for _ in range(mib):
                    entry.write(bytes(_CHUNK))
    return target


def import_once(archive: Path, database: Path) -> dict[str, object]:
    """Import `archive` into a new store in this process; memory before and at the peak."""
    from autoglm_demo.qa.export import InvalidExport, open_export
    from autoglm_demo.qa.store import QaStore

    store = QaStore(f"sqlite:///{database}")
    before = _rss_kib()
    try:
        with open_export(archive) as imported:
            store.add_session(imported.session, imported.blobs())
        outcome = "imported"
    except InvalidExport as error:
        outcome = f"refused: {error}"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    rise = max(0, peak - before) / 1024
    return {"outcome": outcome, "rss_before_mib": before / 1024, "rise_mib": rise}


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--child", nargs=2, metavar=("ZIP", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(import_once(Path(args.child[0]), Path(args.child[1]))))
        return
    with tempfile.TemporaryDirectory() as folder:
        archive = hostile_zip(Path(folder), args.copies, args.mib)
        child = [sys.executable, "-m", "bench.bench_qa_import", "--child"]
        run = subprocess.run(
            [*child, str(archive), str(Path(folder) / "qa.sqlite3")],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        result = json.loads(run.stdout)
        size = archive.stat().st_size / 1024 / 1024
    print(f"zip: {size:.2f} MiB, {args.copies} x {args.mib} MiB of zeros")
    print(f"outcome: {result['outcome']}")
    print(f"peak RSS rise during the import: {result['rise_mib']:.1f} MiB")


if __name__ == "__main__":
    main()
