"""The precision variants of the served model, loaded when first asked for, within a budget.

Each variant has its own served names and, once loaded, its own `Engine`. Loading happens
on a thread, so other variants keep streaming while one loads. When loading one more would
break the budget (a number of variants, or bytes of weights), the least recently used
variant is unloaded first, idle ones before busy ones.

Unloading never breaks a stream: it only drops the pool's reference to that variant's
engine. Requests already holding the engine finish on it, and its memory is freed when
the last of them ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from autoglm_demo.engine.admission import Admission
from autoglm_demo.engine.catalogue import VariantSpec
from autoglm_demo.engine.engine import Engine, LoadState, LoadStatus
from autoglm_demo.engine.types import ModelInfo

log = logging.getLogger(__name__)

EngineFactory = Callable[[VariantSpec], Engine]


@dataclass
class Variant:
    names: tuple[str, ...]
    """The served model names; the first is this variant's main one."""
    spec: VariantSpec
    engine: Engine | None = None
    last_used: float = field(default_factory=time.monotonic)

    @property
    def status(self) -> LoadStatus:
        if self.engine is None:
            return LoadStatus(LoadState.UNLOADED, "not loaded; the first request loads it")
        return self.engine.status

    @property
    def info(self) -> ModelInfo | None:
        """What the loaded model can do; None until it is loaded and ready."""
        if self.engine is None or self.engine.status.state is not LoadState.READY:
            return None
        return self.engine.runtime.info

    @property
    def weight_bytes(self) -> int | None:
        """Measured once loaded; before that, the size of its weight files if they exist."""
        if self.info is not None:
            return self.info.weight_bytes
        files = self.spec.files()
        return sum(path.stat().st_size for path in files) if files else None


class UnknownVariant(KeyError):
    pass


class VariantPool:
    def __init__(
        self,
        variants: list[Variant],
        default: Variant,
        make_engine: EngineFactory,
        *,
        admission: Admission,
        max_loaded: int = 0,
        max_bytes: int = 0,
        load_wait_s: float = 120.0,
    ) -> None:
        self.variants = variants
        self.default = default
        self.admission = admission
        self._make_engine = make_engine
        self._by_name = {name: variant for variant in variants for name in variant.names}
        self._max_loaded = max_loaded
        self._max_bytes = max_bytes
        self._load_wait_s = load_wait_s

    @property
    def names(self) -> list[str]:
        return list(self._by_name)

    def get(self, name: str) -> Variant:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownVariant(name) from None

    def start(self) -> Engine:
        """Begin loading the default variant, so the first request finds it ready."""
        return self._ensure_loading(self.default)

    async def engine_for(self, name: str) -> Engine:
        """The variant's engine, loading it first if needed (waiting at most `load_wait_s`).

        The engine may still be loading or have failed; its status says which."""
        variant = self.get(name)
        variant.last_used = time.monotonic()
        engine = self._ensure_loading(variant)
        if engine.status.state is LoadState.READY:
            return engine
        deadline = time.monotonic() + self._load_wait_s
        while engine.status.state is LoadState.LOADING and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if engine.status.state is LoadState.READY:
            self._enforce_budget(keep=variant)  # its size is now measured, not estimated
        return engine

    def _ensure_loading(self, variant: Variant) -> Engine:
        if variant.engine is None or variant.engine.status.state is LoadState.FAILED:
            self._enforce_budget(keep=variant)
            variant.engine = self._make_engine(variant.spec)
            variant.engine.start_loading()
        return variant.engine

    def _enforce_budget(self, keep: Variant) -> None:
        """Unload least recently used variants until `keep` and the rest of what is loaded fit."""
        while self._over_budget(keep):
            victim = self._least_recently_used(besides=keep)
            if victim is None:
                log.warning("Over the variant budget, with nothing left to unload")
                return
            log.info("Unloading %s to make room for %s", victim.names[0], keep.names[0])
            victim.engine = None

    def _over_budget(self, keep: Variant) -> bool:
        loaded = [v for v in self._loaded() if v is not keep] + [keep]
        if self._max_loaded and len(loaded) > self._max_loaded:
            return True
        if not self._max_bytes or len(loaded) == 1:
            return False
        return sum(v.weight_bytes or 0 for v in loaded) > self._max_bytes

    def _loaded(self) -> list[Variant]:
        return [
            v
            for v in self.variants
            if v.engine is not None and v.engine.status.state is not LoadState.FAILED
        ]

    def _least_recently_used(self, besides: Variant) -> Variant | None:
        candidates = [v for v in self._loaded() if v is not besides]
        # Idle before busy, then oldest first; a busy variant's streams finish regardless.
        candidates.sort(key=lambda v: (v.engine is not None and v.engine.streams > 0, v.last_used))
        return candidates[0] if candidates else None
