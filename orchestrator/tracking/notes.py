"""What a row of the MLflow UI says: run names and the descriptions (``mlflow.note.content``) of
runs, arms and experiments. Pure functions of tags and labels (no MLflow calls), so the worker,
the log importer and the tests build the same text.

A run name says which configuration and seed the row is (``exp48_decoder26 · s1``), the
description says where it came from (spec, sweep, job, or the reference log) and links to the
arm's parent run by id.
"""

from __future__ import annotations

import hashlib
import re
from typing import Iterable, Mapping

from orchestrator.tracking import tags as T

SEPARATOR = " · "
#: ``k=v`` items of a config label; values may hold commas (``train_crop_size=[64,128]``)
_ITEM_START = re.compile(r",(?=[A-Za-z_][\w.]*=)")


def label_items(config_label: str) -> dict[str, str]:
    """``{"model_name": "exp48_decoder14", ...}`` of a ``k=v,k=v`` label ({} for ``default``)."""
    items: dict[str, str] = {}
    for item in _ITEM_START.split(config_label or ""):
        key, sep, value = item.partition("=")
        if sep:
            items[key] = value
    return items


def arm_key(group: str, config_label: str) -> str:
    """The arm's identity in tags: 16 hex digits of sha256(group, label) (filter-safe)."""
    return hashlib.sha256(f"{group}\n{config_label}".encode()).hexdigest()[:16]


def arm_name(config_label: str, model: str | None = None) -> str:
    """A short name for a configuration: the model name bare (from the label, else ``model``),
    then every other item of the label as ``k=v`` (``exp48_decoder14 lr=0.01``)."""
    items = label_items(config_label)
    first = items.pop("model_name", None) or model
    shown = ([first] if first else []) + [f"{k}={v}" for k, v in items.items()]
    return " ".join(shown) or config_label or "default"


def run_name(arm: str, seed, *, repetition: int | str | None = None,
             taken: Iterable[str] = ()) -> str:
    """``<arm> · s<seed>`` (`` · run<n>`` for a repetition), made unique against ``taken`` by a
    `` · #<k>`` suffix."""
    parts = [arm] + ([f"s{seed}"] if seed not in (None, "") else [])
    if repetition not in (None, "", 0):
        parts.append(f"run{repetition}")
    base = SEPARATOR.join(parts)
    taken = set(taken)
    name, k = base, 2
    while name in taken:
        name, k = f"{base}{SEPARATOR}#{k}", k + 1
    return name


def run_note(tags: Mapping[str, str], *, experiment_id: str, arm_id: str) -> str:
    """The description of one seed run: its origin and the link to its arm (by run id)."""
    if tags.get(T.SOURCE) == T.SOURCE_REFERENCE:
        origin = (f"Reference run {tags.get(T.REFERENCE_RUN, '?')} of the log "
                  f"`{tags.get(T.REFERENCE_FILE, '?')}` (sha256 "
                  f"`{tags.get(T.REFERENCE_FILE_SHA256, '?')[:12]}`), imported by "
                  f"`regseg import-logs`.")
    else:
        origin = (f"Spec `{tags.get(T.SPEC, '?')}`, sweep {tags.get(T.SWEEP, '?')}, "
                  f"job {tags.get(T.JOB_ID, '?')}, run hash `{tags.get(T.RUN_HASH, '?')[:12]}`.")
    return "\n\n".join([
        f"Seed {tags.get(T.SEED, '?')} of configuration `{tags.get(T.CONFIG_LABEL, '?')}` "
        f"(group `{tags.get(T.GROUP, '?')}`).",
        origin,
        f"Arm: [{arm_id}](#/experiments/{experiment_id}/runs/{arm_id}) (parent run id "
        f"`{arm_id}`), which holds the aggregate over this configuration's seeds.",
    ])


def arm_note(tags: Mapping[str, str], summary: Mapping[str, float], *, finished: int,
             runs: int) -> str:
    """The description of an arm's parent run: what it aggregates, with the numbers."""
    heading = (f"Arm `{tags.get(T.CONFIG_LABEL, '?')}` of group `{tags.get(T.GROUP, '?')}`: an "
               f"aggregate over its seed runs (expand the row to see them), not a training run. "
               f"{finished} of {runs} seed runs finished.")
    lines = []
    for metric in ("best_mIoU_reduced", "best_mIoU"):
        n = int(summary.get(f"{metric}_n", 0))
        if not n:
            continue
        text = f"- `{metric}`: mean {summary[f'{metric}_mean']:.2f} over n = {n}"
        low, high = summary.get(f"{metric}_ci95_low"), summary.get(f"{metric}_ci95_high")
        if n >= 2 and low == low and high == high:  # NaN != NaN: undefined for n < 2
            text += (f", std {summary[f'{metric}_std']:.2f}, 95% CI "
                     f"[{low:.2f}, {high:.2f}] (Student t)")
        lines.append(text)
    return "\n\n".join([heading, "\n".join(lines)]) if lines else heading


def experiment_note(*, name: str, specs: Iterable[str], varied: Iterable[str], arms: int,
                    reference: bool) -> str:
    """The description of an experiment: the spec, what varies, and how to rebuild the report."""
    specs, varied = sorted(set(specs)), sorted(set(varied))
    origin = ("Reference training logs imported by `regseg import-logs`." if reference else
              "Spec " + (", ".join(f"`{s}`" for s in specs) or "`?`") + " (`regseg queue`).")
    return "\n\n".join([
        origin,
        f"Varies: {', '.join(f'`{k}`' for k in varied) or 'nothing'} across {arms} "
        f"configuration{'s' if arms != 1 else ''} (arms), each trained with one or more seeds.",
        "Each arm is a parent run with its seed runs as children; the parent's metrics are the "
        "aggregate over its finished seeds: `best_mIoU_reduced` (= the mean), "
        "`best_mIoU_reduced_mean`, `_std`, `_n`, `_ci95_low`, `_ci95_high`, and the same for "
        "`best_mIoU`.",
        f"Regenerate the report from this store: `regseg report --experiment {name}`",
    ])
