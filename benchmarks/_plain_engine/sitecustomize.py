"""The plain eager engine, for benchmarks/bench_engine_epoch.py: with this folder first on
PYTHONPATH and $REGSEG_PLAIN_ENGINE=1, the engine's fast-path functions (regseg.engine.fastpath)
are replaced before the engine imports them by the plain eager baseline that `regseg benchmark
--baseline` times: a contiguous model and inputs, the for-loop SGD step, an unfolded eval copy.
Everything else (data, loss, schedule, logging) is the engine's own code."""

from __future__ import annotations

import os
import sys

if os.environ.get("REGSEG_PLAIN_ENGINE") == "1":
    import copy

    import torch

    import regseg.engine.fastpath as fastpath

    def prepare_for_training(model, device):
        return model.to(device=torch.device(device))

    def prepare_for_eval(model):
        plain = copy.deepcopy(model)
        plain.requires_grad_(False)
        return plain.eval()

    def to_model_input(images, device):
        return images.to(device, non_blocking=True).contiguous()

    def optimizer_options(device):
        return {"foreach": False}

    fastpath.MEMORY_FORMAT = torch.contiguous_format
    fastpath.prepare_for_training = prepare_for_training
    fastpath.prepare_for_eval = prepare_for_eval
    fastpath.to_model_input = to_model_input
    fastpath.optimizer_options = optimizer_options
    print("plain eager engine: regseg.engine.fastpath replaced", file=sys.stderr)
