"""`regseg diff`: resolution by run id / job id / run hash through MLflow, and what differs."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from reports.diff import RunNotFound, diff


def _log(client, exp_id, *, job_id, run_hash, params, tags, best):
    from mlflow.entities import Metric, Param

    run_id = client.create_run(exp_id, tags={"regseg.job_id": job_id, "regseg.run_hash": run_hash,
                                             "regseg.source": "regseg", **tags}).info.run_id
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()],
                     metrics=[Metric("best_mIoU", best, 0, 9), Metric("best_epoch", 9.0, 0, 9)])
    client.set_terminated(run_id, "FINISHED")
    return run_id


@pytest.fixture
def two_runs(store_uri):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store_uri)
    exp_a = client.create_experiment("regseg/decoder")
    exp_b = client.create_experiment("regseg/backbone")
    a = _log(client, exp_a, job_id="7", run_hash="abc123" + "0" * 58,
             params={"model_name": "exp43_decoder14", "lr": "0.05", "epochs": "500"},
             tags={"regseg.git_commit": "a" * 40, "regseg.provenance.gpu": "NVIDIA H200",
                   "regseg.provenance.torch": "2.4.0"}, best=75.5)
    b = _log(client, exp_b, job_id="8", run_hash="def456" + "0" * 58,
             params={"model_name": "exp43_decoder26", "lr": "0.05", "warmup_iters": "3000"},
             tags={"regseg.git_commit": "b" * 40, "regseg.provenance.gpu": "NVIDIA H200"},
             best=76.0)
    return store_uri, a, b


def test_diff_lists_only_what_differs(two_runs):
    uri, a, b = two_runs
    result = diff(a, b, tracking_uri=uri)
    assert result["a"]["run_id"] == a and result["a"]["resolved_as"] == "run id"
    assert result["params"] == [
        {"name": "epochs", "a": "500", "b": None},
        {"name": "model_name", "a": "exp43_decoder14", "b": "exp43_decoder26"},
        {"name": "warmup_iters", "a": None, "b": "3000"}]
    assert result["provenance"] == [
        {"name": "regseg.git_commit", "a": "a" * 40, "b": "b" * 40},
        {"name": "regseg.provenance.torch", "a": "2.4.0", "b": None}]
    best = next(m for m in result["metrics"] if m["name"] == "best_mIoU")
    assert (best["a"], best["b"], best["b_minus_a"]) == (75.5, 76.0, pytest.approx(0.5))


def test_references_resolve_as_job_ids_and_run_hash_prefixes(two_runs):
    uri, a, b = two_runs
    result = diff("7", "def456", tracking_uri=uri)
    assert (result["a"]["run_id"], result["a"]["resolved_as"]) == (a, "job id")
    assert (result["b"]["run_id"], result["b"]["resolved_as"]) == (b, "run hash")
    with pytest.raises(RunNotFound, match="no run has run id, job id or run hash 'nope'"):
        diff("nope", b, tracking_uri=uri)
    with pytest.raises(RunNotFound, match="not a run id"):
        diff("x' OR '1'='1", b, tracking_uri=uri)


def test_an_ambiguous_reference_lists_the_runs(two_runs):
    from mlflow.tracking import MlflowClient

    uri, a, b = two_runs
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("regseg/decoder").experiment_id
    c = _log(client, exp, job_id="9", run_hash="abc123" + "1" * 58, params={}, tags={}, best=1.0)
    with pytest.raises(RunNotFound, match=rf"run hash of 2 runs \((?=.*{a})(?=.*{c})"):
        diff("abc123", b, tracking_uri=uri)


def test_cli_table_and_json(two_runs):
    from regseg.cli import app

    uri, a, b = two_runs
    runner = CliRunner()
    res = runner.invoke(app, ["diff", a, "8", "--tracking-uri", uri, "--format", "json"],
                        catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["b"]["run_id"] == b
    res = runner.invoke(app, ["diff", "7", "8", "--tracking-uri", uri], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "config params that differ" in res.stdout and "exp43_decoder26" in res.stdout
    assert "(absent)" in res.stdout and "+0.5" not in res.stdout and "0.5000" in res.stdout
