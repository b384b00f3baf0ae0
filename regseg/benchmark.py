"""Steady-state throughput of zoo models (images/s), the speed baseline later work compares with.

eval: ``torch.inference_mode`` forward passes. train: forward + cross-entropy (ignore 255) +
backward + SGD step, i.e. one optimisation iteration. Timing starts after ``warmup``
iterations; CUDA is synchronised around each timed iteration; the median is reported.
Inputs are random (seeded).
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from typing import Any

from regseg.errors import ConfigError

MODES = ("eval", "train")
DEVICES = ("cpu", "cuda")

# Fast-path defaults per device. benchmarks/bench_models.py on the project's CPU machine (AMD
# EPYC, 2 threads, torch 2.14, exp48_decoder26): NHWC vs NCHW x1.02 eval 1x3x512x1024 and x1.14
# train 4x3x256x256, so NHWC is the default everywhere (it is also the CUDA fast path).
# Autocast: float16 on CUDA is the paper's speed protocol (mixed precision), so it is on there;
# CPU bfloat16 changes numerics more than the reference ever did, so it is opt-in (x1.5-2).
CHANNELS_LAST_DEFAULT = {"cpu": True, "cuda": True}
AMP_DEFAULT = {"cpu": False, "cuda": True}

# Default workload per (device, mode): (input size, batch). On CUDA the paper's settings
# (eval at 1024x2048, training batch 8 at 768x768); on CPU sizes that finish in seconds.
DEFAULT_WORKLOAD: dict[tuple[str, str], tuple[tuple[int, int], int]] = {
    ("cuda", "eval"): ((1024, 2048), 1),
    ("cuda", "train"): ((768, 768), 8),
    ("cpu", "eval"): ((512, 1024), 1),
    ("cpu", "train"): ((256, 256), 4),
}


@dataclass(frozen=True)
class BenchmarkResult:
    """One measurement. ``seconds_per_iter`` is the median over the timed iterations and
    ``images_per_s`` = batch / seconds_per_iter."""

    model: str
    mode: str
    device: str
    batch: int
    height: int
    width: int
    amp: bool
    channels_last: bool
    fused: bool
    iters: int
    warmup: int
    seconds_per_iter: float
    images_per_s: float

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def _check(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}: expected one of {', '.join(map(str, allowed))}, got {value!r}")


def _positive(name: str, value: int, minimum: int = 1) -> None:
    if not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name}: expected an integer >= {minimum}, got {value!r}")


def benchmark(model_name: str, *, mode: str = "eval", input_size: tuple[int, int] | None = None,
              batch: int | None = None, iters: int = 10, warmup: int = 3, device: str = "cpu",
              amp: bool | None = None, channels_last: bool | None = None, fuse: bool = True,
              num_classes: int = 19, seed: int = 0) -> BenchmarkResult:
    """Measure ``model_name`` (a ``regseg.models`` name). ``input_size``/``batch`` default to
    ``DEFAULT_WORKLOAD[(device, mode)]``. ``amp``: autocast (float16 on CUDA, bfloat16 on CPU);
    ``channels_last``: model and input in NHWC memory format; None picks the device's default
    (``AMP_DEFAULT`` / ``CHANNELS_LAST_DEFAULT``). ``fuse``: in eval mode, fold Conv+BN pairs
    (``regseg.models.fusion``; same outputs up to float rounding); ignored for train."""
    import torch

    from regseg.models import build_model
    from regseg.models.fusion import fuse_conv_bn

    _check("mode", mode, MODES)
    _check("device", device, DEVICES)
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: expected an available CUDA device, got 'cuda' but "
                          "torch.cuda.is_available() is False")
    default_size, default_batch = DEFAULT_WORKLOAD[(device, mode)]
    h, w = tuple(input_size) if input_size is not None else default_size
    batch = default_batch if batch is None else batch
    amp = AMP_DEFAULT[device] if amp is None else amp
    channels_last = CHANNELS_LAST_DEFAULT[device] if channels_last is None else channels_last
    for name, value, minimum in (("batch", batch, 1), ("iters", iters, 1), ("warmup", warmup, 0),
                                 ("input_size[0]", h, 16), ("input_size[1]", w, 16)):
        _positive(name, value, minimum)

    if device == "cuda":
        torch.backends.cudnn.benchmark = True
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    with torch.random.fork_rng(devices=[]):  # the caller's RNG streams stay untouched
        torch.manual_seed(seed)
        model = build_model(model_name, num_classes=num_classes)
        fused = fuse and mode == "eval"
        model = (fuse_conv_bn(model) if fused else model).to(device, memory_format=fmt)
        x = torch.randn(batch, 3, h, w, device=device).contiguous(memory_format=fmt)
        step = (_train_step if mode == "train" else _eval_step)(model, x, num_classes, device, amp)
    seconds = _time(step, iters=iters, warmup=warmup, device=device)
    return BenchmarkResult(model=model_name, mode=mode, device=device, batch=batch, height=h,
                           width=w, amp=amp, channels_last=channels_last, fused=fused,
                           iters=iters, warmup=warmup, seconds_per_iter=seconds,
                           images_per_s=batch / seconds)


def _autocast(device: str, amp: bool):
    import torch

    if not amp:
        return nullcontext()
    return torch.autocast(device_type=device, dtype=torch.float16 if device == "cuda"
                          else torch.bfloat16)


def _eval_step(model, x, num_classes: int, device: str, amp: bool):
    import torch

    model.eval()

    def step() -> None:
        with torch.inference_mode(), _autocast(device, amp):
            model(x)
    return step


def _train_step(model, x, num_classes: int, device: str, amp: bool):
    import torch
    from torch.nn import functional as F

    model.train()
    target = torch.randint(0, num_classes, (x.shape[0], *x.shape[-2:]), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
    scaler = torch.amp.GradScaler(device, enabled=amp and device == "cuda")

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with _autocast(device, amp):
            loss = F.cross_entropy(model(x), target, ignore_index=255)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    return step


def _time(step, *, iters: int, warmup: int, device: str) -> float:
    """Median wall-clock seconds of ``step`` over ``iters`` timed calls after ``warmup`` untimed
    ones. The median, not the mean, so a shared machine's occasional stalls do not dominate."""
    import statistics

    import torch

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        sync()
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
