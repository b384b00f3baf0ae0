"""The latest checkpoint travels through the MLflow run (hosts that share no disk): uploaded on
every ``last.pt``, the tag moved only once the copy is complete, fetched by another host; and a
job with history but no checkpoint anywhere starts over in a fresh run (real sqlite store)."""

from __future__ import annotations

import torch

from orchestrator.tracking import MlflowCallback
from orchestrator.tracking import tags as T


def _save_last(out_dir, epoch):
    folder = out_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "last.pt"
    torch.save({"epoch": epoch, "weights": torch.full((3,), float(epoch))}, path)
    return path


def test_last_checkpoint_is_uploaded_and_fetched_on_another_host(tracker, make_job, train_config,
                                                                 tiny_model, tmp_path):
    run_id = tracker.ensure_run(make_job())
    host_a = tmp_path / "host_a"
    cb = MlflowCallback(tracking_uri=tracker.tracking_uri, run_id=run_id, out_dir=host_a,
                        upload_resume=True)
    cb.on_train_start(train_config, model=tiny_model, start_epoch=0, out_dir=host_a)
    seen = []
    for epoch in range(3):
        cb.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1)})
        cb.on_checkpoint("last", _save_last(host_a, epoch))
        tags = tracker.client.get_run(run_id).data.tags
        seen.append(tags[T.RESUME_CHECKPOINT])
        assert tags[T.RESUME_EPOCH] == str(epoch)
    assert seen == ["resume/a/last.pt", "resume/b/last.pt", "resume/a/last.pt"]  # alternating
    host_b = tmp_path / "host_b" / "checkpoints"
    assert tracker.fetch_checkpoint(run_id, host_b)
    fetched = torch.load(host_b / "last.pt", weights_only=True)
    assert fetched["epoch"] == 2 and torch.equal(fetched["weights"], torch.full((3,), 2.0))
    assert sorted(p.name for p in host_b.iterdir()) == ["last.pt"]  # no staging left behind


def test_the_embedded_store_keeps_checkpoints_local(tracker, make_job, train_config, tiny_model,
                                                    tmp_path):
    run_id = tracker.ensure_run(make_job())
    cb = MlflowCallback(tracking_uri=tracker.tracking_uri, run_id=run_id, out_dir=tmp_path)
    assert not cb.upload_resume  # a sqlite store: one host, the local last.pt is enough
    cb.on_train_start(train_config, model=tiny_model, start_epoch=0, out_dir=tmp_path)
    cb.on_checkpoint("last", _save_last(tmp_path, 0))
    assert T.RESUME_CHECKPOINT not in tracker.client.get_run(run_id).data.tags
    assert not tracker.fetch_checkpoint(run_id, tmp_path / "elsewhere")


def test_restart_closes_the_old_run_and_never_mixes_histories(tracker, make_job, tmp_path):
    job = make_job()
    old = tracker.ensure_run(job)
    tracker.client.log_metric(old, "loss", 0.5, step=0)
    assert tracker.has_history(old)
    new = tracker.restart_run(job, old, "no checkpoint found")
    assert new != old
    old_run, new_run = tracker.client.get_run(old), tracker.client.get_run(new)
    assert old_run.info.status == "KILLED"
    assert old_run.data.tags[T.SUPERSEDED_BY] == new
    assert new_run.data.tags[T.RESTARTED] == "no checkpoint found"
    assert not tracker.has_history(new)
    assert new_run.data.params == old_run.data.params  # the same config, a fresh history
    job.mlflow_run_id = None  # a worker that lost the id finds the live run, not the closed one
    assert tracker.ensure_run(job) == new
