"""Turn a stream of token ids into a stream of text, one id at a time.

Decoding each id alone breaks multi-byte characters (Chinese, emoji) and loses the spaces
that some tokenizers attach to the following token, so we decode a small sliding window
and emit only the text that the newest id added (the approach of TGI and vLLM).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

_INCOMPLETE = "\ufffd"


class IncrementalDecoder:
    def __init__(self, tokenizer: Any, skip_ids: Collection[int]) -> None:
        """`skip_ids` are special tokens to leave out of the text (end of turn, padding).

        Special tokens that are not skipped, such as <think> in GLM's vocabulary, come
        through as their literal text so the reasoning splitter can see them.
        """
        self._tokenizer = tokenizer
        self._skip_ids = frozenset(skip_ids)
        self._ids: list[int] = []
        self._prefix = 0
        self._read = 0

    def push(self, token_id: int) -> str:
        if token_id in self._skip_ids:
            return ""
        self._ids.append(token_id)
        return self._emit(final=False)

    def flush(self) -> str:
        """Whatever is still held back, e.g. a character cut off by the end of generation."""
        return self._emit(final=True)

    def _emit(self, final: bool) -> str:
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        if not final and (len(after) <= len(before) or after.endswith(_INCOMPLETE)):
            return ""
        self._prefix, self._read = self._read, len(self._ids)
        return after[len(before) :]

    def _decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(
            ids, skip_special_tokens=False, clean_up_tokenization_spaces=False
        )
