"""Import the reference's training logs into MLflow: one MLflow run per reference run.

Layout written (docs/CONTRACTS.md): experiment ``reference/<group>`` unless an experiment is
given; tags ``regseg.source=reference``, ``regseg.reference_file``, ``regseg.reference_run``,
``regseg.group``, ``regseg.model``, ``regseg.config_label``, ``regseg.seed`` and
``regseg.import_hash`` (sha256 of the run number and the run's own lines, header included),
``regseg.reference_file_sha256`` (sha256 of the whole log file) and ``regseg.groups`` (every
group the run was imported under, comma-separated, sorted). A reference run is identified by
its import hash across the whole store: re-importing it under the same group is ``skipped``;
importing the same bytes from another folder (the reference ships exp43_decoder14's log in
both the backbone and the decoder folder) adds that group to ``regseg.groups`` of the one
existing run (``linked``) instead of creating a second run. Params = the flattened
``TrainConfig.from_reference`` (lists as JSON) plus model facts when the zoo can compute them;
metrics per evaluated epoch with ``step = epoch`` (``loss`` on every epoch; ``mIoU``,
``mIoU_reduced`` recomputed from the per-class IoU, ``pixel_accuracy``, ``iou/<class>``) and
``best_mIoU``, ``best_mIoU_reduced``, ``best_epoch`` at the last epoch.

Arms as for trained runs (``orchestrator.tracking.arms``): the runs of one configuration
(group, config label) are children of one parent run holding the aggregate over them; each
run is named ``<log name> · s<seed> · run<n>`` and described (``mlflow.note.content``) by its
log and arm, and each experiment gets MLflow's "Model training" kind and a description.

Every file is parsed completely before anything is written, so a malformed file imports nothing;
a failure while writing one file deletes the runs already written for that file.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import orchestrator.tracking.arms as arms
import orchestrator.tracking.notes as notes
import orchestrator.tracking.tags as T
from reports.errors import LogFormatError, ReportError
from reports.model_facts import FACT_PARAMS, computed_facts
from reports.reference_log import REDUCED_EXCLUDE, ReferenceRun, parse_log

#: Directory names of the reference's training_log/ -> group.
DIRECTORY_GROUPS = {
    "backbone_ablation_studies": "backbone",
    "decoder_ablation_studies": "decoder",
    "random_resizes_random_crops": "resize_crop",
    "reproducibility": "reproducibility",
    "training_techniques": "training_techniques",
    "comparison_against_ddrnet23": "ddrnet_comparison",
    "camvid": "camvid",
}
#: File-name rules for files outside those directories; first match wins.
FILENAME_GROUPS = (
    (re.compile(r"^camvid_"), "camvid"),
    (re.compile(r"ddrnet|_train_1000_epochs"), "ddrnet_comparison"),
    (re.compile(r"_(400_1600|512_2048)_resize_\d+_\d+_crop"), "resize_crop"),
    (re.compile(r"exp49_decoder14_500_epochs_(256_1792_resize|fair_log)"), "reproducibility"),
    (re.compile(r"exp48_decoder26_500_epochs_fair_"), "training_techniques"),
    (re.compile(r"_exp43_\w+_500_epochs_fair_log"), "decoder"),
    (re.compile(r"_decoder14_500_epochs_fair_log"), "backbone"),
)
#: TrainConfig fields that tell the configurations of the paper's groups apart.
LABEL_FIELDS = ("model_name", "dataset_name", "epochs", "train_min_size", "train_max_size",
                "train_crop_size", "aug_mode", "loss_type")


@dataclass(frozen=True)
class ImportedRun:
    """Outcome for one reference run: ``status`` is ``imported``, ``skipped`` (already there
    under this group) or ``linked`` (already there under another group; this one was added)."""

    file: str
    run: int
    group: str
    experiment: str
    run_id: str
    status: str
    best_mIoU: float | None
    best_mIoU_reduced: float | None


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Files to import: each file as given, each directory's ``*.txt`` recursively (sorted)."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*.txt") if q.is_file()))
        elif p.is_file():
            out.append(p)
        else:
            raise ReportError(f"import-logs: expected a log file or a directory, got {str(p)!r}")
    if not out:
        raise ReportError("import-logs: no *.txt log files found in " + ", ".join(map(str, paths)))
    return out


def resolve_group(path: Path, experiment: str | None = None) -> str:
    """Group of a log file: its directory name, else a file-name rule, else the experiment's
    last path component, else ``reference``."""
    if path.parent.name in DIRECTORY_GROUPS:
        return DIRECTORY_GROUPS[path.parent.name]
    for pattern, group in FILENAME_GROUPS:
        if pattern.search(path.name):
            return group
    return experiment.rsplit("/", 1)[-1] if experiment else "reference"


def config_params(header: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(params, extra tags) for a reference header via ``TrainConfig.from_reference``.

    A header this project cannot model (ConfigError) is still imported, with its raw keys as
    params and the reason in the tag ``regseg.config_error``.
    """
    from orchestrator.tracking.params import flatten_config
    from regseg.config import TrainConfig
    from regseg.errors import ConfigError

    try:
        cfg, ignored = TrainConfig.from_reference(header)
    except (ConfigError, ImportError) as exc:
        params = flatten_config(header)
        return params, {"regseg.config_error": str(exc)[:5000]}
    params = flatten_config(cfg.model_dump(mode="json"))
    return params, {"regseg.reference_ignored_keys": ",".join(sorted(ignored))[:5000]}


