"""The spec's optional ``search:`` section and the adaptive form of ``seeds:`` (docs/SPECS.md).

Shape checks raise SpecError through ``Where.fail`` (file, line, key path, expected, got), like
every other spec key; the checked sections become frozen records on the ``Spec``:
``SearchSection`` (read by orchestrator/search) and ``SeedPolicy`` (stored on the sweep, read by
orchestrator/arms_policy.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from orchestrator.specs.source import KeyPath
from orchestrator.specs.validation import MODEL_PARTS, Where, describe, suggest

#: objective metric -> the queue-row column holding a job's value of it
OBJECTIVE_METRICS = {"best_mIoU": "best_miou", "best_mIoU_reduced": "best_miou_reduced"}
DIRECTIONS = ("maximize", "minimize")
PARAM_TYPES = ("float", "int", "categorical")
SAMPLERS = ("tpe", "random", "grid", "cmaes")
#: pruner name -> its options and their defaults
PRUNERS: dict[str, dict[str, int]] = {
    "median": {"startup_trials": 2, "warmup_epochs": 0},
    "hyperband": {"min_epochs": 1, "reduction_factor": 3},
    "none": {},
}
SEARCH_KEYS = ("space", "metric", "direction", "sampler", "pruner", "trials", "parallel")
STOP_WHEN = ("worse", "decided")
SEED_POLICY_KEYS = ("max", "min", "stop_when", "margin", "alpha", "metric", "baseline")


@dataclass(frozen=True)
class SearchParam:
    """One searched axis: a TrainConfig field or ``body`` / ``decoder``."""

    name: str
    type: str  # float | int | categorical
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: int | None = None  # int only
    choices: tuple = ()

    def suggest(self, trial: Any) -> Any:
        if self.type == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log)
        if self.type == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log,
                                     step=self.step or 1)
        return trial.suggest_categorical(self.name, list(self.choices))

    def grid_values(self) -> list | None:
        """Every value of a finite axis (for the grid sampler); None for a float range."""
        if self.type == "categorical":
            return list(self.choices)
        if self.type == "int":
            return list(range(int(self.low), int(self.high) + 1, self.step or 1))
        return None


@dataclass(frozen=True)
class SearchSection:
    space: tuple = ()  # of SearchParam
    metric: str = "best_mIoU_reduced"
    direction: str = "maximize"
    sampler: str = "tpe"
    seed: int | None = 0
    pruner: str = "median"
    pruner_options: dict = field(default_factory=dict)
    trials: int = 8
    parallel: int = 2


@dataclass(frozen=True)
class SeedPolicy:
    """``seeds: {max, min, stop_when, margin, alpha, metric, baseline}``."""

    max: int
    min: int = 2
    stop_when: str = "worse"
    margin: float = 0.0
    alpha: float = 0.05
    metric: str = "best_mIoU_reduced"
    baseline: dict | None = None  # a partial point; None: the spec's first grid point

    def record(self, runs: list, fail: Any) -> str:
        """The policy as stored on the sweep (JSON), with the baseline arm's label resolved
        from ``runs``; ``fail(path, message)`` builds the SpecError for a baseline that
        matches no arm or several."""
        labels = list(dict.fromkeys(r.label for r in runs))
        if self.baseline is None:
            baseline = labels[0]
        else:
            found = list(dict.fromkeys(r.label for r in runs if _matches(self.baseline, r.config)))
            if len(found) != 1:
                raise fail(("seeds", "baseline"), f"expected a point matching exactly one arm, "
                                                  f"got {len(found)} matches among {labels}")
            baseline = found[0]
        return json.dumps({"max": self.max, "min": self.min, "stop_when": self.stop_when,
                           "margin": self.margin, "alpha": self.alpha, "metric": self.metric,
                           "baseline": baseline}, sort_keys=True)


def _matches(pattern: dict, config: Any) -> bool:
    values = config.model_dump()
    body, _, decoder = str(values.get("model_name", "")).partition("_")
    values.update({"body": body, "decoder": decoder})
    return all(values.get(k) == v for k, v in pattern.items())


# ----------------------------------------------------------------------------- shape checks
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _known_keys(where: Where, path: KeyPath, value: Any, keys: tuple) -> None:
    if not isinstance(value, dict):
        raise where.fail(path, f"expected a mapping, got {describe(value)}")
    for key in value:
        if key not in keys:
            raise where.fail(path + (key,), f"unknown key{suggest(str(key), keys)}; expected one "
                                            f"of {', '.join(keys)}")


def _count(where: Where, path: KeyPath, value: Any, *, low: int) -> None:
    if not _is_int(value) or value < low:
        raise where.fail(path, f"expected an integer >= {low}, got {describe(value)}")


def _choice(where: Where, path: KeyPath, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise where.fail(path, f"expected one of {', '.join(choices)}, got {describe(value)}"
                               f"{suggest(str(value), choices)}")


def check_seed_policy(where: Where, path: KeyPath, value: dict) -> None:
    _known_keys(where, path, value, SEED_POLICY_KEYS)
    if "max" not in value:
        raise where.fail(path, "expected 'max' (the most seeds an arm may run), got none")
    _count(where, path + ("max",), value["max"], low=2)
    low = value.get("min", 2)
    _count(where, path + ("min",), low, low=2)
    if low > value["max"]:
        raise where.fail(path + ("min",), f"expected min <= max ({value['max']}), got {low}")
    _choice(where, path + ("stop_when",), value.get("stop_when", "worse"), STOP_WHEN)
    margin = value.get("margin", 0.0)
    if not _is_number(margin) or margin < 0:
        raise where.fail(path + ("margin",), f"expected a number >= 0 (mIoU points), got "
                                             f"{describe(margin)}")
    alpha = value.get("alpha", 0.05)
    if not _is_number(alpha) or not 0 < alpha < 0.5:
        raise where.fail(path + ("alpha",), f"expected a number in (0, 0.5), got {describe(alpha)}")
    _choice(where, path + ("metric",), value.get("metric", "best_mIoU_reduced"),
            tuple(OBJECTIVE_METRICS))
    if "baseline" in value and (not isinstance(value["baseline"], dict) or not value["baseline"]):
        raise where.fail(path + ("baseline",), f"expected a non-empty mapping (a point), got "
                                               f"{describe(value['baseline'])}")


def seed_policy(value: dict) -> SeedPolicy:
    return SeedPolicy(max=value["max"], min=value.get("min", 2),
                      stop_when=value.get("stop_when", "worse"),
                      margin=float(value.get("margin", 0.0)), alpha=float(value.get("alpha", 0.05)),
                      metric=value.get("metric", "best_mIoU_reduced"),
                      baseline=dict(value["baseline"]) if "baseline" in value else None)


def check_search(where: Where, path: KeyPath, value: Any) -> None:
    _known_keys(where, path, value, SEARCH_KEYS)
    space = value.get("space", {})
    if not isinstance(space, dict):
        raise where.fail(path + ("space",), f"expected a mapping name -> parameter, got "
                                            f"{describe(space)}")
    for name, param in space.items():
        _check_param(where, path + ("space", name), name, param)
    _choice(where, path + ("metric",), value.get("metric", "best_mIoU_reduced"),
            tuple(OBJECTIVE_METRICS))
    _choice(where, path + ("direction",), value.get("direction", "maximize"), DIRECTIONS)
    _check_named(where, path + ("sampler",), value.get("sampler", "tpe"),
                 {name: {"seed": 0} for name in SAMPLERS}, allow_none_option="seed")
    _check_named(where, path + ("pruner",), value.get("pruner", "median"), PRUNERS)
    for key in ("trials", "parallel"):
        if key in value:
            _count(where, path + (key,), value[key], low=1)
    sampler = _named(value.get("sampler", "tpe"))[0]
    if sampler == "grid":
        for name, param in space.items():
            if param.get("type") == "float":
                raise where.fail(path + ("space", name, "type"), "the grid sampler needs finite "
                                 "axes (int or categorical), got a float range")
    if sampler == "cmaes" and space and all(p.get("type") == "categorical" for p in space.values()):
        raise where.fail(path + ("sampler",), "cmaes needs at least one float or int parameter, "
                                              "got only categorical ones")


def _named(value: Any) -> tuple[Any, dict]:
    if isinstance(value, dict):
        return value.get("name"), {k: v for k, v in value.items() if k != "name"}
    return value, {}


def _check_named(where: Where, path: KeyPath, value: Any, table: dict, *,
                 allow_none_option: str | None = None) -> None:
    """``name`` or ``{name: ..., option: int, ...}`` with options from ``table[name]``."""
    if not isinstance(value, (str, dict)):
        raise where.fail(path, f"expected a name or a mapping with 'name', got {describe(value)}")
    name, options = _named(value)
    _choice(where, path + (("name",) if isinstance(value, dict) else ()), name, tuple(table))
    for key, v in options.items():
        if key not in table[name]:
            raise where.fail(path + (key,), f"unknown option{suggest(str(key), table[name])}; "
                                            f"{name} takes {', '.join(table[name]) or 'none'}")
        if v is None and key == allow_none_option:
            continue
        _count(where, path + (key,), v, low=0)


def _check_param(where: Where, path: KeyPath, name: str, param: Any) -> None:
    if name == "seed":
        raise where.fail(path, "seed is not searched; use the top-level 'seeds' key")
    keys = {"float": ("type", "low", "high", "log"), "int": ("type", "low", "high", "log", "step"),
            "categorical": ("type", "choices")}
    if not isinstance(param, dict) or "type" not in param:
        raise where.fail(path, f"expected a mapping with 'type' ({', '.join(PARAM_TYPES)}), got "
                               f"{describe(param)}")
    _choice(where, path + ("type",), param["type"], PARAM_TYPES)
    kind = param["type"]
    _known_keys(where, path, param, keys[kind])
    if kind == "categorical":
        choices = param.get("choices")
        if not isinstance(choices, list) or not choices:
            raise where.fail(path + ("choices",), f"expected a non-empty list, got "
                                                  f"{describe(choices)}")
        for i, c in enumerate(choices):
            if not isinstance(c, (str, int, float, bool)) or c in choices[:i]:
                raise where.fail(path + ("choices", i), f"expected distinct scalars, got "
                                                        f"{describe(c)}")
        if name in MODEL_PARTS:
            _check_model_parts(where, path + ("choices",), name, choices)
        return
    number = _is_int if kind == "int" else _is_number
    for key in ("low", "high"):
        if not number(param.get(key)):
            raise where.fail(path + (key,),
                             f"expected {'an integer' if kind == 'int' else 'a number'}"
                             f", got {describe(param.get(key))}")
    if not param["low"] < param["high"]:
        raise where.fail(path + ("high",), f"expected high > low ({param['low']}), got "
                                           f"{param['high']}")
    if not isinstance(param.get("log", False), bool):
        raise where.fail(path + ("log",), f"expected true or false, got {describe(param['log'])}")
    if param.get("log") and param["low"] <= 0:
        raise where.fail(path + ("low",), f"expected low > 0 for a log scale, got {param['low']}")
    if "step" in param:
        _count(where, path + ("step",), param["step"], low=1)
        if param.get("log"):
            raise where.fail(path + ("step",), "expected no step on a log scale, got one")


def _check_model_parts(where: Where, path: KeyPath, name: str, choices: list) -> None:
    from regseg.models import list_bodies, list_decoders

    known = list(list_bodies() if name == "body" else list_decoders())
    for i, c in enumerate(choices):
        if c not in known:
            raise where.fail(path + (i,), f"unknown {name} {c!r}{suggest(str(c), known)}; "
                                          f"expected one of {', '.join(known)}")


def search_section(value: dict) -> SearchSection:
    sampler, sampler_options = _named(value.get("sampler", "tpe"))
    pruner, pruner_options = _named(value.get("pruner", "median"))
    space = tuple(SearchParam(name=n, type=p["type"], low=p.get("low"), high=p.get("high"),
                              log=bool(p.get("log", False)), step=p.get("step"),
                              choices=tuple(p.get("choices", ())))
                  for n, p in value.get("space", {}).items())
    return SearchSection(space=space, metric=value.get("metric", "best_mIoU_reduced"),
                         direction=value.get("direction", "maximize"), sampler=sampler,
                         seed=sampler_options.get("seed", 0), pruner=pruner,
                         pruner_options={**PRUNERS[pruner], **pruner_options},
                         trials=value.get("trials", 8), parallel=value.get("parallel", 2))
