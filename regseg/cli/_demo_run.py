"""The end-to-end demo: synthetic data -> smoke spec -> queue -> local workers -> MLflow -> report.

Part of the CLI shell (the one place that composes regseg, orchestrator and reports); kept out of
``demo.py`` so the command itself stays thin.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_DIR = Path(__file__).resolve().parents[2]
SMOKE_SPEC = REPO_DIR / "experiments" / "smoke.yaml"
DATA_SIZE = (64, 128)
TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class DemoOptions:
    out: str | Path = "demo_out"
    workers: int = 2
    train_images: int = 48
    val_images: int = 16
    seed: int = 0
    quiet: bool = False


def run_demo(opts: DemoOptions) -> dict[str, Any]:
    """Run the demo; return a summary (counts, paths, the UI command)."""
    start = time.monotonic()
    out = Path(opts.out).resolve()
    state = out / ".regseg"
    os.environ["REGSEG_HOME"] = str(state)  # the queue, MLflow store and job dirs live here
    os.environ["REGSEG_DB"] = f"sqlite:///{state / 'queue.db'}"  # (the worker inherits these)
    os.environ["MLFLOW_TRACKING_URI"] = _tracking_uri(state)  # the store _report reads
    spec_path = _project(out)
    data_dir = _dataset(out, opts)
    submitted, spec_name, store = _submit(spec_path, out, data_dir)
    done_before = _succeeded(store, spec_name)
    _drain(store, spec_name, out, opts, total=submitted.n_runs)
    counts = _spec_counts(store, spec_name)
    done_now = _succeeded(store, spec_name)
    report_path, plots = _report(out, state)
    return {
        "out": str(out), "sweep": submitted.sweep_id, "runs": submitted.n_runs,
        "new": submitted.n_new,
        "known": submitted.n_known, "succeeded": counts.get("succeeded", 0),
        # what this call trained, and what an earlier call had finished (a re-run after an
        # interruption trains only the rest)
        "trained_now": len(done_now - done_before), "already_done": len(done_before),
        "failed": counts.get("failed", 0) + counts.get("cancelled", 0),
        "report": str(report_path), "plots": [str(p) for p in plots],
        "jobs_dir": str(state / "jobs"), "tracking_uri": _tracking_uri(state),
        "ui_command": f"cd {out} && {_regseg_executable()} ui",
        "ui_url": _ui_url(state),
        "seconds": round(time.monotonic() - start, 1),
    }


def _ui_url(state: Path) -> str:
    """Where `regseg ui` (default port) shows the smoke runs: the runs table, training mode."""
    from orchestrator.tracking.server import experiments_url, runs_view_url
    from orchestrator.tracking.store import make_client

    base = "http://127.0.0.1:5000"
    exp = make_client(_tracking_uri(state)).get_experiment_by_name("regseg/smoke")
    return runs_view_url(base, exp.experiment_id) if exp else experiments_url(base)


def _regseg_executable() -> str:
    """`regseg` when the one running is on PATH, else its full path (e.g. .venv/bin/regseg)."""
    ours = Path(sys.executable).parent / "regseg"
    on_path = shutil.which("regseg")
    return "regseg" if on_path and Path(on_path).resolve() == ours.resolve() else str(ours)


def _project(out: Path) -> Path:
    """Make ``out`` a project holding a copy of the smoke spec; return the spec's path."""
    target = out / "experiments" / "smoke.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.read_bytes() != SMOKE_SPEC.read_bytes():
        shutil.copyfile(SMOKE_SPEC, target)
    return target


def _dataset(out: Path, opts: DemoOptions) -> Path:
    """Generate the synthetic Cityscapes-format dataset once (a marker records the recipe)."""
    from regseg.data.synthetic import make_synthetic

    root = out / "data" / "synthetic"
    recipe = f"train={opts.train_images} val={opts.val_images} size={DATA_SIZE} seed={opts.seed}\n"
    marker = root / ".regseg-synthetic"
    if marker.exists() and marker.read_text() == recipe:
        return root
    _say(opts, f"Generating {opts.train_images}+{opts.val_images} synthetic images in {root}")
    make_synthetic(root, train=opts.train_images, val=opts.val_images, size=DATA_SIZE,
                   seed=opts.seed)
    marker.write_text(recipe)
    return root


