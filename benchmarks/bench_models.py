"""Speed ratio of the engine's model path against the plain eager baseline (CPU by default).

Prints, for exp48_decoder26 (RegSeg), eval 1x3x512x1024 and a train step at batch 4, 256x256
(CUDA: the paper's sizes): images/s of the plain eager build (contiguous, unfused, for-loop
SGD), of the engine's path (channels_last, folded eval copy, inference mode, fused SGD) and the
median of per-round ratios (rounds interleave both, so load changes cancel out).
`regseg benchmark --suite` runs the same measurement plus the loader and writes the results.

    .venv/bin/python benchmarks/bench_models.py [--rounds 5] [--iters 2] [--device cpu]
"""

from __future__ import annotations

import argparse

from regseg.benchmark.suite import model_ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="exp48_decoder26")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args()
    import torch

    print(f"model {args.model}, device {args.device}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, rounds {args.rounds} x iters {args.iters}")
    for mode in ("eval", "train"):
        row = model_ratio(args.model, mode, device=args.device, rounds=args.rounds,
                          iters=args.iters)
        print(f"{row['name']}: eager {row['baseline']:.2f} img/s, engine {row['value']:.2f} img/s, "
              f"x{row['ratio']:.2f}")


if __name__ == "__main__":
    main()
