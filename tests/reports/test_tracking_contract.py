"""Contract tracking -> reports: runs logged by the orchestrator's Tracker + MlflowCallback (the
training side's real code, not a re-implementation) are read and tabulated by the report."""

from __future__ import annotations

from types import SimpleNamespace

from reports.report import build_report


def _job(i, group, model, seed, label):
    config = {"model_name": model, "seed": seed, "epochs": 3, "train_crop_size": [64, 64]}
    return SimpleNamespace(id=i, spec_name="smoke", group=group, sweep_id=1, run_hash=f"h{i}",
                           config=config, attempt=1, mlflow_run_id=None, label=label)


def test_tracker_logged_seeds_become_mean_std_rows(store_uri, tmp_path):
    from orchestrator.tracking import MlflowCallback, Tracker

    tracker = Tracker(store_uri, artifact_root=tmp_path / "artifacts")
    curves = {("exp48_decoder14", 0): [50.0, 60.0, 59.0],
              ("exp48_decoder14", 1): [51.0, 62.0, 61.0],
              ("exp43_decoder14", 0): [49.0, 58.0, 58.5],
              ("exp43_decoder14", 1): [48.0, 57.0, 56.0]}
    for i, ((model, seed), curve) in enumerate(curves.items()):
        job = _job(i, "smoke", model, seed, f"model_name={model}")
        run_id = tracker.ensure_run(job)
        cb = MlflowCallback(tracking_uri=store_uri, run_id=run_id, out_dir=tmp_path / f"job{i}")
        for epoch, v in enumerate(curve):
            cb.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "mIoU": v, "mIoU_reduced": v + 2})
        best = max(curve)
        cb.on_train_end({"best_mIoU": best, "best_mIoU_reduced": best + 2,
                         "best_epoch": curve.index(best)})
        tracker.finish_run(run_id, "FINISHED")
    rep = build_report(tracking_uri=store_uri, metric="miou")
    rows = {r["key"]: r for r in rep.rows}
    assert rows["model_name=exp48_decoder14"]["n"] == 2
    assert "61.00 ± 1.41 (n=2)" in rep.markdown  # best mIoU 60, 62
    assert "57.75 ± 1.06 (n=2)" in rep.markdown  # best mIoU 58.5, 57
    assert rows["model_name=exp48_decoder14"]["last_mean"] == 60.0  # last epoch 59, 61
    assert "3.37M" in rep.markdown  # facts computed from the zoo when not logged