def config_label(params: dict[str, str]) -> str:
    return ",".join(f"{k}={params[k]}" for k in LABEL_FIELDS if k in params)


def class_names(num_classes: int, dataset: str) -> tuple[str, ...]:
    from regseg.data import CITYSCAPES_CLASSES as names
    if num_classes == len(names) and dataset == "cityscapes":
        return tuple(names)
    return tuple(f"class_{i}" for i in range(num_classes))


def run_metrics(run: ReferenceRun) -> list[tuple[str, float, int]]:
    """``(key, value, step)`` for every metric of one reference run (percent; step = epoch)."""
    header = run.header
    dataset, num_classes = header.get("dataset_name", "cityscapes"), header.get("num_classes", 19)
    cityscapes = dataset == "cityscapes" and num_classes == 19  # mIoU^R is a Cityscapes number
    names = class_names(num_classes, dataset)
    out: list[tuple[str, float, int]] = []
    best: dict[str, tuple[float, int]] = {}
    for n in sorted(run.epochs):
        ep = run.epochs[n]
        out.append(("loss", ep.loss, n))
        if ep.iou is None:
            continue
        values = {"mIoU": ep.miou, "pixel_accuracy": ep.accuracy}
        if cityscapes:
            values["mIoU_reduced"] = ep.miou_reduced(REDUCED_EXCLUDE)
        values.update({f"iou/{name}": v for name, v in zip(names, ep.iou)})
        out.extend((k, v, n) for k, v in values.items())
        for key in ("mIoU", "mIoU_reduced"):
            if key in values and not math.isnan(values[key]) and (
                    key not in best or values[key] > best[key][0]):
                best[key] = (values[key], n)
    last = max(run.epochs, default=0)
    if "mIoU" in best:
        out.append(("best_mIoU", best["mIoU"][0], last))
        out.append(("best_epoch", float(best["mIoU"][1]), last))
    if "mIoU_reduced" in best:
        out.append(("best_mIoU_reduced", best["mIoU_reduced"][0], last))
    return out


@dataclass
class _Planned:
    run: ReferenceRun
    group: str
    experiment: str
    params: dict[str, str]
    tags: dict[str, str]
    metrics: list[tuple[str, float, int]]
    arm_name: str  # the log's name (``cityscapes_exp43_decoder14_500_epochs_fair``)


