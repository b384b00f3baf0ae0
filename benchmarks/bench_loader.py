"""Train-loader images/s per process at the ablation setting: this build vs the previous one.

    .venv/bin/python benchmarks/bench_loader.py [--batches 6] [--images 8]
"""

from __future__ import annotations

import argparse

from regseg.benchmark.loader import benchmark_loader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--images", type=int, default=8)
    args = parser.parse_args()
    r = benchmark_loader(batches=args.batches, images=args.images)
    print(f"previous {r.previous_images_per_s:.2f} img/s, now {r.images_per_s:.2f} img/s, "
          f"x{r.speedup:.2f} (median of per-batch ratios, {r.batches} batches of {r.batch})")


if __name__ == "__main__":
    main()
