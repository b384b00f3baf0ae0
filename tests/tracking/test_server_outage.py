"""A real `mlflow server` on 127.0.0.1 (started by `regseg ui`): it serves the UI; a run logs
through HTTP; the server is stopped mid-run and restarted on the same port and store; training
never stalls and each epoch lands in the run exactly once."""

from __future__ import annotations

import socket
import time
import urllib.request

import numpy as np
import pytest

from orchestrator.tracking import MlflowCallback, Tracker
from orchestrator.tracking.buffer import BUFFER_NAME

from _tracking_helpers import artifact_paths, epoch_metrics, history

pytestmark = pytest.mark.slow
EVALUATED = {0, 4, 9}


def _epoch(cb, epoch, *, offset=0.0):
    started = time.perf_counter()
    metrics = epoch_metrics(epoch, evaluated=epoch in EVALUATED)
    cb.on_epoch_end(epoch, {k: v + offset for k, v in metrics.items()})
    return time.perf_counter() - started


def _buffered(out_dir) -> int:
    path = out_dir / BUFFER_NAME
    return len(path.read_text().splitlines()) if path.exists() else 0


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_ui_serves_the_store_on_loopback(mlflow_server):
    assert mlflow_server.printed_url == mlflow_server.url
    assert mlflow_server.url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(mlflow_server.url + "/", timeout=10) as resp:
        assert resp.status == 200
        assert b"<html" in resp.read(4096).lower()


def test_outage_mid_run_loses_nothing_and_duplicates_nothing(mlflow_server, make_job,
                                                             train_config, tiny_model, tmp_path):
    server = mlflow_server
    tracker = Tracker(server.url)
    run_id = tracker.ensure_run(make_job())
    cb = MlflowCallback(tracking_uri=server.url, run_id=run_id, out_dir=tmp_path,
                        retry_interval_s=0.0, log_checkpoints=True)
    cb.on_train_start(train_config, model=tiny_model, start_epoch=0, out_dir=tmp_path)

    before = server.log_batch_requests()
    for epoch in range(3):
        _epoch(cb, epoch)
    deadline = time.monotonic() + 10  # the access log line is written just after the response
    while server.log_batch_requests() - before < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    assert server.log_batch_requests() - before == 3  # ONE log_batch request per epoch
    assert _buffered(tmp_path) == 0

    assert server.stop() == 0  # `regseg ui` exits cleanly on SIGTERM and takes its server down
    assert not _port_open(server.port)
    slowest = max(_epoch(cb, epoch) for epoch in range(3, 6))
    assert slowest < 15, f"an epoch hook stalled {slowest:.1f} s during the outage"
    assert _buffered(tmp_path) == 3

    server.start()  # same port, same store
    _epoch(cb, 6)  # the first hook after the return flushes 3..5 in order, then sends 6
    assert _buffered(tmp_path) == 0
    _epoch(cb, 7)
    del cb  # the job is killed after reporting epoch 7, before checkpointing it

    # Next attempt: resumes from the checkpoint of epoch 6, so epoch 7 is trained (and reported)
    # again, with other values; the run keeps the first report.
    cb2 = MlflowCallback(tracking_uri=server.url, run_id=run_id, out_dir=tmp_path,
                         retry_interval_s=0.0, log_checkpoints=True)
    cb2.on_train_start(train_config, model=tiny_model, start_epoch=7, out_dir=tmp_path)
    for epoch in range(7, 10):
        _epoch(cb2, epoch, offset=100.0 if epoch == 7 else 0.0)
    cm = np.eye(19, dtype=np.int64) * 10
    cb2.on_train_end({"best_mIoU": 19.0, "best_mIoU_reduced": 20.0, "best_epoch": 9,
                      "confusion_matrix": cm})
    tracker.finish_run(run_id, "FINISHED", out_dir=tmp_path)

    client = tracker.client
    for key in ("loss", "lr", "images_per_s", "epoch_time"):
        assert history(client, run_id, key) == [(e, epoch_metrics(e, evaluated=False)[key])
                                                for e in range(10)], key
    for key in ("mIoU", "iou/road", "iou/bicycle"):
        assert history(client, run_id, key) == [(e, epoch_metrics(e)[key])
                                                for e in sorted(EVALUATED)], key
    assert history(client, run_id, "best_mIoU") == [(9, 19.0)]
    loss = sorted(client.get_metric_history(run_id, "loss"), key=lambda m: m.step)
    stamps = [m.timestamp for m in loss]
    assert stamps == sorted(stamps)  # original submission times, replayed in order

    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model_gflops"] == "39.08"
    assert {"config/config.yaml", "confusion_matrix/confusion_matrix.csv",
            "confusion_matrix/confusion_matrix.png"} <= artifact_paths(client, run_id)
    assert _buffered(tmp_path) == 0
