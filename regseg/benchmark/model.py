"""Steady-state throughput of zoo models (images/s), on the engine's own code path.

``path="engine"`` (the default) times exactly what a training run executes:
:func:`regseg.engine.fastpath.prepare_for_training` /
:func:`~regseg.engine.fastpath.prepare_for_eval`
to prepare the model, :func:`~regseg.engine.fastpath.to_model_input` for the batch, then
:func:`~regseg.engine.fastpath.train_step` (the engine's loss, SGD with its fused step and the
per-iteration schedule) or :func:`~regseg.engine.fastpath.eval_logits` under inference mode.

``path="eager"`` is the plain baseline the speed-ups are measured against: a contiguous model,
no folding, ``torch.no_grad`` evaluation, the for-loop SGD step and a ``loss.item()`` host sync
per iteration (what the engine did before).

Timing starts after ``warmup`` iterations; CUDA is synchronised around each timed iteration;
the median is reported. Inputs are random (seeded).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from regseg.errors import ConfigError

MODES = ("eval", "train")
DEVICES = ("cpu", "cuda")
PATHS = ("engine", "eager")

# Autocast: float16 on CUDA is the paper's speed protocol (mixed precision), so it is on there;
# CPU bfloat16 changes numerics more than the reference ever did, so it is opt-in.
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
    ``images_per_s`` = batch / seconds_per_iter. ``channels_last`` / ``fused`` describe the
    path (engine: both on; eager: both off)."""

    model: str
    mode: str
    path: str
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
              amp: bool | None = None, path: str = "engine", num_classes: int = 19,
              seed: int = 0) -> BenchmarkResult:
    """Measure ``model_name`` (a ``regseg.models`` name) on ``path`` (``engine`` | ``eager``, see
    the module docstring). ``input_size``/``batch`` default to ``DEFAULT_WORKLOAD[(device,
    mode)]``; ``amp``: autocast (float16 on CUDA, bfloat16 on CPU), None = ``AMP_DEFAULT``."""
    import torch

    _check("mode", mode, MODES)
    _check("device", device, DEVICES)
    _check("path", path, PATHS)
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: expected an available CUDA device, got 'cuda' but "
                          "torch.cuda.is_available() is False")
    default_size, default_batch = DEFAULT_WORKLOAD[(device, mode)]
    h, w = tuple(input_size) if input_size is not None else default_size
    batch = default_batch if batch is None else batch
    amp = AMP_DEFAULT[device] if amp is None else amp
    for name, value, minimum in (("batch", batch, 1), ("iters", iters, 1), ("warmup", warmup, 0),
                                 ("input_size[0]", h, 16), ("input_size[1]", w, 16)):
        _positive(name, value, minimum)
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
    amp_name = None if not amp else ("fp16" if device == "cuda" else "bf16")
    with torch.random.fork_rng(devices=[]):  # the caller's RNG streams stay untouched
        torch.manual_seed(seed)
        step = _make_step(model_name, mode=mode, path=path, device=torch.device(device),
                          amp=amp_name, shape=(batch, 3, h, w), num_classes=num_classes)
    seconds = _time(step, iters=iters, warmup=warmup, device=device)
    engine = path == "engine"
    return BenchmarkResult(model=model_name, mode=mode, path=path, device=device, batch=batch,
                           height=h, width=w, amp=amp, channels_last=engine, fused=engine,
                           iters=iters, warmup=warmup, seconds_per_iter=seconds,
                           images_per_s=batch / seconds)


def _make_step(model_name: str, *, mode: str, path: str, device, amp: str | None,
               shape: tuple[int, int, int, int], num_classes: int):
    """A no-argument callable running one iteration of ``mode`` on ``path``."""
    import torch

    from regseg.models import build_model

    model = build_model(model_name, num_classes=num_classes)
    images = torch.randn(*shape)
    if mode == "eval":
        return (_engine_eval if path == "engine" else _eager_eval)(model, images, device, amp)
    labels = torch.randint(0, num_classes, (shape[0], *shape[-2:]))
    return (_engine_train if path == "engine" else _eager_train)(model, images, labels, device, amp)


def _engine_eval(model, images, device, amp):
    import torch

    from regseg.engine.fastpath import eval_logits, prepare_for_eval, to_model_input

    prepared = prepare_for_eval(model.to(device))

    def step() -> None:
        with torch.inference_mode():
            eval_logits(prepared, to_model_input(images, device), device=device, amp=amp)
    return step


def _eager_eval(model, images, device, amp):
    import torch

    from regseg.engine.devices import autocast_context

    model = model.to(device).eval()

    def step() -> None:
        with torch.no_grad(), autocast_context(device, amp):
            model(images.to(device))
    return step


def _train_parts(model, device, amp, options: dict):
    """Optimiser, scheduler, scaler and loss as the engine builds them (ablation defaults)."""
    import torch

    from regseg.losses import build_loss
    from regseg.optim import build_optimizer
    from regseg.schedules import build_scheduler

    optimizer = build_optimizer(model, lr=0.05, momentum=0.9, weight_decay=1e-4, **options)
    scheduler = build_scheduler(optimizer, "poly", total_iters=10**6, warmup_iters=3000,
                                warmup_factor=0.1, poly_power=0.9, exp_beta=0.1)
    scaler = torch.amp.GradScaler(device.type, enabled=(amp == "fp16"))
    loss_fn = build_loss("cross_entropy", ignore_index=255, batch_size=1, crop_size=(1, 1))
    return optimizer, scheduler, scaler, loss_fn


def _engine_train(model, images, labels, device, amp):
    from regseg.engine.fastpath import (
        optimizer_options,
        prepare_for_training,
        to_model_input,
        train_step,
    )

    model = prepare_for_training(model, device).train()
    optimizer, scheduler, scaler, loss_fn = _train_parts(model, device, amp,
                                                         optimizer_options(device))

    def step() -> None:
        batch = to_model_input(images, device)
        target = labels.to(device, non_blocking=True).long()
        train_step(model, batch, target, loss_fn=loss_fn, optimizer=optimizer, scaler=scaler,
                   device=device, amp=amp)
        scheduler.step()
    return step


def _eager_train(model, images, labels, device, amp):
    import math

    from regseg.engine.devices import autocast_context

    model = model.to(device).train()
    optimizer, scheduler, scaler, loss_fn = _train_parts(model, device, amp, {})

    def step() -> None:
        x, target = images.to(device), labels.to(device).long()
        with autocast_context(device, amp):
            loss = loss_fn(model(x), target)
        if not math.isfinite(loss.item()):  # the per-iteration host sync of the old loop
            raise RuntimeError("non-finite loss")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
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
