"""`regseg report` end to end on real MLflow stores: the paper's numbers, determinism, seeds."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from reports.report import build_report
from reports.stats import Summary, welch_p

runner = CliRunner()


def _cli(*args):
    from regseg.cli import app

    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result


def log_run(client, experiment: str, *, group: str, model: str, seed: int, curve: list[float],
            label: str | None = None, params: dict | None = None, facts=True) -> str:
    """A run laid out as the training side logs it (docs/CONTRACTS.md): mIoU per evaluated epoch."""
    from mlflow.entities import Metric, Param

    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
    tags = {"regseg.source": "regseg", "regseg.group": group, "regseg.model": model,
            "regseg.seed": str(seed),
            "regseg.config_label": label or f"model_name={model}"}
    run_id = client.create_run(exp_id, tags=tags).info.run_id
    ps = {"model_name": model, "seed": str(seed), **(params or {})}
    if facts:
        ps.update(model_params="3368023", model_gflops="35.88", model_field_of_view="3743")
    metrics = []
    for step, v in enumerate(curve):
        metrics += [Metric("mIoU", v, 1000 + step, step),
                    Metric("mIoU_reduced", v + 1, 1000 + step, step)]
    best = max(curve)
    metrics += [Metric("best_mIoU", best, 5000, len(curve) - 1),
                Metric("best_mIoU_reduced", best + 1, 5000, len(curve) - 1),
                Metric("best_epoch", float(curve.index(best)), 5000, len(curve) - 1)]
    client.log_batch(run_id, metrics=metrics, params=[Param(k, v) for k, v in ps.items()])
    client.set_terminated(run_id, "FINISHED")
    return run_id


def test_report_from_imported_samples_has_the_paper_numbers(imported_store, tmp_path):
    uri, results = imported_store
    out = tmp_path / "AblationStudies.md"
    res = _cli("report", "--tracking-uri", uri, "--out", str(out), "--plots",
               str(tmp_path / "plots"))
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "curves_ddrnet_comparison.png", "curves_decoder.png", "miou_vs_gflops.png",
        "miou_vs_gflops.svg", "miou_vs_params.png", "miou_vs_params.svg"]
    md = out.read_text()
    decoder_row = next(row for row in md.splitlines() if row.startswith("| decoder14"))
    assert "75.75 (n=1)" in decoder_row and "sum+3x3 conv" in decoder_row
    assert "| 3.37M" in decoder_row and "35.88" in decoder_row  # facts from regseg.models
    for value in ("77.84", "78.07", "77.53", "77.81 ± 0.27 (n=3)"):
        assert value in md
    for r in results:  # every row traces to its MLflow runs
        assert f"`{r.run_id}`" in md


def test_report_is_byte_identical_across_generations(imported_store, tmp_path):
    uri, _ = imported_store
    a, b = tmp_path / "a.md", tmp_path / "b.md"
    assert _cli("report", "--tracking-uri", uri, "--out", str(a)).exit_code == 0
    assert _cli("report", "--tracking-uri", uri, "--out", str(b)).exit_code == 0
    assert a.read_bytes() == b.read_bytes()


def test_json_and_csv_formats(imported_store):
    uri, _ = imported_store
    res = _cli("report", "--tracking-uri", uri, "--format", "json", "--metric", "miou_reduced")
    rows = json.loads(res.stdout)
    dec = next(r for r in rows if r["key"] == "decoder14")
    assert round(dec["mean"], 2) == 75.75 and dec["n"] == 1 and dec["metric"] == "miou_reduced"
    res = _cli("report", "--tracking-uri", uri, "--format", "csv", "--stat", "last")
    header, *lines = res.stdout.splitlines()
    assert header.startswith("group,table,key") and len(lines) == 2
    bad = _cli("report", "--tracking-uri", uri, "--format", "xml")
    assert bad.exit_code == 2  # bad usage, rejected before anything is read or written
    assert "--format" in bad.output and "'xml'" in bad.output


def test_unknown_experiment_is_a_readable_error(imported_store):
    uri, _ = imported_store
    res = runner.invoke(__import__("regseg.cli", fromlist=["app"]).app,
                        ["report", "--tracking-uri", uri, "--experiment", "nope"])
    assert res.exit_code != 0
    assert "unknown experiment 'nope'" in str(res.exception)


def test_seeds_give_mean_std_delta_and_welch_p(store_uri, tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store_uri)
    curves = {("exp43_decoder14", 0): [60.0, 70.0, 71.0],
              ("exp43_decoder14", 1): [61.0, 72.0, 71.5],
              ("exp43_decoder26", 0): [62.0, 72.5, 72.0],
              ("exp43_decoder26", 1): [63.0, 73.5, 73.0],
              ("exp43_decoder26", 2): [63.0, 73.0, 72.0]}
    for (model, seed), curve in curves.items():
        log_run(client, "regseg/decoder", group="decoder", model=model, seed=seed, curve=curve)
    for seed, curve in enumerate([[10.0, 20.0], [12.0, 22.0]]):
        log_run(client, "regseg/smoke", group="smoke", model="exp48_decoder26", seed=seed,
                curve=curve, label="model_name=exp48_decoder26,lr=0.01", facts=False)
    rep = build_report(tracking_uri=store_uri, metric="miou")
    md = rep.markdown
    # decoder14: best-epoch values 71, 72 -> mean 71.50, std 0.71; decoder26: 72.5, 73.5, 73.0
    assert "71.50 ± 0.71 (n=2)" in md and "73.00 ± 0.50 (n=3)" in md
    rows = {r["key"]: r for r in rep.rows}
    p = welch_p([72.5, 73.5, 73.0], [71.0, 72.0])
    from scipy.stats import ttest_ind
    assert p == pytest.approx(ttest_ind([72.5, 73.5, 73.0], [71.0, 72.0], equal_var=False).pvalue)
    assert (rows["decoder26"]["delta"] == pytest.approx(1.5)
            and rows["decoder26"]["p_value"] == pytest.approx(p))
    assert rows["decoder14"]["baseline"] and rows["decoder14"]["delta"] is None
    assert rows["decoder26"]["last_mean"] == pytest.approx((72.0 + 73.0 + 72.0) / 3)
    # the decoder table lists decoder26 first (higher mean), with "+1.50" and the p-value
    line26 = next(row for row in md.splitlines() if row.startswith("| decoder26"))
    assert "+1.50" in line26 and f"{p:.3f}" in line26
    # an unknown group still gets a generic table keyed by the config label
    assert "## smoke" in md and "model_name=exp48_decoder26,lr=0.01" in md
    assert "21.00 ± 1.41 (n=2)" in md
    # mIoU^R and the last epoch are flags
    rep_r = build_report(tracking_uri=store_uri, metric="miou_reduced", stat="last")
    rows_r = {r["key"]: r for r in rep_r.rows}
    assert rows_r["decoder14"]["mean"] == pytest.approx((72.0 + 72.5) / 2)


def test_summary_cells_and_degenerate_p_values():
    assert Summary.of([75.75]).cell() == "75.75 (n=1)"
    assert Summary.of([1.0, 2.0, None, math.nan]).cell() == "1.50 ± 0.71 (n=2)"
    assert Summary.of([]).cell() == "—"
    assert welch_p([1.0], [1.0, 2.0]) is None
    assert welch_p([1.0, 1.0], [1.0, 1.0]) is None  # undefined: both constant
