"""What the backend serves, from /v1/models, shaped for the model and precision controls.

Entries that share a `root` (the same checkpoint) are one model family, and each entry of
a family is one precision variant: the model dropdown picks a family, the precision radio
picks the variant. Backends that report no precision (vLLM, SGLang) still work: the entry
is labelled with its id alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoglm_demo.client import BackendModel


@dataclass(frozen=True)
class Catalogue:
    models: tuple[BackendModel, ...] = ()

    def families(self) -> list[str]:
        return list(dict.fromkeys(_family(model) for model in self.models))

    def variants(self, family: str | None) -> list[tuple[str, str]]:
        """(label, model id) choices for the precision radio."""
        return [
            (_variant_label(model), model.id)
            for model in self.models
            if _family(model) == family
        ]

    def precision(self, model_id: str) -> str | None:
        for model in self.models:
            if model.id == model_id:
                return model.details.get("precision")
        return None

    def family_of(self, model_id: str | None) -> str | None:
        for model in self.models:
            if model.id == model_id:
                return _family(model)
        return None


def _family(model: BackendModel) -> str:
    return str(model.details.get("root") or model.id)


def _variant_label(model: BackendModel) -> str:
    details = model.details
    described = [details.get("precision"), details.get("runtime"), details.get("device")]
    extra = " · ".join(str(part) for part in described if part)
    return f"{extra} — {model.id}" if extra else model.id