def _submit(spec_path: Path, out: Path, data_dir: Path):
    from orchestrator import queue
    from orchestrator.queue.store import open_store
    from orchestrator.specs import expand, load_spec

    spec = load_spec(spec_path, project_dir=out,
                     overrides={"dataset_dir": str(data_dir.relative_to(out))})
    store = open_store()
    [result] = queue.submit(store, [(spec, expand(spec))])
    # Re-running the demo: the smoke runs are known; retry the ones that failed before.
    failed = [j["id"] for j in queue.jobs(store, states=("failed", "cancelled"))
              if j.get("spec_name") == spec.name]
    if failed:
        queue.retry(store, job_ids=failed)
    return result, spec.name, store


def _succeeded(store, spec_name: str) -> set[int]:
    """Ids of the smoke jobs that have finished training."""
    from orchestrator import queue

    return {j["id"] for j in queue.jobs(store, states=("succeeded",))
            if j.get("spec_name") == spec_name}


def _spec_counts(store, spec_name: str) -> dict[str, int]:
    """Job states of every smoke job (all sweeps: a re-run's sweep holds no new jobs)."""
    from collections import Counter

    from orchestrator import queue

    return dict(Counter(j["state"] for j in queue.jobs(store) if j.get("spec_name") == spec_name))


def _drain(store, spec_name: str, out: Path, opts: DemoOptions, *, total: int) -> None:
    """Start one local worker process (slots = GPUs, or ``opts.workers`` CPU slots) and show
    progress until the queue is empty and the worker has exited."""
    from orchestrator import queue

    if not queue.has_pending(store):
        _say(opts, "Nothing to train: every smoke run is already done.")
        return
    log = (out / ".regseg" / "worker.log").open("ab")
    argv = [sys.executable, "-m", "regseg", "worker", "--gpus", "auto", "--cpu-slots",
            str(opts.workers), "--exit-when-empty", "--poll-seconds", "0.5"]
    proc = subprocess.Popen(argv, cwd=out, stdout=log, stderr=subprocess.STDOUT)
    interrupted = False
    try:
        _progress(store, spec_name, proc, opts, total=total)
    except KeyboardInterrupt:
        interrupted = True
        print("\nInterrupted: stopping the worker; running jobs write a checkpoint and go back "
              "to the queue...", file=sys.stderr, flush=True)
    finally:
        _stop(proc, interrupted=interrupted)
        log.close()
    if interrupted:
        from regseg.errors import TrainingInterrupted

        done = len(_succeeded(store, spec_name))
        raise TrainingInterrupted(
            f"demo stopped with {done} of {total} smoke runs trained; run `regseg demo` again to "
            f"resume (finished runs are kept, interrupted ones continue from their last "
            f"checkpoint; worker log: {out / '.regseg' / 'worker.log'})")


def _stop(proc: subprocess.Popen, *, interrupted: bool) -> None:
    """Let the worker finish stopping. After Ctrl-C it got the terminal's SIGINT too, so it is
    given a moment to stop by itself before a SIGTERM (which it would log a second time)."""
    if proc.poll() is not None:
        return
    if interrupted:
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            pass
    proc.terminate()
    proc.wait(timeout=120)


def _progress(store, spec_name: str, proc: subprocess.Popen, opts: DemoOptions, *,
              total: int) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("[bold]training smoke runs"), BarColumn(),
               TextColumn("{task.completed}/{task.total} done, {task.fields[running]} running"),
               TimeElapsedColumn())
    with Progress(*columns, disable=opts.quiet, transient=False) as bar:
        task = bar.add_task("runs", total=total, running=0)
        while True:
            finished = proc.poll() is not None
            c = _spec_counts(store, spec_name)
            done = sum(c.get(s, 0) for s in TERMINAL)
            bar.update(task, completed=min(done, total), running=c.get("running", 0))
            if finished:
                break
            time.sleep(0.5)


def _tracking_uri(state: Path) -> str:
    return f"sqlite:///{state / 'mlflow.db'}"


def _report(out: Path, state: Path) -> tuple[Path, list[Path]]:
    from reports.report import build_report

    report = build_report(tracking_uri=_tracking_uri(state), experiments=["regseg/smoke"],
                          plots_dir=out / "plots")
    path = out / "AblationStudies.md"
    path.write_text(report.markdown)
    return path, list(report.plot_paths)


def _say(opts: DemoOptions, message: str) -> None:
    if not opts.quiet:
        print(message, flush=True)
