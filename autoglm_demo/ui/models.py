"""What the backend serves, from /v1/models, shaped for the model and precision controls.

Entries that share a `root` (the same checkpoint) are one model family, and each distinct
precision of a family is one variant: the model dropdown picks a family, the precision
radio picks the variant. Aliases (several names for one variant) collapse into its first
name. Backends that report no precision (vLLM, SGLang) still work: each entry is labelled
with its id alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autoglm_demo.answering import AnswerRequest
from autoglm_demo.client import BackendModel, ChatOptions
from autoglm_demo.ui.metrics import human_size


class UnknownModel(ValueError):
    """A model name the backend does not serve; the message lists those it does."""


@dataclass(frozen=True)
class ServedModels:
    models: tuple[BackendModel, ...] = ()

    def families(self) -> list[str]:
        return list(dict.fromkeys(_family(model) for model in self.models))

    def variants(self, family: str | None) -> list[tuple[str, str]]:
        """(label, model id) choices for the precision radio, one per variant."""
        return [(_variant_label(model), model.id) for model in self._distinct(family)]

    def default_variant(self, family: str | None) -> str | None:
        """The variant the backend marks as its default (the fast one), else the first."""
        variants = self._distinct(family)
        marked = [model.id for model in variants if model.details.get("default")]
        return next(iter(marked or [model.id for model in variants]), None)

    def precision(self, model_id: str) -> str | None:
        model = self._find(model_id)
        return model.details.get("precision") if model else None

    def reasoning(self, model_id: str) -> bool:
        """Whether the model thinks first (`BackendModel.thinks`); a model the backend did
        not list counts as thinking, as other servers' cards do."""
        model = self._find(model_id)
        return model is None or model.thinks

    def weight_bytes(self, model_id: str) -> int | None:
        model = self._find(model_id)
        return model.details.get("weight_bytes") if model else None

    def answer_request(
        self,
        model_id: str,
        system_prompt: str = "",
        options: ChatOptions | None = None,
        *,
        agent: bool = False,
        current_app: str | None = None,
    ) -> AnswerRequest:
        """A request to `model_id`, with what the backend reports for it: the precision and
        weight size (the metrics under the answer show them) and whether it reasons."""
        return AnswerRequest(
            model_id,
            self.precision(model_id),
            system_prompt,
            options or ChatOptions(),
            self.weight_bytes(model_id),
            reasoning_model=self.reasoning(model_id),
            agent=agent,
            current_app=current_app,
        )

    def resolve(self, name: str, primary: str) -> str:
        """The model id a caller's `name` stands for; UnknownModel when none is served.

        Empty: the variant the page picks, the backend's default variant of the family of
        `primary` (the --served-model-name), else of the first family. A served id (the
        bare name, which the backend answers with its default variant, or an explicit
        `-full`, `-int8`, `-int4` one) stands for itself."""
        name = name.strip()
        ids = [model.id for model in self.models]
        if not name:
            family = self.family_of(primary) or next(iter(self.families()), None)
            return self.default_variant(family) or primary
        if name in ids:
            return name
        served = ", ".join(ids) or "none"
        raise UnknownModel(f"Unknown model {name!r}. The backend serves: {served}.")

    def family_of(self, model_id: str | None) -> str | None:
        model = self._find(model_id)
        return _family(model) if model else None

    def variant_table(self, family: str | None) -> str:
        """A Markdown table of the family's variants: method, memory, state and quality."""
        variants = [model for model in self._distinct(family) if model.details.get("precision")]
        if not variants:
            return ""
        rows = [
            "| variant | method | weights | state | perplexity | top-1 agreement |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for model in variants:
            details = model.details
            quality = details.get("quality") or {}
            rows.append(
                f"| {details['precision']} | {details.get('method', '')} "
                f"| {human_size(details.get('weight_bytes'))} | {details.get('status', '')} "
                f"| {_figure(quality.get('perplexity'), '{:.2f}')} "
                f"| {_figure(quality.get('top1_agreement'), '{:.1%}')} |"
            )
        return "\n".join(rows)

    def _find(self, model_id: str | None) -> BackendModel | None:
        return next((model for model in self.models if model.id == model_id), None)

    def _distinct(self, family: str | None) -> list[BackendModel]:
        seen: dict[tuple[Any, ...], BackendModel] = {}
        for model in self.models:
            if _family(model) != family:
                continue
            details = model.details
            precision = details.get("precision")
            key = (precision, details.get("method")) if precision else (model.id,)
            seen.setdefault(key, model)
        return list(seen.values())


def _family(model: BackendModel) -> str:
    return str(model.details.get("root") or model.id)


def _variant_label(model: BackendModel) -> str:
    details = model.details
    size = human_size(details.get("weight_bytes"))
    described = [details.get("precision"), details.get("runtime"), size]
    extra = " · ".join(str(part) for part in described if part)
    return f"{extra} — {model.id}" if extra else model.id


def _figure(value: float | None, pattern: str) -> str:
    return pattern.format(value) if value is not None else "—"
