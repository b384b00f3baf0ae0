"""Fixtures of the prediction tests: one tiny training run (with the sample-images callback)
whose best weights predict diverse classes on the shared synthetic dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

# exp48_decoder26 at 64x128, 16 train images in batches of 2, evaluated after each of 2 epochs.
# No class-uniform sampling: it would write a centroid cache into the shared dataset.
TINY = dict(
    model_name="exp48_decoder26", dataset_name="synthetic", epochs=2, batch_size=2,
    train_min_size=64, train_max_size=96, train_crop_size=(64, 128), val_input_size=64,
    val_label_size=64, num_workers=0, warmup_iters=2, eval_every=1, eval_last_k_epochs=0,
    save_every_k_epochs=0, mixed_precision=False, device="cpu", aug_mode="custom3",
    class_uniform_pct=0.0, max_eval=8, lr=0.02,
)


@dataclass
class TrainedRun:
    cfg: object
    out_dir: Path
    best: Path
    summary: dict
    samples: object  # the SampleImagesCallback that ran in it
    best_calls: int


@pytest.fixture(scope="session")
def trained_run(synthetic_dataset, tmp_path_factory) -> TrainedRun:
    import torch

    from regseg.config import TrainConfig
    from regseg.engine import train
    from regseg.predict.samples import SampleImagesCallback

    class CountBest:
        calls = 0

        def on_checkpoint(self, kind, path):
            CountBest.calls += kind == "best"

    cfg = TrainConfig(dataset_dir=str(synthetic_dataset), **TINY)
    out = tmp_path_factory.mktemp("predict_run")
    samples = SampleImagesCallback.for_config(cfg, out, count=3)
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared 2-core machine: one thread is fastest
    try:
        summary = train(cfg, out_dir=out, callbacks=[samples, CountBest()], progress=False)
    finally:
        torch.set_num_threads(before)
    return TrainedRun(cfg, out, out / "checkpoints" / "best.pt", summary, samples, CountBest.calls)


@pytest.fixture(autouse=True)
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
