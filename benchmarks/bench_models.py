"""Speed ratios of the model zoo's fast-path options, measured in one run (CPU by default).

Prints, for exp48_decoder26 (RegSeg): eval 1x3x512x1024 and train batch 4 @ 256x256 ("fused
BN" is eval only), the median
seconds per iteration of each variant and its speed ratio against the baseline variant measured
in the same run. Variants are interleaved and ratios taken within each round, so load changes
on a shared machine cancel out; the median over rounds is printed.

    .venv/bin/python benchmarks/bench_models.py [--rounds 5] [--iters 2] [--device cpu] [--amp]
"""

from __future__ import annotations

import argparse
import statistics

from regseg.benchmark import benchmark

WORKLOADS = {  # name -> (mode, input size, batch)
    "eval 1x3x512x1024": ("eval", (512, 1024), 1),
    "train 4x3x256x256": ("train", (256, 256), 4),
}


BASELINE = "contiguous (baseline)"


def variants(with_amp: bool) -> dict[str, dict]:
    table = {BASELINE: {"channels_last": False, "amp": False, "fuse": False},
             "channels_last": {"channels_last": True, "amp": False, "fuse": False},
             "channels_last + fused BN": {"channels_last": True, "amp": False, "fuse": True}}
    if with_amp:
        table["amp"] = {"channels_last": False, "amp": True, "fuse": False}
        table["channels_last + amp"] = {"channels_last": True, "amp": True, "fuse": False}
    return table


def measure(model: str, workload: str, *, rounds: int, iters: int, device: str,
            with_amp: bool) -> tuple[dict[str, float], dict[str, float]]:
    """(median seconds per iteration, median per-round speed ratio vs the baseline) by variant.

    Each round measures every variant back to back; the ratio is taken within a round, so a
    load change between rounds (a shared machine) cancels out of it.
    """
    mode, size, batch = WORKLOADS[workload]
    table = {name: opts for name, opts in variants(with_amp).items()
             if mode == "eval" or not opts["fuse"]}  # folding BN is an eval-only transform
    runs: dict[str, list[float]] = {name: [] for name in table}
    for _ in range(rounds):
        for name, opts in table.items():  # both options named: benchmark()'s defaults unused
            r = benchmark(model, mode=mode, input_size=size, batch=batch, iters=iters, warmup=1,
                          device=device, **opts)
            runs[name].append(r.seconds_per_iter)
    base = runs[BASELINE]
    ratios = {name: statistics.median(b / t for b, t in zip(base, times))
              for name, times in runs.items()}
    return {name: statistics.median(times) for name, times in runs.items()}, ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="exp48_decoder26")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--amp", action="store_true",
                        help="also measure autocast (bfloat16 on CPU, float16 on CUDA)")
    args = parser.parse_args()
    import torch

    print(f"model {args.model}, device {args.device}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, rounds {args.rounds} x iters {args.iters}")
    for workload in WORKLOADS:
        times, ratios = measure(args.model, workload, rounds=args.rounds, iters=args.iters,
                                device=args.device, with_amp=args.amp)
        _, _, batch = WORKLOADS[workload]
        print(f"\n{workload}")
        for name, sec in times.items():
            print(f"  {name:24s} {sec:8.3f} s/iter  {batch / sec:7.2f} img/s  "
                  f"speed x{ratios[name]:.2f} vs baseline (median of per-round ratios)")


if __name__ == "__main__":
    main()
