"""Model facts for report tables: parameters, GFLOPs, field of view, dilation rates.

Runs logged by this project carry ``model_params``, ``model_gflops`` and ``model_field_of_view``
as MLflow params; the report prefers those. Imported reference runs may lack them; then the
facts are computed from ``regseg.models`` (params and GFLOPs at 1x3x1024x2048, 19 classes, the
paper's convention) and cached per model name. When the model zoo is not importable, or the
name is not one of its models, every fact is None and the table shows a dash.
"""

from __future__ import annotations

import functools
import math
from typing import Any

FACT_PARAMS = ("model_params", "model_gflops", "model_field_of_view")


def _safe(fn, *args: Any, **kwargs: Any) -> Any:
    try:
        value = fn(*args, **kwargs)
    except Exception:  # noqa: BLE001 - a fact that cannot be computed is shown as a dash
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@functools.lru_cache(maxsize=None)
def computed_facts(model_name: str) -> dict[str, Any]:
    """``{model_params, model_gflops, model_field_of_view, dilation_rates}`` from regseg.models.

    Values are None where the zoo cannot answer. Expensive on the first call per name (builds
    the model once); cached afterwards.
    """
    facts: dict[str, Any] = {k: None for k in (*FACT_PARAMS, "dilation_rates")}
    try:
        from regseg.models import build_model, complexity, list_models
    except Exception:  # noqa: BLE001 - zoo absent or broken: the report still renders
        return facts
    if model_name not in (_safe(list_models) or ()):
        return facts
    model = _safe(build_model, model_name, num_classes=19)
    if model is not None:
        facts["model_params"] = _safe(complexity.count_params, model)
        facts["model_gflops"] = _safe(complexity.count_gflops, model)
    facts["model_field_of_view"] = _safe(complexity.field_of_view, model_name)
    facts["dilation_rates"] = dilation_rates(model_name)
    return facts


@functools.lru_cache(maxsize=None)
def dilation_rates(model_name: str) -> str | None:
    """The body's last-stage dilation rates in the paper's notation, e.g. ``(1,1)+4*(1,4)``
    (from the zoo's body table, which needs no torch); None for models without a RegSeg body
    or when the zoo is absent."""
    try:
        from regseg.models.body_table import body_rates
    except Exception:  # noqa: BLE001 - zoo absent or broken: the report still renders
        return None
    return _safe(body_rates, model_name)
