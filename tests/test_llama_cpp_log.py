"""llama.cpp's own log goes through Python's logging, at the server's level: its per-tensor
dump is DEBUG, so the default level (info) shows none of it, and nothing reaches stderr
around the logging configuration."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from autoglm_demo.engine import llama_cpp_log
from autoglm_demo.engine.offline_default import shipped_gguf_path


def test_pieces_become_whole_lines_at_the_highest_level_of_their_pieces() -> None:
    records: list[tuple[int, str]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append((record.levelno, record.getMessage()))

    logger = logging.getLogger("test.llama.cpp.lines")
    logger.addHandler(Keep())
    logger.setLevel(logging.DEBUG)
    joiner = llama_cpp_log._LineJoiner(logger)
    info, warn, error, cont = 2, 3, 4, 5
    joiner.write(info, "[  1/272]  token_embd.weight - type = q4_1, ")
    joiner.write(info, "converting to q8_0 .. ")
    joiner.write(info, "size = 14.06 MiB ->  14.94 MiB\n[  2/272] ")
    joiner.write(info, "blk.0.attn_k.weight\n")
    joiner.write(warn, "a warning that goes on")
    joiner.write(cont, " over two calls\n")
    joiner.write(error, "an error\n\n")
    assert records == [
        (logging.DEBUG, "[  1/272]  token_embd.weight - type = q4_1, converting to q8_0 .. "
                        "size = 14.06 MiB ->  14.94 MiB"),
        (logging.DEBUG, "[  2/272] blk.0.attn_k.weight"),
        (logging.WARNING, "a warning that goes on over two calls"),
        (logging.ERROR, "an error"),
    ]


def test_quantizing_logs_its_tensor_dump_at_debug_and_prints_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    from autoglm_demo.engine.gguf_convert import quantize_gguf

    llama_cpp_log.import_llama_cpp()  # as every module of ours does before using llama.cpp
    capfd.readouterr()
    with caplog.at_level(logging.DEBUG, logger="llama.cpp"):
        quantize_gguf(shipped_gguf_path(), tmp_path / "q8_0.gguf", "Q8_0")
    printed = capfd.readouterr()
    ours = [r for r in caplog.records if r.name == "llama.cpp"]
    dump = [r for r in ours if "converting to q8_0" in r.message]
    assert len(dump) > 100  # one line per 2-D tensor of SmolLM2-135M
    assert {r.levelno for r in dump} == {logging.DEBUG}
    assert "converting to q8_0" not in printed.out + printed.err
    shown = [r for r in ours if r.levelno >= logging.INFO]
    assert not shown, [r.message for r in shown]
