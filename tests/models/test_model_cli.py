"""`regseg models` and `regseg benchmark` through the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from regseg.cli import app
from regseg.errors import ConfigError, UnknownNameError

runner = CliRunner()


def _json(args: list[str]):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_models_json_for_selected_models():
    rows = _json(["models", "--format", "json", "-m", "exp48_decoder26", "-m", "ddrnet23"])
    by_name = {r["name"]: r for r in rows}
    regseg = by_name["exp48_decoder26"]
    assert regseg["params"] == 3_334_951
    assert regseg["gflops"] == pytest.approx(39.08, rel=0.005)
    assert regseg["field_of_view"] == 3807
    assert regseg["dilation_rates"] == "(1,1)+(1,2)+4*(1,4)+7*(1,14)"
    assert by_name["ddrnet23"]["params"] == 20_148_819


def test_models_input_size_changes_gflops():
    full = _json(["models", "--format", "json", "-m", "exp48_decoder26"])[0]["gflops"]
    half = _json(["models", "--format", "json", "-m", "exp48_decoder26",
                  "--input-size", "512", "1024"])[0]["gflops"]
    assert half == pytest.approx(full / 4, rel=0.01)


def test_models_table_lists_columns():
    result = runner.invoke(app, ["models", "-m", "exp53_decoder29"])
    assert result.exit_code == 0, result.output
    assert "exp53_decoder29" in result.stdout and "6,131,579" in result.stdout
    assert "87.45" in result.stdout


def test_models_unknown_name_fails_before_counting():
    result = runner.invoke(app, ["models", "-m", "exp48_decoder99"])
    assert isinstance(result.exception, UnknownNameError)


@pytest.mark.slow
def test_models_json_lists_all_99_combinations_and_ddrnet():
    rows = _json(["models", "--format", "json"])
    names = {r["name"] for r in rows}
    assert len(rows) == 101
    assert sum("_" in n for n in names) == 99
    assert {"ddrnet23", "ddrnet23slim"} <= names
    assert all(r["params"] > 0 and r["gflops"] > 0 for r in rows)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_benchmark_json_reports_throughput(mode):
    rows = _json(["benchmark", "--model", "exp48_decoder26", "--mode", mode, "--input-size",
                  "64", "64", "--batch", "2", "--iters", "2", "--warmup", "1", "--format", "json"])
    row = rows[0]
    assert row["mode"] == mode and row["batch"] == 2 and (row["height"], row["width"]) == (64, 64)
    assert row["path"] == "engine" and row["channels_last"] is True and row["amp"] is False
    assert row["images_per_s"] == pytest.approx(2 / row["seconds_per_iter"], rel=0.01)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_benchmark_baseline_and_amp_flags(mode):
    row = _json(["benchmark", "--mode", mode, "--input-size", "32", "64", "--batch", "2",
                 "--iters", "1", "--warmup", "0", "--baseline", "--amp", "--format", "json"])[0]
    assert row["path"] == "eager" and row["channels_last"] is False and row["fused"] is False
    assert row["amp"] is True


def test_benchmark_engine_path_calls_the_engines_preparation(monkeypatch):
    """The benchmark must time the functions the engine uses, not a copy of them."""
    import regseg.engine.fastpath as fastpath

    calls = []
    for name in ("prepare_for_eval", "prepare_for_training", "train_step", "eval_logits"):
        original = getattr(fastpath, name)

        def spy(*args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)
        monkeypatch.setattr(fastpath, name, spy)
    for mode in ("eval", "train"):
        _json(["benchmark", "--mode", mode, "--input-size", "32", "32", "--batch", "2",
               "--iters", "1", "--warmup", "0", "--format", "json"])
    assert {"prepare_for_eval", "eval_logits", "prepare_for_training", "train_step"} <= set(calls)


def test_benchmark_rejects_bad_mode():
    result = runner.invoke(app, ["benchmark", "--mode", "fast", "--iters", "1"])
    assert isinstance(result.exception, ConfigError)
    assert "mode" in str(result.exception) and "'fast'" in str(result.exception)
