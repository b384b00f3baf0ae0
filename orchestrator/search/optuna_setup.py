"""Optuna samplers and pruners built from their names in the spec (``search.sampler`` /
``search.pruner``) or on the command line. Imported only by the search driver."""

from __future__ import annotations

from typing import Any, Sequence

from orchestrator.errors import SpecError
from orchestrator.specs.sections import PRUNERS, SAMPLERS


def make_sampler(name: str, *, seed: int | None, space: Sequence[Any]) -> Any:
    """``seed`` is the spec's seed plus the number of trials so far (see ``Search``)."""
    import optuna

    if name not in SAMPLERS:
        raise SpecError(f"--sampler: expected one of {', '.join(SAMPLERS)}, got {name!r}")
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        grid = {p.name: p.grid_values() for p in space}
        floats = [n for n, values in grid.items() if values is None]
        if floats:
            raise SpecError(f"--sampler grid: needs finite axes (int or categorical), got float "
                            f"range(s) {', '.join(floats)}")
        return optuna.samplers.GridSampler(grid, seed=seed)
    if not any(p.type in ("float", "int") for p in space):
        raise SpecError("--sampler cmaes: needs at least one float or int parameter, got only "
                        "categorical ones")
    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def grid_size(space: Sequence[Any]) -> int:
    size = 1
    for p in space:
        size *= len(p.grid_values() or ())
    return size


def make_pruner(name: str, options: dict, *, epochs: int) -> Any:
    """``median``: prune below the median of earlier trials at the same epoch (after
    ``startup_trials`` finished trials and ``warmup_epochs`` epochs); ``hyperband``: successive
    halving brackets from ``min_epochs`` to the run's ``epochs``; ``none``: never prune."""
    import optuna

    if name not in PRUNERS:
        raise SpecError(f"--pruner: expected one of {', '.join(PRUNERS)}, got {name!r}")
    options = {**PRUNERS[name], **options}
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=options["startup_trials"],
                                           n_warmup_steps=options["warmup_epochs"])
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=options["min_epochs"],
                                              max_resource=max(epochs, options["min_epochs"]),
                                              reduction_factor=options["reduction_factor"])
    return optuna.pruners.NopPruner()
