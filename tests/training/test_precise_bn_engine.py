"""Precise BN through the engine: a real one-epoch run with ``bn_precise_stats`` enabled ends
with BN running statistics that are the average of per-batch statistics over the next
``bn_precise_num_samples // batch_size`` training batches (recomputed here, independently, with
forward hooks on the trained weights of a plain run), and that differ from the plain run's
momentum-averaged ones. Training itself is untouched: every other tensor equals the plain run's.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

PRECISE_SAMPLES = 6  # 3 batches of 2
STAT_KEYS = ("running_mean", "running_var")


def _last_model(out_dir) -> dict[str, torch.Tensor]:
    return torch.load(out_dir / "checkpoints" / "last.pt", map_location="cpu",
                      weights_only=True)["model"]


def _precise_batches(cfg) -> list[torch.Tensor]:
    """The images precise BN sees: the epoch-0 loader reseeded as the engine does, one full
    pass (the training epoch), then the first batches of the next pass."""
    from regseg.data import build_loaders
    from regseg.engine.setup import seed_epoch, seed_everything

    seed_everything(cfg.seed)
    loader, _ = build_loaders(cfg)
    seed_epoch(cfg.seed, 0, loader)
    for _batch in loader:
        pass
    n = PRECISE_SAMPLES // cfg.batch_size
    return [images for images, _labels in itertools.islice(loader, n)]


@torch.no_grad()
def _batch_statistics(cfg, weights: dict, batches: list) -> dict[str, torch.Tensor]:
    """Per BN layer: the mean over ``batches`` of each batch's per-channel mean and unbiased
    variance of the layer's input (train mode: each layer sees batch-normalised inputs)."""
    from regseg.engine.fastpath import to_model_input
    from regseg.models import build_model

    model = build_model(cfg.model_name, num_classes=cfg.num_classes)
    model.load_state_dict(weights)
    model.train()
    sums: dict[str, list[torch.Tensor]] = {}

    def hook(name):
        def record(_module, inputs):
            x = inputs[0].double()
            mean = x.mean(dim=(0, 2, 3))
            var = x.var(dim=(0, 2, 3), unbiased=True)
            sums.setdefault(f"{name}.running_mean", []).append(mean)
            sums.setdefault(f"{name}.running_var", []).append(var)
        return record

    for name, module in model.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            module.register_forward_pre_hook(hook(name))
    for images in batches:
        model(to_model_input(images, "cpu"))
    return {key: torch.stack(values).mean(dim=0) for key, values in sums.items()}


@pytest.mark.slow
def test_precise_bn_replaces_the_running_stats_after_the_epoch(tiny_config, tmp_path):
    from regseg.engine import train

    cfg = tiny_config.with_overrides(epochs=1, save_every_k_epochs=0)
    precise_cfg = cfg.with_overrides(bn_precise_stats=True,
                                     bn_precise_num_samples=PRECISE_SAMPLES)
    train(cfg, out_dir=tmp_path / "plain", progress=False)
    train(precise_cfg, out_dir=tmp_path / "precise", progress=False)
    plain, precise = _last_model(tmp_path / "plain"), _last_model(tmp_path / "precise")

    stats = sorted(k for k in plain if k.endswith(STAT_KEYS))
    assert len(stats) >= 20  # every BN layer of the model has a mean and a variance
    others = [k for k in plain if k not in stats and not k.endswith("num_batches_tracked")]
    unequal = [k for k in others if not torch.equal(plain[k], precise[k])]
    assert not unequal, f"precise BN changed trained tensors: {unequal[:5]}"

    expected = _batch_statistics(cfg, plain, _precise_batches(cfg))
    assert sorted(expected) == stats
    for key in stats:
        got, want = precise[key].double(), expected[key]
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-6), (
            key, float((got - want).abs().max()))
    differing = [k for k in stats if not torch.allclose(plain[k].double(), expected[k],
                                                        rtol=1e-2, atol=1e-4)]
    assert len(differing) >= len(stats) // 2, (
        "the plain run's running stats should differ from the precise ones", differing)
