"""The report's run cache (reports/run_cache.py) on real SQLite MLflow stores: a hit re-reads
nothing, every kind of change reaches the report, and the report is byte-identical with and
without the cache after each change."""

from __future__ import annotations

import json
import shutil
import time

import pytest

import orchestrator.tracking.tags as T
from reports import run_cache
from reports.report import build_report

DAY_MS = 86_400_000
GROUPS = {"regseg/backbone": ("backbone", ["exp30_decoder14", "exp48_decoder14"]),
          "regseg/sweep_lr": ("sweep_lr", ["exp48_decoder26"])}


def _log_finished(client, exp_id: str, *, group: str, model: str, seed: int, best: float,
                  label: str | None = None, end_ms: int | None = None) -> str:
    """A finished run laid out as the worker logs one; closed at ``end_ms`` (default: now)."""
    from mlflow.entities import Metric, Param

    start = (end_ms or int(time.time() * 1000)) - 3_600_000
    tags = {T.SOURCE: "regseg", T.GROUP: group, T.MODEL: model, T.SEED: str(seed),
            T.CONFIG_LABEL: label or f"model_name={model}"}
    run_id = client.create_run(exp_id, start_time=start, tags=tags).info.run_id
    params = {"model_name": model, "seed": str(seed), "lr": "0.01", "model_params": "3368023",
              "model_gflops": "35.88", "model_field_of_view": "3743"}
    metrics = [Metric("mIoU", best - 1, start, 9), Metric("mIoU_reduced", best, start, 9),
               Metric("best_mIoU", best - 0.5, start, 9),
               Metric("best_mIoU_reduced", best + 0.5, start, 9),
               Metric("best_epoch", 8.0, start, 9)]
    client.log_batch(run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()])
    client.set_terminated(run_id, "FINISHED", end_time=end_ms)
    return run_id


@pytest.fixture(scope="module")
def template_store(tmp_path_factory, empty_store_file):
    """24 runs in two experiments (plus an arm parent and a failed run), all ended ten days
    ago; built once, copied per test."""
    from mlflow.tracking import MlflowClient

    from tests.reports.conftest import fresh_store

    directory = tmp_path_factory.mktemp("cache_template")
    uri = fresh_store(empty_store_file, directory)
    client = MlflowClient(tracking_uri=uri)
    old = int(time.time() * 1000) - 10 * DAY_MS
    for name, (group, models) in GROUPS.items():
        exp_id = client.create_experiment(name)
        for i in range(12):
            model = models[i % len(models)]
            _log_finished(client, exp_id, group=group, model=model, seed=i // len(models),
                          best=70.0 + i * 0.3, end_ms=old + i)
        parent = client.create_run(exp_id, tags={T.ARM_PARENT: T.TRUE, T.GROUP: group})
        client.set_terminated(parent.info.run_id, "FINISHED", end_time=old)
        failed = client.create_run(exp_id, tags={T.GROUP: group, T.MODEL: models[0]})
        client.set_terminated(failed.info.run_id, "FAILED", end_time=old)
    return directory / "mlflow.db"


@pytest.fixture
def store(template_store, tmp_path):
    """(uri, client, cache dir) on a private copy of the template store."""
    from mlflow.tracking import MlflowClient

    db = tmp_path / "mlflow.db"
    shutil.copyfile(template_store, db)
    uri = f"sqlite:///{db}"
    return uri, MlflowClient(tracking_uri=uri), tmp_path / "report-cache"


@pytest.fixture(autouse=True)
def no_settle_window(monkeypatch):
    """Without the hour of slack every re-read below is owed to the rule under test, not to
    the runs having ended recently."""
    monkeypatch.setattr(run_cache, "SETTLE_MS", 0)


def _cached(uri, cache_dir, **kw):
    stats: dict = {}
    report = build_report(tracking_uri=uri, cache_dir=cache_dir, cache_stats=stats, **kw)
    return report, stats


def _same_as_direct(uri, cache_dir) -> dict:
    """Report through the cache; asserts it equals the uncached report, returns the stats of
    the experiments with runs (MLflow's own empty "Default" left out)."""
    cached, stats = _cached(uri, cache_dir)
    direct = build_report(tracking_uri=uri)
    assert cached.markdown == direct.markdown
    assert cached.rows_as("csv") == direct.rows_as("csv")
    assert cached.rows_as("json") == direct.rows_as("json")
    assert stats.pop("Default", {"runs": 0})["runs"] == 0
    return stats


def _modes(stats) -> dict:
    return {name: (s["mode"], s["reread"]) for name, s in stats.items()}


def _a_run(client, experiment="regseg/backbone"):
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], "attributes.status = 'FINISHED' AND "
                              f"tags.`{T.ARM_PARENT}` IS NULL", max_results=1)
    return exp.experiment_id, runs[0]