def file_sha256(path: Path) -> str:
    """sha256 (hex) of the file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def plan_file(path: Path, *, experiment: str | None = None) -> list[_Planned]:
    """Parse one file and build everything to write for it (raises before any write)."""
    group = resolve_group(path, experiment)
    file_hash = file_sha256(path)
    planned = []
    for run in parse_log(path):
        params, extra = config_params(run.header)
        model = str(run.header.get("model_name", ""))
        for key, value in computed_facts(model).items():
            if key in FACT_PARAMS and value is not None:  # same spelling as the training side
                params[key] = f"{value:.2f}" if key == "model_gflops" else str(value)
        tags = {
            "regseg.source": "reference", "regseg.group": group, "regseg.model": model,
            "regseg.reference_file": path.name, "regseg.reference_run": str(run.run),
            "regseg.reference_file_sha256": file_hash, "regseg.groups": group,
            "regseg.config_label": config_label(params), "regseg.import_hash": run.digest,
            "regseg.seed": params.get("seed", str(run.header.get("RNG_seed", 0))), **extra,
        }
        tags[T.ARM_KEY] = notes.arm_key(group, tags[T.CONFIG_LABEL])
        planned.append(_Planned(run, group, experiment or f"reference/{group}", params, tags,
                                run_metrics(run), arm_name=re.sub(r"_log$", "", path.stem)))
    return planned


def _all_experiment_ids(client) -> list[str]:
    from reports.mlflow_source import active_experiments

    return [e.experiment_id for e in active_experiments(client)]


def find_imported(client, digest: str):
    """The store's run carrying import hash ``digest`` (any experiment), else None. The oldest
    wins if an older version of this code left duplicates."""
    ids = _all_experiment_ids(client)
    flt = f"tags.`regseg.import_hash` = '{digest}'"
    found = []
    for i in range(0, len(ids), 100):  # search_runs takes a bounded list of experiments
        found += client.search_runs(ids[i:i + 100], flt, max_results=1000)
    found.sort(key=lambda r: (r.info.start_time or 0, r.info.run_id))
    return found[0] if found else None


def groups_of(run) -> list[str]:
    """Groups a stored reference run belongs to (``regseg.groups``, else ``regseg.group``)."""
    tags = run.data.tags
    raw = tags.get("regseg.groups") or tags.get("regseg.group", "")
    return sorted({g for g in raw.split(",") if g})


def _run_tags(client, experiment_id: str, item: _Planned) -> dict[str, str]:
    """The planned tags plus the arm's parent (created on demand), a unique run name and the
    description that links to the arm."""
    label, key = item.tags[T.CONFIG_LABEL], item.tags[T.ARM_KEY]
    arm_id = arms.ensure_arm(client, experiment_id, group=item.group, config_label=label,
                             name=item.arm_name,
                             tags={T.SOURCE: T.SOURCE_REFERENCE, T.MODEL: item.tags[T.MODEL]})
    taken = {r.info.run_name for r in arms.children(client, experiment_id, key)}
    name = notes.run_name(item.arm_name, item.tags[T.SEED], repetition=item.run.run, taken=taken)
    tags = {**item.tags, T.MLFLOW_RUN_NAME: name, T.MLFLOW_PARENT_RUN_ID: arm_id}
    tags[T.MLFLOW_NOTE] = notes.run_note(tags, experiment_id=experiment_id, arm_id=arm_id)
    return tags


def _experiment_id(client, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    kind = {T.MLFLOW_EXPERIMENT_KIND: T.EXPERIMENT_KIND_TRAINING}  # the UI's "Model training"
    return client.create_experiment(name, tags=kind)


def _write(client, experiment_id: str, item: _Planned) -> str:
    from mlflow.entities import Metric, Param, RunTag

    base = int(time.time() * 1000)
    run = client.create_run(experiment_id, tags=_run_tags(client, experiment_id, item),
                            start_time=base)
    run_id = run.info.run_id
    try:
        # MlflowClient.log_batch splits into MLflow's per-call limits itself
        client.log_batch(run_id, params=[Param(k, v) for k, v in item.params.items()],
                         metrics=[Metric(k, float(v), base + step, step)
                                  for k, v, step in item.metrics])
        client.log_batch(run_id, tags=[RunTag("regseg.import_complete", "1")])
        client.set_terminated(run_id, "FINISHED")
    except Exception:
        client.delete_run(run_id)  # never leave a half-written import behind
        raise
    return run_id


def import_logs(paths: Iterable[str | Path], *, experiment: str | None = None,
                tracking_uri: str | None = None, progress=None) -> list[ImportedRun]:
    """Import every log under ``paths``; returns one ImportedRun per reference run.

    All files are parsed before anything is written: a malformed file raises LogFormatError
    (naming file:line) and nothing at all is imported; fix it and re-run (imports are
    idempotent). ``progress(path)`` is called after each file is written.
    """
    plans = [(path, plan_file(path, experiment=experiment)) for path in discover(paths)]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    results: list[ImportedRun] = []
    for path, planned in plans:
        results.extend(_import_file(client, planned, path))
        if progress is not None:
            progress(path)
    return results


def _place(client, item: _Planned) -> tuple[str, str, str | None]:
    """(run id, status, previous ``regseg.groups`` when linked) for one planned run."""
    existing = find_imported(client, item.tags["regseg.import_hash"])
    if existing is None:
        return _write(client, _experiment_id(client, item.experiment), item), "imported", None
    groups = groups_of(existing)
    if item.group in groups:
        return existing.info.run_id, "skipped", None
    previous = existing.data.tags.get("regseg.groups") or ",".join(groups)
    _set_groups(client, existing.info.run_id, ",".join(sorted({*groups, item.group})))
    return existing.info.run_id, "linked", previous


def _set_groups(client, run_id: str, groups: str) -> None:
    """Change a finished run's groups, with the ``regseg.revised`` stamp in the same batch
    (the report's run cache re-reads revised runs; docs/CONTRACTS.md)."""
    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(T.REVISED, float(now), now, 0)],
                     tags=[RunTag("regseg.groups", groups)])


