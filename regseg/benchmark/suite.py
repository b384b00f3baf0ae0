"""``regseg benchmark --suite``: what this machine can run, each figure beside its baseline.

- model eval (1x3x512x1024 on CPU, 1x3x1024x2048 on CUDA) and train step (batch 4 at 256x256 on
  CPU, 8 at 768x768 on CUDA): the engine's path against the plain eager baseline
  (regseg.benchmark.model), measured in the same process in interleaved rounds; the ratio is
  the median of the per-round ratios, so load changes between rounds cancel out;
- train loader: this build's pipeline against the previous one (regseg.benchmark.loader), one
  torch thread as in a DataLoader worker;
- with ``system`` (the default): ``regseg report`` over 10,000 runs, queue claims/s with 8
  workers and a slot's idle gap between two jobs, by the checkout's benchmarks/ scripts
  (regseg.benchmark.system).

Writes ``<out_dir>/<date>.json`` (every number, the machine, torch versions) and
``<out_dir>/<date>.md`` (a markdown table: baseline, this build, ratio).
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import statistics
from pathlib import Path
from typing import Any

from regseg.benchmark.loader import benchmark_loader
from regseg.benchmark.model import DEFAULT_WORKLOAD, benchmark

#: (rounds, iterations per round, loader batches) of a full and of a quick suite.
SETTINGS = {"full": (5, 2, 6), "quick": (2, 1, 2)}


def machine_info(device: str) -> dict[str, Any]:
    """Where the figures come from: CPU model, cores, torch threads, GPU name (or "no GPU")."""
    import os

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": gpu, "device": device, "torch": torch.__version__,
            "python": platform.python_version()}


def model_ratio(model: str, mode: str, *, device: str, rounds: int, iters: int) -> dict[str, Any]:
    """Engine path vs eager baseline for one workload, interleaved over ``rounds``."""
    size, batch = DEFAULT_WORKLOAD[(device, mode)]
    engine, eager = [], []
    for _ in range(rounds):
        for path, out in (("eager", eager), ("engine", engine)):
            r = benchmark(model, mode=mode, input_size=size, batch=batch, iters=iters, warmup=1,
                          device=device, path=path)
            out.append(r.seconds_per_iter)
    label = (f"eval {batch}x3x{size[0]}x{size[1]}" if mode == "eval"
             else f"train step batch {batch} at {size[0]}x{size[1]}")
    return {"name": f"{model} {label}", "unit": "images/s",
            "baseline": batch / statistics.median(eager),
            "value": batch / statistics.median(engine),
            "ratio": statistics.median(b / e for b, e in zip(eager, engine)),
            "baseline_is": "plain eager (contiguous, unfused, no_grad / for-loop SGD)"}


def run_suite(*, model: str = "exp48_decoder26", device: str = "cpu", quick: bool = False,
              out_dir: str | Path = "benchmarks/results", loader: bool = True,
              system: bool = True, state_dir: str | Path = ".regseg") -> dict[str, Any]:
    """Run the suite and write its JSON and markdown files; returns the JSON record (with
    ``json_path`` and ``markdown_path``)."""
    rounds, iters, loader_batches = SETTINGS["quick" if quick else "full"]
    rows = [model_ratio(model, mode, device=device, rounds=rounds, iters=iters)
            for mode in ("eval", "train")]
    if loader:
        result = benchmark_loader(batches=loader_batches, images=8)
        rows.append({"name": "train loader, ablation setting (batch 8, 768x768 crops, custom3, "
                             "class-uniform 0.5, 512x1024 photos), one worker process (1 thread)",
                     "unit": "images/s", "baseline": result.previous_images_per_s,
                     "value": result.images_per_s, "ratio": result.speedup,
                     "baseline_is": "previous pipeline (whole-image resize, PIL decoding), "
                                    "both timed with one torch thread as in a DataLoader worker"})
    skipped: list[str] = []
    if system:
        from regseg.benchmark.system import system_rows

        more, skipped = system_rows(quick=quick, state_dir=Path(state_dir))
        rows += more
    record = {"date": dt.datetime.now().isoformat(timespec="seconds"), "quick": quick,
              "model": model, "machine": machine_info(device), "results": rows,
              "skipped": skipped}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = dt.date.today().isoformat()
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    json_path.write_text(json.dumps(record, indent=2) + "\n")
    md_path.write_text(markdown_table(record))
    return {**record, "json_path": str(json_path), "markdown_path": str(md_path)}


def markdown_table(record: dict[str, Any]) -> str:
    """The suite's markdown: the machine line, then one row per figure."""
    m = record["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads, "
             f"{m['gpu']}; torch {m['torch']}; {record['date']}"
             f"{' (quick)' if record['quick'] else ''}.", "",
             "Ratio: how many times faster this build is than the baseline (baseline / this "
             "build for seconds).", "",
             "| measure | baseline | this build | ratio |", "| --- | --- | --- | --- |"]
    for row in record["results"]:
        lines.append(f"| {row['name']} | {row['baseline']:.2f} {row['unit']} | "
                     f"{row['value']:.2f} {row['unit']} | x{row['ratio']:.2f} |")
    lines += [""] + [f"Not measured: {why}" for why in record.get("skipped", [])]
    return "\n".join(lines).rstrip("\n") + "\n"
