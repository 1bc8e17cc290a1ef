"""What the QA tests share: databases to test against (a SQLite file, and a real PostgreSQL
server started for the run), and finished turns built the way the page builds them."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from PIL import Image

from autoglm_demo.answering import AnswerRequest
from autoglm_demo.client import ChatOptions
from autoglm_demo.conversation import Metrics, Turn, TurnStatus

REQUEST = AnswerRequest(
    "autoglm-phone-9b", "float32", "Be brief.", ChatOptions(temperature=0.2, max_tokens=64, seed=7)
)


def finished_turn(text: str, answer: str, images: Sequence[str] = ()) -> Turn:
    """A turn as the page leaves it once answered."""
    metrics = Metrics(REQUEST.model, REQUEST.precision, 0.25, 12.5, 40, 9)
    return Turn(
        text=text,
        images=list(images),
        answer=answer,
        reasoning=f"thinking about {text}",
        status=TurnStatus.DONE,
        metrics=metrics,
        reasoning_seconds=0.1,
    )


def screenshot(path: Path, colour: tuple[int, int, int] = (20, 120, 200)) -> Path:
    Image.new("RGB", (64, 32), colour).save(path)
    return path


# Databases.


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))  # Debian's layout
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """A throwaway PostgreSQL cluster on a Unix socket (no TCP), trusted local access."""

    def __init__(self, folder: Path, bindir: Path) -> None:
        self.folder = folder
        self.bindir = bindir
        self._databases = 0

    def command(self, *args: str) -> None:
        # PostgreSQL refuses to run as root; as root, run it as Debian's postgres user.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        data = self.folder / "data"
        self.command(str(self.bindir / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres")
        options = f"-c listen_addresses='' -c unix_socket_directories={self.folder}"
        # -l: the server's output goes to a file, not into our pipes (which would stay open).
        log = str(self.folder / "server.log")
        self.command(
            str(self.bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", log, "-w", "start"
        )

    def stop(self) -> None:
        self.command(
            str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "stop"
        )

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        self._databases += 1
        name = f"qa_{self._databases}"
        with psycopg.connect(
            host=str(self.folder), user="postgres", dbname="postgres", autocommit=True
        ) as db:
            db.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://postgres@/{name}?host={self.folder}"


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("Debian's postgresql is not installed (apt-get install postgresql)")
    # Under /tmp, not pytest's tmp_path: the postgres user must be able to reach it.
    folder = Path(tempfile.mkdtemp(prefix="autoglm-qa-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    server = PostgresServer(folder, bindir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


class Databases:
    """Fresh database URLs of one kind: a new SQLite file, or a new PostgreSQL database."""

    def __init__(self, kind: str, folder: Path, postgres: PostgresServer | None) -> None:
        self.kind = kind
        self._folder = folder
        self._postgres = postgres
        self._files = 0

    def new(self) -> str:
        if self._postgres:
            return self._postgres.new_database()
        self._files += 1
        return f"sqlite:///{self._folder / f'qa-{self._files}.sqlite3'}"


@contextmanager
def databases(kind: str, folder: Path) -> Iterator[Databases]:
    if kind == "sqlite":
        yield Databases(kind, folder, None)
        return
    with postgres_server() as server:
        yield Databases(kind, folder, server)


def database_fixture() -> Any:
    """A module fixture giving `Databases` of each kind in turn: `dbs = database_fixture()`."""

    @pytest.fixture(scope="module", params=["sqlite", "postgresql"])
    def dbs(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Databases]:
        with databases(request.param, tmp_path_factory.mktemp("qa")) as found:
            yield found

    return dbs
