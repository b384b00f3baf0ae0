"""Hostile files: corrupt, truncated and foreign checkpoints, garbled and truncated reference logs,
a torn MLflow buffer line - one clear error each, nothing written - and no input that executes
code: each payload would create a marker file, which must not exist afterwards."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from regseg.errors import CheckpointError, ConfigError, WeightsMismatchError

pytestmark = pytest.mark.reliability

LOGS = Path(__file__).resolve().parents[1] / "data" / "legacy_logs"


class _Payload:
    """Unpickling this runs ``open(marker, 'w')``: the code-execution probe."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _tiny_model():
    from regseg.models import build_model

    return build_model("exp48_decoder14", num_classes=19)


def test_a_pickle_payload_checkpoint_does_not_execute(tmp_path: Path):
    from regseg.engine.checkpoint import load_resume
    from regseg.models import load_weights

    marker = tmp_path / "pwned"
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    torch.save({"model": _Payload(marker), "epoch": 0}, directory / "last.pt")
    with pytest.raises(CheckpointError, match=r"not a weights-only torch file"):
        load_weights(_tiny_model(), directory / "last.pt")
    with pytest.raises(CheckpointError, match=r"no usable checkpoint to resume from"):
        load_resume(directory)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "garbled", "empty"])
def test_a_damaged_checkpoint_is_one_clear_error(tmp_path: Path, damage: str):
    from regseg.engine.checkpoint import load_resume
    from regseg.models import load_weights

    model = _tiny_model()
    path = tmp_path / "last.pt"
    torch.save({"model": model.state_dict(), "epoch": 1}, path)
    raw = path.read_bytes()
    text = {"truncated": raw[: len(raw) // 2], "garbled": raw[:64] + bytes(reversed(raw[64:])),
            "empty": b""}[damage]  # empty: EOFError without a message broke the error text
    path.write_bytes(text)
    with pytest.raises(CheckpointError, match=r"last\.pt"):
        load_weights(model, path)
    with pytest.raises(CheckpointError, match=r"no usable checkpoint to resume from: .*last\.pt"):
        load_resume(tmp_path)
    assert path.read_bytes() == text  # nothing rewritten


def test_a_checkpoint_of_another_model_is_refused_and_the_model_untouched(tmp_path: Path):
    from regseg.models import build_model, load_weights

    other = tmp_path / "other.pt"
    torch.save(build_model("exp30_decoder4", num_classes=19).state_dict(), other)
    model = _tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightsMismatchError, match=r"missing|unexpected|shape"):
        load_weights(model, other)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_yaml_payload_in_a_config_does_not_execute(tmp_path: Path):
    from regseg.config import TrainConfig

    marker = tmp_path / "pwned"
    path = tmp_path / "config.yaml"
    path.write_text(f"model_name: !!python/object/apply:builtins.open ['{marker}', 'w']\n")
    with pytest.raises(ConfigError, match=r"config\.yaml"):
        TrainConfig.from_file(path)
    assert not marker.exists()


def test_a_yaml_payload_in_a_spec_does_not_execute(tmp_path: Path):
    from orchestrator.errors import SpecError
    from orchestrator.specs import load_and_expand

    marker = tmp_path / "pwned"
    path = tmp_path / "experiments" / "evil.yaml"
    path.parent.mkdir()
    path.write_text(f"name: !!python/object/apply:builtins.open ['{marker}', 'w']\ngroup: x\n")
    with pytest.raises(SpecError, match=r"evil\.yaml.*invalid YAML"):
        load_and_expand([path], project_dir=tmp_path)
    assert not marker.exists()


def _log_with(tmp_path: Path, edit) -> Path:
    source = LOGS / "cityscapes_exp43_decoder14_500_epochs_fair_log.txt"
    path = tmp_path / "logs" / source.name
    path.parent.mkdir(exist_ok=True)
    path.write_text(edit(source.read_text()))
    return path


def test_a_code_payload_in_a_reference_log_does_not_execute(tmp_path: Path):
    from reports.errors import LogFormatError
    from reports.reference_log import parse_log

    marker = tmp_path / "pwned"
    payload = f"{{'model_name': __import__('builtins').open({str(marker)!r}, 'w')}}"
    path = _log_with(tmp_path, lambda text: payload + text[text.index("\n"):])
    with pytest.raises(LogFormatError, match=r"_log\.txt:1: .*not a Python literal"):
        parse_log(path)
    assert not marker.exists()


@pytest.mark.parametrize("edit, match", [
    (lambda t: t[: t.index("}") // 2], r"_log\.txt:1: "),          # cut inside the header dict
    (lambda t: t.replace("mIOU", "mI0U\x00garbage", 3), r"_log\.txt:\d+: "),
], ids=["truncated-header", "garbled-lines"])
def test_a_damaged_reference_log_imports_nothing(tmp_path: Path, edit, match: str):
    from mlflow.tracking import MlflowClient

    from reports.errors import LogFormatError
    from reports.import_logs import import_logs

    path = _log_with(tmp_path, edit)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(LogFormatError, match=match):
        import_logs([path], tracking_uri=uri)
    client = MlflowClient(tracking_uri=uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    assert client.search_runs(ids) == []  # nothing written


def test_a_torn_buffer_line_is_skipped_and_the_rest_sent_once(tmp_path: Path, caplog):
    from mlflow.tracking import MlflowClient

    from orchestrator.tracking.buffer import RunSink

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    run_id = client.create_run(client.create_experiment("torn")).info.run_id
    buffer = tmp_path / "mlflow_buffer.jsonl"
    RunSink(client, run_id, buffer).submit(metrics=[("loss", 1.5, 0)], flush=False)
    whole = json.dumps({"metrics": [["loss", 9.0, 1]], "params": {}, "tags": {}})
    with open(buffer, "a") as fh:
        fh.write(whole[: len(whole) // 2])  # a job killed in the middle of a write
    sink = RunSink(client, run_id, buffer)
    sink.submit(metrics=[("loss", 0.5, 2)], flush=False)
    assert sink.flush(force=True) is True
    history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "loss"))
    assert history == [(0, 1.5), (2, 0.5)]  # the torn record (step 1) was never sent
    assert "skipping unreadable line 2" in caplog.text
    assert sink.pending() == []


def test_pickle_of_a_payload_is_a_real_probe(tmp_path: Path):
    # the probe itself works: plain unpickling does create the marker
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()
