"""MlflowCallback + RunSink against a real sqlite MLflow store: exact params, tags, histories,
artifacts; resume idempotence; durable buffering while the store is unreachable."""

from __future__ import annotations

import csv
import json
import time

import numpy as np
import torch

from orchestrator.tracking import MlflowCallback, flush_buffer
from orchestrator.tracking.buffer import BUFFER_NAME, REJECTED_NAME, RunSink

from _tracking_helpers import artifact_paths, epoch_metrics, history, unreachable_uri

EVALUATED = (0, 2, 5)


def _write_checkpoints(out_dir):
    ckpt = out_dir / "checkpoints"
    ckpt.mkdir(parents=True, exist_ok=True)
    for kind in ("best", "last"):
        torch.save({"kind": kind}, ckpt / f"{kind}.pt")
    return ckpt


def _train(cb, cfg, model, out_dir, epochs, *, start=0, offset=0.0):
    """Drive the hooks the way regseg.engine.train does (docs/CONTRACTS.md)."""
    cb.on_train_start(cfg, model=model, start_epoch=start, out_dir=out_dir)
    for epoch in epochs:
        metrics = epoch_metrics(epoch, evaluated=epoch in EVALUATED)
        cb.on_epoch_end(epoch, {k: v + offset for k, v in metrics.items()})


def _summary(n=19):
    cm = np.arange(n * n, dtype=np.int64).reshape(n, n)
    return {"best_mIoU": 15.0, "best_mIoU_reduced": 16.0, "best_epoch": 5, "confusion_matrix": cm}


def test_full_run_is_logged_exactly(tracker, make_job, train_config, tiny_model, tmp_path):
    from regseg.data import CITYSCAPES_CLASSES

    run_id = tracker.ensure_run(make_job())
    (tmp_path / "job.log").write_text("epoch 0 ...\n")
    ckpt = _write_checkpoints(tmp_path)
    cb = MlflowCallback(tracking_uri=tracker.tracking_uri, run_id=run_id, out_dir=tmp_path,
                        log_checkpoints=True)
    _train(cb, train_config, tiny_model, tmp_path, range(6))
    cb.on_checkpoint("best", ckpt / "best.pt")
    cb.on_train_end(_summary())

    client = tracker.client
    run = client.get_run(run_id)
    assert run.data.params["model_params"] == "3334951"
    assert run.data.params["model_gflops"] == "39.08"
    assert run.data.params["model_field_of_view"] == "3807"
    assert run.data.tags["regseg.device"] == "cpu"
    assert run.data.tags["regseg.best_checkpoint"] == str((ckpt / "best.pt").resolve())
    assert run.data.tags["regseg.last_checkpoint"] == str((ckpt / "last.pt").resolve())

    for key in ("loss", "lr", "images_per_s", "epoch_time"):
        assert history(client, run_id, key) == [(e, epoch_metrics(e, evaluated=False)[key])
                                                for e in range(6)]
    for key in ("mIoU", "mIoU_reduced", "pixel_accuracy",
                *(f"iou/{c}" for c in CITYSCAPES_CLASSES)):
        assert history(client, run_id, key) == [(e, epoch_metrics(e)[key]) for e in EVALUATED]
    assert history(client, run_id, "best_mIoU") == [(5, 15.0)]
    assert history(client, run_id, "best_mIoU_reduced") == [(5, 16.0)]
    assert history(client, run_id, "best_epoch") == [(5, 5.0)]

    assert artifact_paths(client, run_id) == {
        "config/config.yaml", "logs/job.log", "confusion_matrix/confusion_matrix.csv",
        "confusion_matrix/confusion_matrix.png", "checkpoints/best.pt"}
    local = client.download_artifacts(run_id, "confusion_matrix", str(tmp_path / "dl"))
    rows = list(csv.reader(open(f"{local}/confusion_matrix.csv")))
    assert rows[0] == ["true\\pred", *CITYSCAPES_CLASSES]
    assert rows[3] == [CITYSCAPES_CLASSES[2], *(str(2 * 19 + j) for j in range(19))]
    png = open(f"{local}/confusion_matrix.png", "rb").read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    import yaml
    cfg_path = client.download_artifacts(run_id, "config/config.yaml", str(tmp_path / "dl2"))
    assert yaml.safe_load(open(cfg_path)) == train_config.model_dump(mode="json")

    assert (tmp_path / BUFFER_NAME).stat().st_size == 0
    assert cb.seconds > 0


def test_one_batch_per_epoch_shares_a_timestamp(tracker, make_job, train_config, tiny_model,
                                                tmp_path):
    run_id = tracker.ensure_run(make_job())
    cb = MlflowCallback(tracking_uri=tracker.tracking_uri, run_id=run_id, out_dir=tmp_path)
    _train(cb, train_config, tiny_model, tmp_path, [0])
    stamps = {m.timestamp for key in epoch_metrics(0) for m in
              tracker.client.get_metric_history(run_id, key)}
    assert len(stamps) == 1


def test_no_log_checkpoints_keeps_only_the_path(tracker, make_job, train_config, tiny_model,
                                                tmp_path):
    run_id = tracker.ensure_run(make_job())
    ckpt = _write_checkpoints(tmp_path)
    cb = MlflowCallback(tracking_uri=tracker.tracking_uri, run_id=run_id, out_dir=tmp_path,
                        log_checkpoints=False)
    _train(cb, train_config, tiny_model, tmp_path, range(2))
    cb.on_train_end(_summary())
    arts = artifact_paths(tracker.client, run_id)
    assert not any(a.startswith("checkpoints/") for a in arts)
    assert "config/config.yaml" in arts
    tags = tracker.client.get_run(run_id).data.tags
    assert tags["regseg.best_checkpoint"] == str((ckpt / "best.pt").resolve())


