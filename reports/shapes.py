"""Table shapes of the paper's ablation groups, as data.

A shape says which runs a table covers (``groups`` and ``borrow``), how a run maps to a row
(``key``, a name in :data:`KEYS`), the descriptive columns (names in :data:`SOURCES`), the
layout (``rows``, ``matrix`` or ``per_run``), the metric the paper reports for the group and
the baseline row for deltas. Adding a group is adding one :class:`TableShape`; a group no shape
claims gets :data:`GENERIC`, keyed by the config label.
"""

from __future__ import annotations

import ast
import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from reports.model_facts import computed_facts, dilation_rates
from reports.stats import DASH, fmt_float, fmt_int, fmt_params


@dataclass(frozen=True)
class TableShape:
    name: str
    title: str
    groups: tuple[str, ...]
    key: str
    columns: tuple[tuple[str, str], ...]  # (header, source name)
    layout: str = "rows"
    metric: str = "miou_reduced"
    baseline: str | None = None  # row key or fnmatch pattern; else the first row in key order
    borrow: tuple[tuple[str, str], ...] = ()  # (group, model-name suffix/prefix glob) shared rows
    published: Mapping[str, float] | None = None  # paper values by row key, shown for reference
    published_source: str = ""
    col_key: str | None = None  # matrix layout: the column key


# ---------------------------------------------------------------------------- run -> key
def param(run: Mapping[str, Any], name: str) -> Any:
    """A logged param parsed back from its string (JSON, else a Python literal, else as is)."""
    raw = run.get(f"param.{name}")
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(raw)
        except (ValueError, SyntaxError, TypeError):
            continue
    return raw


def _crop(run: Mapping[str, Any]) -> str:
    crop = param(run, "train_crop_size")
    if isinstance(crop, (list, tuple)) and len(crop) == 2:
        return f"{crop[0]}x{crop[1]}"
    return DASH if crop is None else f"{crop}x{crop}"


def _resize(run: Mapping[str, Any]) -> str:
    lo, hi = param(run, "train_min_size"), param(run, "train_max_size")
    return DASH if lo is None or hi is None else f"{lo}-{hi}"


KEYS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "body": lambda r: str(r["model"]).split("_", 1)[0],
    "decoder": lambda r: str(r["model"]).split("_", 1)[-1],
    "model": lambda r: str(r["model"]),
    "config_label": lambda r: str(r["config_label"]),
    "resize": _resize,
    "crop": _crop,
    "resize_crop": lambda r: f"resize {_resize(r)}, crop {_crop(r)}",
}


# ---------------------------------------------------------------------------- row -> cell
def fact(rep: Mapping[str, Any], name: str) -> float | None:
    """A model fact: the logged param when present, else computed from regseg.models."""
    value = rep.get(name)
    if value is not None and not (isinstance(value, float) and math.isnan(value)):
        return float(value)
    computed = computed_facts(str(rep.get("model", ""))).get(name)
    return None if computed is None else float(computed)


DECODER_DESCRIPTIONS = {  # the paper's words (reference AblationStudies.md)
    "decoder26": "Sec 3.4 decoder", "decoder14": "sum+3x3 conv", "decoder10": "concat+Y block",
    "decoder4": "concat+3x3 conv", "decoder12": "sum+1x1 conv", "lraspp": "LRASPP",
    "SFNetDecoder": "SFNetDecoder", "BisenetDecoder": "BiSeNetDecoder",
    "decoder29": "decoder of the larger RegSeg",
}

SOURCES: dict[str, Callable[[str, Mapping[str, Any]], str]] = {
    "key": lambda key, rep: key,
    "model": lambda key, rep: str(rep.get("model") or DASH),
    "config_label": lambda key, rep: str(rep.get("config_label") or DASH),
    "dilation_rates": lambda key, rep: dilation_rates(str(rep.get("model", ""))) or DASH,
    "field_of_view": lambda key, rep: fmt_int(fact(rep, "model_field_of_view")),
    "params": lambda key, rep: fmt_params(fact(rep, "model_params")),
    "gflops": lambda key, rep: fmt_float(fact(rep, "model_gflops")),
    "decoder_description": lambda key, rep: DECODER_DESCRIPTIONS.get(
        str(rep.get("model", "")).split("_", 1)[-1], DASH),
    "aug_mode": lambda key, rep: str(param(rep, "aug_mode") or DASH),
    "loss_type": lambda key, rep: str(param(rep, "loss_type") or DASH),
    "epochs": lambda key, rep: str(param(rep, "epochs") or DASH),
    "resize": lambda key, rep: _resize(rep),
    "crop": lambda key, rep: _crop(rep),
}

