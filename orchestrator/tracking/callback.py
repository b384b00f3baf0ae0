"""``MlflowCallback``: the engine callback that logs a training job into its MLflow run.

The job process (orchestrator/workers/job.py) adds it when the worker passes ``--run-id``. Every
write goes through ``RunSink`` (durable buffer ``<out>/mlflow_buffer.jsonl``, ordered,
idempotent), so a tracking outage never stops training and a resumed attempt never logs an epoch
twice.

What is logged (docs/CONTRACTS.md):
- train start: params ``model_params``, ``model_gflops`` (paper/fvcore convention, at the paper's
  input 1x3x1024x2048, whatever the config's validation size), ``model_field_of_view``; tag
  ``regseg.device``.
- each epoch: every numeric metric of the epoch with step = epoch, in ONE ``log_batch``.
- train end: ``best_mIoU``, ``best_mIoU_reduced``, ``best_epoch`` (step = last epoch); tags
  ``regseg.best_checkpoint`` / ``regseg.last_checkpoint`` (absolute paths); artifacts
  ``config/config.yaml`` (resolved config), ``logs/job.log``, ``confusion_matrix/*.csv|png``,
  ``checkpoints/best.pt`` unless ``log_checkpoints=False`` (then the path tag only).
- every ``last.pt`` (with a tracking server, or ``upload_resume=True``): a copy goes to the run's
  artifacts under ``resume/a`` or ``resume/b`` (alternating), and only once that upload is
  complete does the tag ``regseg.resume_checkpoint`` point at it: the previous copy stays valid
  until the new one is whole. Another host resumes the job from it (Tracker.fetch_checkpoint).

Hooks never raise: a failure is logged as a warning, training goes on. ``seconds`` accumulates the
time spent inside the hooks (the tracking overhead, measured by benchmarks/bench_tracking.py).
"""

from __future__ import annotations

import functools
import logging
import math
import numbers
import os
import time
from pathlib import Path
from typing import Any, Mapping

from orchestrator.tracking import tags as T
from orchestrator.tracking.buffer import BUFFER_NAME, RunSink
from orchestrator.tracking.store import is_remote, make_client, resolve_tracking_uri

log = logging.getLogger(__name__)

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the checkout the code runs from
GFLOPS_INPUT_SIZE = (1024, 2048)  # the paper's complexity convention (Table 1-3 of Gao 2021)
ARTIFACT_DIR = "tracking"         # <out>/tracking/: files written for upload
SUMMARY_METRICS = ("best_mIoU", "best_mIoU_reduced", "best_epoch")