def test_resumed_attempt_logs_each_epoch_once(tracker, make_job, train_config, tiny_model,
                                              tmp_path):
    run_id = tracker.ensure_run(make_job())
    first = MlflowCallback(tracking_uri=tracker.tracking_uri, run_id=run_id, out_dir=tmp_path)
    _train(first, train_config, tiny_model, tmp_path, range(4))  # killed after epoch 3 reported
    # The checkpoint held epoch 2: the next attempt re-runs epoch 3 (different values) onwards.
    second = MlflowCallback(tracking_uri=tracker.tracking_uri, run_id=run_id, out_dir=tmp_path)
    _train(second, train_config, tiny_model, tmp_path, range(3, 6), start=3, offset=0.5)
    second.on_train_end(_summary())
    expected = [(e, epoch_metrics(e)["loss"] + (0.5 if e > 3 else 0.0)) for e in range(6)]
    assert history(tracker.client, run_id, "loss") == expected
    assert [s for s, _ in history(tracker.client, run_id, "mIoU")] == list(EVALUATED)


def test_unreachable_store_buffers_durably_then_flushes(tracker, make_job, train_config,
                                                        tiny_model, tmp_path):
    run_id = tracker.ensure_run(make_job())
    cb = MlflowCallback(tracking_uri=unreachable_uri(), run_id=run_id, out_dir=tmp_path)
    started = time.perf_counter()
    _train(cb, train_config, tiny_model, tmp_path, range(3))
    cb.on_train_end(_summary())
    assert time.perf_counter() - started < 30  # training is never stalled by the outage
    buffered = (tmp_path / BUFFER_NAME).read_text().splitlines()
    assert len(buffered) == 1 + 3 + 1  # start, three epochs, end
    with open(tmp_path / BUFFER_NAME, "a") as fh:  # a torn write of a process killed mid-append
        fh.write('{"metrics": [["loss", 1.0')

    # The next attempt / the worker's finish_run sends the buffer to the store, in order.
    assert flush_buffer(tmp_path, tracking_uri=tracker.tracking_uri, run_id=run_id)
    assert [s for s, _ in history(tracker.client, run_id, "loss")] == [0, 1, 2]
    assert history(tracker.client, run_id, "best_mIoU") == [(2, 15.0)]
    assert tracker.client.get_run(run_id).data.params["model_gflops"] == "39.08"
    assert "config/config.yaml" in artifact_paths(tracker.client, run_id)
    assert (tmp_path / BUFFER_NAME).stat().st_size == 0
    # Replaying again is a no-op (nothing left, nothing duplicated).
    assert flush_buffer(tmp_path, tracking_uri=tracker.tracking_uri, run_id=run_id)
    assert [s for s, _ in history(tracker.client, run_id, "loss")] == [0, 1, 2]


def test_replay_of_an_already_applied_record_is_idempotent(tracker, make_job, tmp_path):
    run_id = tracker.ensure_run(make_job())
    sink = RunSink(tracker.client, run_id, tmp_path / BUFFER_NAME)
    assert sink.submit(metrics=[("loss", 1.0, 0), ("loss", 0.9, 1)])
    # Simulate "sent, then killed before the buffer was truncated": the same record again.
    line = json.dumps({"metrics": [["loss", 1.0, 1, 0], ["loss", 0.9, 2, 1], ["loss", 0.8, 3, 2]],
                       "params": {}, "tags": {}, "artifacts": []})
    (tmp_path / BUFFER_NAME).write_text(line + "\n")
    fresh = RunSink(tracker.client, run_id, tmp_path / BUFFER_NAME)
    assert fresh.flush()
    assert history(tracker.client, run_id, "loss") == [(0, 1.0), (1, 0.9), (2, 0.8)]


def test_record_after_a_torn_only_buffer_is_not_lost(tracker, make_job, tmp_path):
    run_id = tracker.ensure_run(make_job())
    # An attempt killed mid-append left only a torn line (no newline) in the buffer.
    (tmp_path / BUFFER_NAME).write_text('{"metrics": [["loss", 1.0')
    sink = RunSink(tracker.client, run_id, tmp_path / BUFFER_NAME)
    assert sink.flush(force=True)  # the next attempt's on_train_start
    assert sink.submit(metrics=[("loss", 0.5, 0)], tags={"regseg.device": "cpu"})
    assert history(tracker.client, run_id, "loss") == [(0, 0.5)]
    assert tracker.client.get_run(run_id).data.tags["regseg.device"] == "cpu"


def test_rejected_record_does_not_block_the_rest(tracker, make_job, tmp_path):
    run_id = tracker.ensure_run(make_job())
    sink = RunSink(tracker.client, run_id, tmp_path / BUFFER_NAME)
    sink.submit(params={"lr": "999"}, flush=False)  # conflicts with the logged param lr=0.05
    assert sink.submit(metrics=[("loss", 1.0, 0)])
    assert history(tracker.client, run_id, "loss") == [(0, 1.0)]
    rejected = (tmp_path / REJECTED_NAME).read_text().splitlines()
    assert [json.loads(r)["params"] for r in rejected] == [{"lr": "999"}]
    assert tracker.client.get_run(run_id).data.params["lr"] == "0.05"
