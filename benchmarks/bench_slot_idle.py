"""A slot's idle gap between two jobs: job k's exit -> job k+1's first training iteration.

    python benchmarks/bench_slot_idle.py [--jobs 4] [--epochs 1] [--json] [-- WORKER ARGS...]

Queues a tiny smoke sweep (experiments/smoke.yaml's setting on synthetic 64x128 data, the
bodies x decoders grid, seeds added for more jobs) and runs it on one CPU slot of a real
``regseg worker`` with the embedded MLflow store, as a user would. Every process carries
benchmarks/_idle_probe/sitecustomize.py, which marks the interpreter start, the first forward in
training mode (the first iteration) and the exit of each job process; the figures come from
those marks only, so any version of the worker and the job is measured with one instrument.

Per gap (seconds, medians over the gaps of the sweep, min and max beside):
- ``idle``: job k's exit -> job k+1's first iteration (the GPU idle time of issue #12);
- ``spawn_after_exit``: job k's exit -> the interpreter of job k+1 starts (negative when the
  process was started before job k ended);
- ``process_to_first_iteration``: job k+1's interpreter start -> its first iteration.
Also the worker's own ``slot ... idle`` log lines, when it writes them, and the sweep's wall
time. The machine's load (``os.getloadavg``) is printed beside: on a shared machine the
figures move with it. The GFLOPs cache starts empty (``$REGSEG_CACHE_DIR`` in the run's
folder): the first job of each architecture counts, later seeds read it.

The code measured is the checkout this script lies in (it goes first on ``PYTHONPATH``): to
compare two versions in the same conditions, export each into a folder (``git archive``), copy
this script and benchmarks/_idle_probe/ into both, and run them one after the other.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PROBE_DIR = Path(__file__).resolve().parent / "_idle_probe"
BODIES, DECODERS = ["exp48", "exp30"], ["decoder14", "decoder26"]
IDLE_LINE = re.compile(r"slot (\S+) idle (\d+\.\d+) s before job (\d+)")


def _submit(db_url: str, project: Path, data: Path, *, jobs: int, epochs: int) -> int:
    from orchestrator import queue
    from orchestrator.queue.store import open_store
    from orchestrator.specs import expand, load_spec

    from tests.orchestrator._orch_helpers import smoke_spec

    seeds = max(1, -(-jobs // (len(BODIES) * len(DECODERS))))
    text = smoke_spec("idle", "idle", dataset_dir=str(data), epochs=epochs,
                      grid={"body": BODIES, "decoder": DECODERS}) + f"seeds: {seeds}\n"
    (project / "experiments").mkdir(parents=True, exist_ok=True)
    path = project / "experiments" / "idle.yaml"
    path.write_text(text)
    os.environ["REGSEG_DATA_ROOTS"] = str(data)
    spec = load_spec(path, project_dir=project)
    runs = expand(spec)[:jobs]
    queue.submit(open_store(db_url), [(spec, runs)])
    return len(runs)


def _env(root: Path, data: Path, marks: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REGSEG_DB", "MLFLOW_TRACKING_URI")}
    path = os.pathsep.join(p for p in (str(PROBE_DIR), str(ROOT), env.get("PYTHONPATH")) if p)
    env.update({"REGSEG_HOME": str(root / "state"), "REGSEG_DATA_ROOTS": str(data),
                "REGSEG_CACHE_DIR": str(root / "cache"),
                "REGSEG_IDLE_PROBE": str(marks), "PYTHONPATH": path, "PYTHONUNBUFFERED": "1",
                "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    return env


def _gaps(marks: Path) -> list[dict[str, float]]:
    jobs = [json.loads(p.read_text()) for p in marks.glob("*.json")]
    jobs = sorted((j for j in jobs if "first_forward" in j), key=lambda j: j["first_forward"])
    gaps = []
    for before, after in zip(jobs, jobs[1:]):
        gaps.append({"job": after["job_id"],
                     "idle": after["first_forward"] - before["exit"],
                     "spawn_after_exit": after["started"] - before["exit"],
                     "process_to_first_iteration": after["first_forward"] - after["started"]})
    return gaps


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}


def measure(*, jobs: int, epochs: int, worker_args: list[str],
            worker_log: Path | None = None) -> dict:
    """Run the sweep once; returns the figures (see the module docstring)."""
    from regseg.data.synthetic import make_synthetic

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = make_synthetic(root / "data", train=16, val=8, size=(64, 128), seed=0)
        db_url = f"sqlite:///{root / 'queue.db'}"
        n = _submit(db_url, root / "project", data, jobs=jobs, epochs=epochs)
        marks = root / "marks"
        marks.mkdir()
        argv = [sys.executable, "-m", "regseg", "worker", "--db", db_url, "--gpus", "none",
                "--cpu-slots", "1", "--exit-when-empty", "--poll-seconds", "0.1", *worker_args]
        load = os.getloadavg()[0]
        started = time.monotonic()
        done = subprocess.run(argv, env=_env(root, data, marks), cwd=root / "project",
                              capture_output=True, text=True, timeout=1800)
        wall = time.monotonic() - started
        if worker_log is not None:
            worker_log.write_text(done.stderr)
        if done.returncode != 0:
            raise SystemExit(f"worker failed ({done.returncode}):\n{done.stderr[-3000:]}")
        gaps = _gaps(marks)
        reported = [float(m.group(2)) for m in IDLE_LINE.finditer(done.stderr)]
    if len(gaps) != n - 1:
        raise SystemExit(f"expected {n - 1} gaps from {n} jobs, measured {len(gaps)}")
    figures = {k: _summary([g[k] for g in gaps])
               for k in ("idle", "spawn_after_exit", "process_to_first_iteration")}
    figures["worker_reported_idle"] = _summary(reported) if reported else None
    figures.update(jobs=n, gaps=len(gaps), sweep_wall_s=round(wall, 1),
                   loadavg_1min_at_start=round(load, 2), loadavg_1min_at_end=round(
                       os.getloadavg()[0], 2), per_gap=[{k: round(v, 3) if isinstance(v, float)
                                                          else v for k, v in g.items()}
                                                         for g in gaps])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker-log", type=Path, default=None,
                        help="keep the worker's log (its per-job idle lines) in this file")
    parser.add_argument("worker_args", nargs="*", help="after --: extra `regseg worker` options")
    args = parser.parse_args()
    figures = measure(jobs=args.jobs, epochs=args.epochs, worker_args=args.worker_args,
                      worker_log=args.worker_log)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for key in ("idle", "spawn_after_exit", "process_to_first_iteration",
                "worker_reported_idle"):
        f = figures[key]
        if f:
            print(f"{key:28s} median {f['median']:7.3f} s  (min {f['min']:.3f}, "
                  f"max {f['max']:.3f})")
    print(f"{figures['jobs']} jobs, {figures['gaps']} gaps, sweep {figures['sweep_wall_s']} s, "
          f"load {figures['loadavg_1min_at_start']} -> {figures['loadavg_1min_at_end']}")


if __name__ == "__main__":
    main()