def _import_file(client, planned: list[_Planned], path: Path) -> list[ImportedRun]:
    out: list[ImportedRun] = []
    written: list[str] = []
    linked: list[tuple[str, str]] = []
    try:
        for item in planned:
            run_id, status, previous = _place(client, item)
            if status == "imported":
                written.append(run_id)
            elif status == "linked":
                linked.append((run_id, previous))
            best = {k: v for k, v, _ in item.metrics if k.startswith("best_mIoU")}
            out.append(ImportedRun(path.name, item.run.run, item.group, item.experiment,
                                   run_id, status, best.get("best_mIoU"),
                                   best.get("best_mIoU_reduced")))
    except Exception:
        for run_id in written:  # all of a file or nothing of it
            client.delete_run(run_id)
        for run_id, previous in linked:
            _set_groups(client, run_id, previous)
        _refresh_arms(client, planned)  # an arm left without runs is dropped
        raise
    _refresh_arms(client, planned)
    return out


def _refresh_arms(client, planned: list[_Planned]) -> None:
    """Recompute the arms of a file's runs and describe their experiments."""
    touched: dict[str, set[str]] = {}
    for item in planned:
        exp = client.get_experiment_by_name(item.experiment)
        if exp is not None:
            touched.setdefault(exp.experiment_id, set()).add(item.tags[T.ARM_KEY])
    for experiment_id, keys in touched.items():
        for key in sorted(keys):
            arms.refresh_arm(client, experiment_id, key)
        arms.describe_experiment(client, experiment_id, reference=True)


__all__ = ["ImportedRun", "LogFormatError", "discover", "file_sha256", "find_imported",
           "groups_of", "import_logs", "plan_file", "resolve_group", "run_metrics"]