def _hook(method):
    """Time a hook into ``self.seconds`` and turn any exception into a warning."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        except Exception:  # tracking must never stop training
            log.warning("MlflowCallback.%s failed; training continues", method.__name__,
                        exc_info=True)
        finally:
            elapsed = time.perf_counter() - started
            self.seconds += elapsed
            self.hook_seconds[method.__name__] = (self.hook_seconds.get(method.__name__, 0.0)
                                                  + elapsed)
    return wrapper


def _tag(key: str, value: str):
    from mlflow.entities import RunTag

    return RunTag(key, value)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _config_dict(cfg: Any) -> dict[str, Any]:
    return cfg.model_dump(mode="json") if hasattr(cfg, "model_dump") else dict(cfg)


def _cfg_get(cfg: Any, name: str, default: Any = None) -> Any:
    return cfg.get(name, default) if isinstance(cfg, Mapping) else getattr(cfg, name, default)


def describe_device(model) -> str:
    """``cpu`` or ``cuda:0 (NVIDIA H100 80GB HBM3; CUDA_VISIBLE_DEVICES=3)``: where the model's
    parameters live (the worker slot's physical GPU id, when set, is kept alongside)."""
    import torch

    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    if device.type != "cuda":
        return str(device)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    slot = f"; CUDA_VISIBLE_DEVICES={visible}" if visible else ""
    return f"{device} ({torch.cuda.get_device_name(device)}{slot})"


def model_complexity(model, model_name: str | None,
                     num_classes: int | None = None) -> dict[str, str]:
    """Params count, GFLOPs at 1x3x1024x2048 and field of view, as MLflow params.

    ``count_gflops`` counts on a meta-device copy in eval mode, so the training model and its BN
    statistics are untouched; ``fork_rng`` keeps the RNG streams untouched too (a tracked run
    trains exactly like an untracked one). With the model's name and number of classes the
    GFLOPs come from the per-code-version cache (regseg.models.complexity_cache) once any job
    has counted that architecture: the count is start-up time before the first iteration.
    """
    import torch

    from regseg.models import complexity

    out = {"model_params": str(complexity.count_params(model))}
    fov = complexity.field_of_view(model_name) if model_name else None
    if fov is not None:
        out["model_field_of_view"] = str(fov)

    def count() -> float:
        with torch.random.fork_rng(devices=[]):
            return complexity.count_gflops(model, GFLOPS_INPUT_SIZE)

    if model_name and num_classes:
        from regseg.models.complexity_cache import cached_gflops

        gflops = cached_gflops(model_name, num_classes, GFLOPS_INPUT_SIZE, count)
    else:
        gflops = count()
    out["model_gflops"] = f"{float(gflops):.2f}"
    return out


class MlflowCallback:
    """Logs one training job into the existing MLflow run ``run_id`` (see module docstring)."""

    def __init__(self, *, tracking_uri: str | None, run_id: str, out_dir: str | Path,
                 log_checkpoints: bool = True, upload_resume: bool | None = None,
                 retry_interval_s: float = 5.0) -> None:
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self.run_id = run_id
        self.out_dir = Path(out_dir)
        self.log_checkpoints = log_checkpoints
        # On one host (the embedded store) the local last.pt is all a resume needs.
        self.upload_resume = (is_remote(self.tracking_uri) if upload_resume is None
                              else upload_resume)
        self._resume_slot = "a"
        self.sink = RunSink(make_client(self.tracking_uri), run_id, self.out_dir / BUFFER_NAME,
                            retry_interval_s=retry_interval_s)
        self.seconds = 0.0  # time inside the hooks (total, and per hook name below)
        self.hook_seconds: dict[str, float] = {}
        self._cfg: Any = None
        self._last_epoch: int | None = None
        self._checkpoints: dict[str, Path] = {}

    # ---- engine hooks -------------------------------------------------------------------
    @_hook
    def on_train_start(self, cfg, *, model, start_epoch: int = 0, out_dir=None) -> None:
        self._cfg = cfg
        if start_epoch > 0:
            self._last_epoch = start_epoch - 1
        self.sink.flush(force=True)  # what an earlier attempt left behind goes first
        params = {} if self._has_complexity() else self._complexity(model)
        tags = {T.DEVICE: describe_device(model), **self._provenance(cfg)}
        self.sink.submit(params=params, tags=tags)

    @_hook
    def on_epoch_end(self, epoch: int, metrics: Mapping[str, Any]) -> None:
        batch = [(k, float(v), int(epoch)) for k, v in metrics.items() if _is_number(v)]
        self._last_epoch = int(epoch)
        self.sink.submit(metrics=batch)

    @_hook
    def on_checkpoint(self, kind: str, path) -> None:
        self._checkpoints[kind] = Path(path).resolve()
        if kind == "last" and self.upload_resume:
            self._upload_resume(Path(path))

    def _upload_resume(self, path: Path) -> None:
        """Copy ``last.pt`` into the run's artifacts, then point the tag at the complete copy."""
        import shutil

        folder = self.out_dir / ARTIFACT_DIR / "resume"
        folder.mkdir(parents=True, exist_ok=True)
        staged = folder / "last.pt"
        shutil.copyfile(path, staged)  # last.pt may be replaced by the next epoch meanwhile
        artifact_dir = f"resume/{self._resume_slot}"
        self.sink.client.log_artifact(self.run_id, str(staged), artifact_dir)
        epoch = "" if self._last_epoch is None else str(self._last_epoch)
        self.sink.client.log_batch(self.run_id, tags=[
            _tag(T.RESUME_CHECKPOINT, f"{artifact_dir}/last.pt"), _tag(T.RESUME_EPOCH, epoch)])
        self._resume_slot = "b" if self._resume_slot == "a" else "a"

    @_hook
    def on_train_end(self, summary: Mapping[str, Any]) -> None:
        step = self._last_epoch if self._last_epoch is not None else 0
        # NaN bests (a run that was never evaluated) are left out rather than logged as NaN.
        metrics = [(k, float(summary[k]), step) for k in SUMMARY_METRICS
                   if _is_number(summary.get(k)) and not math.isnan(summary[k])]
        files = self._write_files(summary)
        tags = {{"best": T.BEST_CHECKPOINT, "last": T.LAST_CHECKPOINT}[kind]: str(path)
                for kind, path in self._checkpoint_paths().items()}
        best = self._checkpoint_paths().get("best")
        if best is not None and self.log_checkpoints:
            files.append((best, "checkpoints"))
        # sample predictions of the best epoch (regseg.predict.SampleImagesCallback), if any
        files.extend((p, "predictions") for p in sorted(self.out_dir.glob("predictions/*.png")))
        self.sink.submit(metrics=metrics, tags=tags,
                         artifacts=[(str(p), a) for p, a in files], flush=False)
        self.sink.flush(force=True)

    # ---- helpers ------------------------------------------------------------------------
    def flush(self) -> bool:
        """Try to send everything buffered now (ignores the back-off); True when all is sent."""
        return self.sink.flush(force=True)

    def _has_complexity(self) -> bool:
        try:
            return "model_gflops" in self.sink.client.get_run(self.run_id).data.params
        except Exception:  # store unreachable: compute again, the params are idempotent
            return False

    def _complexity(self, model) -> dict[str, str]:
        try:
            return model_complexity(model, _cfg_get(self._cfg, "model_name"),
                                    _cfg_get(self._cfg, "num_classes"))
        except Exception:
            log.warning("model complexity could not be measured; params not logged", exc_info=True)
            return {}

    def _provenance(self, cfg) -> dict[str, str]:
        """Code, environment and data of this attempt (regseg.provenance), as tags; the dataset
        fingerprint is cached per directory under the state dir."""
        from orchestrator.paths import state_dir
        from regseg import provenance

        # device 0: a slot's job sees only its own GPU, as device 0 (CUDA_VISIBLE_DEVICES)
        info = provenance.collect(project_dir=PACKAGE_ROOT,
                                  dataset_dir=_cfg_get(cfg, "dataset_dir"),
                                  cache_dir=state_dir() / "cache", device=0)
        return provenance.provenance_tags(info)

    def _checkpoint_paths(self) -> dict[str, Path]:
        paths = {kind: self.out_dir / "checkpoints" / f"{kind}.pt" for kind in ("best", "last")}
        paths.update({k: v for k, v in self._checkpoints.items() if k in ("best", "last")})
        return {k: p for k, p in paths.items() if p.exists()}

    def _write_files(self, summary: Mapping[str, Any]) -> list[tuple[Path, str]]:
        from orchestrator.tracking.artifacts import write_config_yaml, write_confusion_matrix

        folder = self.out_dir / ARTIFACT_DIR
        folder.mkdir(parents=True, exist_ok=True)
        files: list[tuple[Path, str]] = []
        if self._cfg is not None:
            files.append((write_config_yaml(_config_dict(self._cfg), folder / "config.yaml"),
                          "config"))
        job_log = self.out_dir / "job.log"
        if job_log.exists():
            files.append((job_log, "logs"))
        matrix = summary.get("confusion_matrix")
        if matrix is not None:
            for path in write_confusion_matrix(matrix, self._class_names(len(matrix)), folder):
                files.append((path, "confusion_matrix"))
        return files

    def _class_names(self, n: int) -> list[str]:
        try:
            from regseg.data import class_names

            names = list(class_names(self._cfg))
        except Exception:
            names = []
        return names if len(names) == n else [str(i) for i in range(n)]