def test_a_hit_rereads_nothing_and_the_report_is_the_same(store):
    uri, _, cache_dir = store
    first = _same_as_direct(uri, cache_dir)
    assert _modes(first) == {"regseg/backbone": ("full", 13), "regseg/sweep_lr": ("full", 13)}
    assert {s["runs"] for s in first.values()} == {12}  # the arm parent is never a row
    files = sorted(p.name for p in cache_dir.rglob("*.json"))
    assert len(files) == 3 and not list(cache_dir.rglob("*.tmp"))  # with "Default"
    second = _same_as_direct(uri, cache_dir)
    assert _modes(second) == {"regseg/backbone": ("incremental", 0),
                              "regseg/sweep_lr": ("incremental", 0)}


def test_a_new_run_is_read_and_only_it(store):
    uri, client, cache_dir = store
    _same_as_direct(uri, cache_dir)
    exp_id = client.get_experiment_by_name("regseg/sweep_lr").experiment_id
    _log_finished(client, exp_id, group="sweep_lr", model="exp48_decoder26", seed=99, best=80.0)
    stats = _same_as_direct(uri, cache_dir)
    assert _modes(stats)["regseg/sweep_lr"] == ("incremental", 1)
    assert stats["regseg/sweep_lr"]["runs"] == 13
    assert _modes(stats)["regseg/backbone"] == ("incremental", 0)


def test_a_run_closed_with_an_old_end_time_is_caught_by_the_counts(store):
    uri, client, cache_dir = store
    _same_as_direct(uri, cache_dir)
    exp_id = client.get_experiment_by_name("regseg/sweep_lr").experiment_id
    old = int(time.time() * 1000) - 30 * DAY_MS
    _log_finished(client, exp_id, group="sweep_lr", model="exp48_decoder26", seed=98, best=81.0,
                  end_ms=old)
    stats = _same_as_direct(uri, cache_dir)
    assert stats["regseg/sweep_lr"]["mode"] == "full" and stats["regseg/sweep_lr"]["runs"] == 13


def test_a_revised_tag_is_read_again(store):
    """A writer that changes a finished run logs the ``regseg.revised`` stamp with it."""
    from mlflow.entities import Metric, RunTag

    from reports.mlflow_source import load_runs

    uri, client, cache_dir = store
    _cached(uri, cache_dir)
    _, run = _a_run(client)
    now = int(time.time() * 1000)
    client.log_batch(run.info.run_id, metrics=[Metric(T.REVISED, float(now), now, 0)],
                     tags=[RunTag(T.CONFIG_LABEL, "model_name=exp30_decoder14,relabelled")])
    stats = _same_as_direct(uri, cache_dir)
    assert _modes(stats)["regseg/backbone"] == ("incremental", 1)
    df = load_runs(tracking_uri=uri, cache_dir=cache_dir).set_index("run_id")
    assert df.loc[run.info.run_id, "config_label"] == "model_name=exp30_decoder14,relabelled"


def test_a_resumed_run_leaves_and_comes_back_with_its_new_metric(store):
    """Resuming reopens a FINISHED run (status RUNNING, end time kept); closing it again moves
    its end time."""
    from mlflow.entities import Metric

    uri, client, cache_dir = store
    _same_as_direct(uri, cache_dir)
    _, run = _a_run(client)
    client.update_run(run.info.run_id, status="RUNNING")
    stats = _same_as_direct(uri, cache_dir)
    assert stats["regseg/backbone"] == {"mode": "incremental", "reread": 0, "runs": 11}
    client.log_batch(run.info.run_id, metrics=[Metric("best_mIoU_reduced", 99.5, 0, 20)])
    client.set_terminated(run.info.run_id, "FINISHED")
    stats = _same_as_direct(uri, cache_dir)
    assert stats["regseg/backbone"] == {"mode": "incremental", "reread": 1, "runs": 12}


def test_a_finished_run_marked_killed_leaves_the_report(store):
    """``update_run(status=...)`` keeps the end time: the non-FINISHED listing catches it."""
    uri, client, cache_dir = store
    _same_as_direct(uri, cache_dir)
    _, run = _a_run(client)
    client.update_run(run.info.run_id, status="KILLED")
    stats = _same_as_direct(uri, cache_dir)
    assert stats["regseg/backbone"] == {"mode": "incremental", "reread": 0, "runs": 11}


def test_deleted_then_restored_run(store):
    uri, client, cache_dir = store
    _same_as_direct(uri, cache_dir)
    _, run = _a_run(client)
    client.delete_run(run.info.run_id)
    stats = _same_as_direct(uri, cache_dir)
    assert stats["regseg/backbone"] == {"mode": "incremental", "reread": 0, "runs": 11}
    client.restore_run(run.info.run_id)
    stats = _same_as_direct(uri, cache_dir)
    assert stats["regseg/backbone"] == {"mode": "incremental", "reread": 1, "runs": 12}


def test_a_run_purged_between_two_reports_is_caught_by_the_counts(store):
    """Deleted and permanently removed (``mlflow gc``) between two reports: it is in neither
    listing, so only the count shows it."""
    uri, client, cache_dir = store
    _same_as_direct(uri, cache_dir)
    _, run = _a_run(client)
    client.delete_run(run.info.run_id)
    client._tracking_client.store._hard_delete_run(run.info.run_id)
    stats = _same_as_direct(uri, cache_dir)
    assert stats["regseg/backbone"]["mode"] == "full" and stats["regseg/backbone"]["runs"] == 11