# ---------------------------------------------------------------------------- the registry
_ABLATION = "reference AblationStudies.md (RolandGao/RegSeg)"
SHAPES: tuple[TableShape, ...] = (
    TableShape(
        "backbone", "Backbone ablation (decoder14, 500 epochs)", ("backbone",), "body",
        (("body", "key"), ("dilation rates", "dilation_rates"), ("field of view", "field_of_view"),
         ("params", "params"), ("GFLOPs", "gflops")),
        baseline="regnety600mf", borrow=(("decoder", "*_decoder14"),),
        published={"exp48": 75.85, "exp43": 75.75, "exp50": 75.69, "exp46": 75.58, "exp49": 75.54,
                   "exp52": 75.53, "exp47": 75.45, "exp30": 75.44, "exp51": 75.27,
                   "regnety600mf": 73.25}, published_source=_ABLATION),
    TableShape(
        "decoder", "Decoder ablation (exp43 body, 500 epochs)", ("decoder",), "decoder",
        (("decoder", "key"), ("description", "decoder_description"), ("params", "params"),
         ("GFLOPs", "gflops")),
        baseline="decoder14", borrow=(("backbone", "exp43_*"),),
        published={"decoder26": 75.84, "decoder14": 75.75, "decoder10": 75.70, "decoder4": 75.62,
                   "decoder12": 74.93, "lraspp": 74.85, "SFNetDecoder": 74.80,
                   "BisenetDecoder": 74.68}, published_source=_ABLATION),
    TableShape(
        "resize_crop", "Random resize x random crop (exp49_decoder14, 500 epochs)",
        ("resize_crop", "resize_x_crop", "random_resize_crop"), "resize",
        (("resize", "resize"), ("crop", "crop")), layout="matrix", col_key="crop",
        baseline="resize 400-1600, crop 768x768"),
    TableShape(
        "training_techniques", "Training techniques (exp48_decoder26)",
        ("training_techniques", "techniques"), "config_label",
        (("model", "model"), ("augmentation", "aug_mode"), ("resize", "resize"), ("crop", "crop"),
         ("loss", "loss_type"), ("epochs", "epochs")),
        baseline="*epochs=500,train_min_size=400,train_max_size=1600,*loss_type=cross_entropy"),
    TableShape(
        "reproducibility", "Reproducibility (same configuration, repeated runs)",
        ("reproducibility",), "config_label", (("configuration", "model"),), layout="per_run"),
    TableShape(
        "ddrnet_comparison", "Comparison against DDRNet-23 (1000 epochs, Cityscapes val)",
        ("ddrnet_comparison", "comparison", "competitor", "ddrnet"), "model",
        (("model", "model"),), layout="per_run", metric="miou", baseline="ddrnet23"),
    TableShape(
        "camvid", "CamVid (exp48_decoder26 fine-tuned, 200 epochs)", ("camvid",), "config_label",
        (("model", "model"), ("resize", "resize"), ("crop", "crop")), layout="per_run",
        metric="miou"),
)
GENERIC = TableShape("generic", "", (), "config_label",
                     (("configuration", "key"), ("model", "model"), ("params", "params"),
                      ("GFLOPs", "gflops")))


def shape_for(group: str) -> TableShape:
    """The shape that claims ``group``, else GENERIC titled with the group name."""
    for shape in SHAPES:
        if group in shape.groups:
            return shape
    return TableShape(**{**GENERIC.__dict__, "name": group, "title": f"Group {group}",
                         "groups": (group,)})
