"""import-logs into a real MLflow store (SQLite in tmp): layout, values, idempotency, atomicity."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from reports.errors import LogFormatError
from reports.import_logs import DIRECTORY_GROUPS, import_logs, resolve_group

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy_logs"
EXP43 = LEGACY / "cityscapes_exp43_decoder14_500_epochs_fair_log.txt"
DDRNET = LEGACY / "cityscapes_ddrnet23_1000_epochs_log.txt"

HEADERS = Path(__file__).resolve().parents[1] / "data" / "reference_headers"


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _runs(uri):
    """The imported runs (each configuration's parent run, its arm, is not one of them)."""
    client = _client(uri)
    exps = client.search_experiments()
    runs = client.search_runs([e.experiment_id for e in exps], max_results=1000)
    return [r for r in runs if r.data.tags.get("regseg.arm_parent") != "true"]


def test_samples_become_one_mlflow_run_per_reference_run(imported_store):
    uri, results = imported_store
    assert [(r.file, r.run, r.status) for r in results] == [
        (DDRNET.name, 1, "imported"), (DDRNET.name, 2, "imported"), (DDRNET.name, 3, "imported"),
        (EXP43.name, 1, "imported")]
    runs = {(r.data.tags["regseg.reference_file"], r.data.tags["regseg.reference_run"]): r
            for r in _runs(uri)}
    assert len(runs) == 4
    exp43 = runs[(EXP43.name, "1")]
    tags, params, metrics = exp43.data.tags, exp43.data.params, exp43.data.metrics
    assert tags["regseg.source"] == "reference"
    assert tags["regseg.group"] == "decoder" and tags["regseg.model"] == "exp43_decoder14"
    assert tags["regseg.config_label"].startswith("model_name=exp43_decoder14")
    assert "regseg.config_error" not in tags
    assert params["model_name"] == "exp43_decoder14" and params["train_min_size"] == "256"
    assert params["seed"] == "0" and "RNG_seed" not in params  # via TrainConfig.from_reference
    assert round(metrics["best_mIoU_reduced"], 2) == 75.75
    assert exp43.info.status == "FINISHED"
    best = sorted(round(r.data.metrics["best_mIoU"], 2) for k, r in runs.items()
                  if k[0] == DDRNET.name)
    assert best == [77.53, 77.84, 78.07]
    exps = {e.name for e in _client(uri).search_experiments()}
    assert {"reference/decoder", "reference/ddrnet_comparison"} <= exps


def test_per_epoch_metrics_use_epoch_as_step_and_recomputed_reduced_miou(imported_store):
    uri, results = imported_store
    client = _client(uri)
    run_id = next(r.run_id for r in results if r.file == EXP43.name)
    reduced = client.get_metric_history(run_id, "mIoU_reduced")
    loss = client.get_metric_history(run_id, "loss")
    assert len(loss) == 500 and sorted(m.step for m in loss) == list(range(500))
    assert len(reduced) == 40 and {m.step for m in reduced} >= {0, 24, 499}
    last = max(reduced, key=lambda m: m.step)
    # epoch 499 of the sample, recomputed without classes 14, 15, 16 (logged value was 75.44)
    iou = [98.07, 84.5, 92.04, 58.99, 60.08, 61.17, 65.51, 74.5, 92.03, 64.46, 94.69, 79.32,
           59.27, 94.2, 70.2, 76.59, 61.3, 58.9, 73.36]
    assert last.value == pytest.approx(
        sum(v for i, v in enumerate(iou) if i not in (14, 15, 16)) / 16)
    assert client.get_metric_history(run_id, "iou/truck")[-1].value in iou
    assert client.get_run(run_id).data.metrics["best_epoch"] >= 0


def test_reimport_is_idempotent(imported_store):
    uri, results = imported_store
    again = import_logs([EXP43, DDRNET], tracking_uri=uri)
    assert {r.status for r in again} == {"skipped"}
    assert {r.run_id for r in again} == {r.run_id for r in results}
    assert len(_runs(uri)) == 4


def test_malformed_file_imports_nothing_and_names_file_and_line(tmp_path, store_uri):
    good = tmp_path / "logs" / EXP43.name
    good.parent.mkdir()
    shutil.copy(EXP43, good)
    lines = DDRNET.read_text().splitlines()
    bad = tmp_path / "logs" / "cityscapes_ddrnet23_1000_epochs_log.txt"
    bad.write_text("\n".join(lines[:5000]) + "\n")  # run 3 truncated
    with pytest.raises(LogFormatError, match=rf"{bad.name}:5000:"):
        import_logs([good, bad], tracking_uri=store_uri)  # the good file is not written either
    assert _runs(store_uri) == []  # runs 1 and 2 of that file were not written either
    imported = import_logs([good], tracking_uri=store_uri, experiment="mine")
    assert [r.status for r in imported] == ["imported"]
    assert [r.data.tags["regseg.group"] for r in _runs(store_uri)] == ["decoder"]


@pytest.mark.parametrize("path", sorted(HEADERS.glob("*/*.txt")), ids=lambda p: p.name)
def test_filename_rules_agree_with_the_reference_directories(path):
    expected = DIRECTORY_GROUPS[path.parent.name]
    assert resolve_group(path) == expected
    assert resolve_group(Path("elsewhere") / path.name) == expected


def test_group_falls_back_to_the_experiment_name():
    assert resolve_group(Path("x/some_log.txt"), "regseg/smoke") == "smoke"
    assert resolve_group(Path("x/some_log.txt")) == "reference"


def test_cli_import_logs_exit_code_2_on_a_malformed_file(tmp_path, store_uri):
    import subprocess
    import sys

    bad = tmp_path / EXP43.name
    bad.write_text("\n".join(EXP43.read_text().splitlines()[:300]) + "\n")
    proc = subprocess.run([sys.executable, "-m", "regseg", "import-logs", str(bad),
                           "--tracking-uri", store_uri], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert f"{bad}:300:" in proc.stderr
    from typer.testing import CliRunner

    from regseg.cli import app

    res = CliRunner().invoke(app, ["import-logs", str(EXP43), "--tracking-uri", store_uri,
                                   "--format", "json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)
    assert row["status"] == "imported" and round(row["best_mIoU_reduced"], 2) == 75.75


def test_cli_import_logs_rejects_an_unknown_format_before_importing(store_uri):
    from mlflow.tracking import MlflowClient
    from typer.testing import CliRunner

    from regseg.cli import app

    res = CliRunner().invoke(app, ["import-logs", str(EXP43), "--tracking-uri", store_uri,
                                   "--format", "yaml"])
    assert res.exit_code == 2 and "--format" in res.output, res.output
    names = [e.name for e in MlflowClient(tracking_uri=store_uri).search_experiments()]
    assert not [n for n in names if n.startswith("reference/")]  # nothing was imported


def test_a_renamed_copy_is_recognised_as_already_imported(imported_store, tmp_path):
    uri, results = imported_store
    copy = tmp_path / "renamed_ddrnet_log.txt"
    shutil.copy(DDRNET, copy)
    again = import_logs([copy], tracking_uri=uri, experiment="reference/ddrnet_comparison")
    assert [r.status for r in again] == ["skipped"] * 3


def test_import_records_the_log_file_name_and_sha256(imported_store):
    import hashlib

    uri, _ = imported_store
    for run in _runs(uri):
        name = run.data.tags["regseg.reference_file"]
        expected = hashlib.sha256((LEGACY / name).read_bytes()).hexdigest()
        assert run.data.tags["regseg.reference_file_sha256"] == expected


def test_the_same_log_in_two_folders_is_one_run_in_both_groups(tmp_path, store_uri):
    """Issue 15: the reference ships exp43_decoder14's log byte for byte under the backbone and
    the decoder folder; both groups show it, as one run, so n counts it once."""
    from reports.report import build_report

    folders = [tmp_path / "backbone_ablation_studies", tmp_path / "decoder_ablation_studies"]
    for folder in folders:
        folder.mkdir()
        shutil.copy(EXP43, folder / EXP43.name)
    first = import_logs([folders[0]], tracking_uri=store_uri)
    second = import_logs([folders[1]], tracking_uri=store_uri)
    assert [r.status for r in first] == ["imported"] and [r.status for r in second] == ["linked"]
    assert first[0].run_id == second[0].run_id
    (run,) = _runs(store_uri)
    assert run.data.tags["regseg.groups"] == "backbone,decoder"
    assert [r.status for r in import_logs(folders, tracking_uri=store_uri)] == ["skipped"] * 2
    assert len(_runs(store_uri)) == 1
    rows = build_report(tracking_uri=store_uri).rows
    exp43 = [(r["group"], r["key"], r["n"], r["run_ids"]) for r in rows]
    assert exp43 == [("backbone", "exp43", 1, run.info.run_id),
                     ("decoder", "decoder14", 1, run.info.run_id)]