def test_renamed_and_deleted_experiments(store):
    uri, client, cache_dir = store
    _same_as_direct(uri, cache_dir)
    exp_id = client.get_experiment_by_name("regseg/sweep_lr").experiment_id
    client.rename_experiment(exp_id, "regseg/sweep_lr_renamed")
    stats = _same_as_direct(uri, cache_dir)
    assert stats["regseg/sweep_lr_renamed"]["mode"] == "full"
    client.delete_experiment(exp_id)
    stats = _same_as_direct(uri, cache_dir)
    assert set(stats) == {"regseg/backbone"}


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong_record", "other_uri"])
def test_a_damaged_cache_file_is_rebuilt(store, damage):
    uri, _, cache_dir = store
    _same_as_direct(uri, cache_dir)
    for path in cache_dir.rglob("*.json"):
        text = path.read_text()
        if damage == "garbage":
            path.write_bytes(b"\x00\xffnot json")
        elif damage == "truncated":
            path.write_text(text[: len(text) // 2])
        else:
            data = json.loads(text)
            if not data["runs"]:  # MLflow's empty "Default"
                continue
            if damage == "wrong_record":
                entry = next(iter(data["runs"].values()))
                entry["record"]["run_id"] = "someone-else"
            else:
                data["tracking_uri"] = "sqlite:///elsewhere.db"
            path.write_text(json.dumps(data))
    stats = _same_as_direct(uri, cache_dir)
    assert {s["mode"] for s in stats.values()} == {"full"}


def test_another_mlflow_version_or_an_old_cache_reads_in_full(store, monkeypatch):
    import mlflow

    uri, _, cache_dir = store
    _same_as_direct(uri, cache_dir)
    monkeypatch.setattr(mlflow, "__version__", mlflow.__version__ + ".post1")
    assert {s["mode"] for s in _same_as_direct(uri, cache_dir).values()} == {"full"}
    monkeypatch.setattr(run_cache, "MAX_AGE_MS", -1)
    assert {s["mode"] for s in _same_as_direct(uri, cache_dir).values()} == {"full"}


def test_a_failed_write_leaves_the_previous_file(tmp_path):
    path = tmp_path / "x" / "1.json"
    run_cache.write_file(path, {"a": 1})
    with pytest.raises(TypeError):
        run_cache.write_file(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in path.parent.iterdir()] == ["1.json"]


def test_import_logs_linking_a_run_to_a_group_reaches_the_cached_report(tmp_path, store_uri):
    """``regseg import-logs`` adds a group to an old run with the revised stamp (issue 15)."""
    from reports.import_logs import import_logs

    from tests.reports.conftest import EXP43

    folders = [tmp_path / "backbone_ablation_studies", tmp_path / "decoder_ablation_studies"]
    for folder in folders:
        folder.mkdir()
        shutil.copy(EXP43, folder / EXP43.name)
    cache_dir = tmp_path / "report-cache"
    import_logs([folders[0]], tracking_uri=store_uri)
    first, _ = _cached(store_uri, cache_dir)
    import_logs([folders[1]], tracking_uri=store_uri)
    stats = _same_as_direct(store_uri, cache_dir)
    assert [s["reread"] for s in stats.values()] == [1]
    second, _ = _cached(store_uri, cache_dir)
    assert [r["group"] for r in first.rows] == ["backbone"]
    assert [r["group"] for r in second.rows] == ["backbone", "decoder"]


def test_cli_report_uses_the_cache_unless_told_not_to(store, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from regseg.cli import app

    uri, _, _ = store
    home = tmp_path / "home"
    monkeypatch.setenv("REGSEG_HOME", str(home))
    runner = CliRunner()
    help_text = runner.invoke(app, ["report", "--help"]).output
    assert "--no-cache" in help_text
    plain = runner.invoke(app, ["report", "--tracking-uri", uri, "--no-cache",
                                "--format", "csv"], catch_exceptions=False)
    assert plain.exit_code == 0 and not (home / "report-cache").exists()
    cached = runner.invoke(app, ["report", "--tracking-uri", uri, "--format", "csv"],
                           catch_exceptions=False)
    assert cached.exit_code == 0 and cached.output == plain.output
    assert len(list((home / "report-cache").rglob("*.json"))) == 3  # with "Default"


def test_frame_records_is_to_dict_records(store):
    """The fast row dicts the tables and the appendix read are pandas' own, value and type."""
    from reports.mlflow_source import frame_records, load_runs

    uri, _, _ = store
    df = load_runs(tracking_uri=uri)
    df.loc[0, "best_mIoU"] = float("nan")

    def typed(rows):
        return [[(k, type(v).__name__, repr(v)) for k, v in r.items()] for r in rows]

    assert typed(frame_records(df)) == typed(df.to_dict("records"))
    assert typed(frame_records(df.assign(n=1))) == typed(df.assign(n=1).to_dict("records"))
