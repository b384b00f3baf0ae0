"""Worker pieces that need no database: slot detection, the exit-status table, failure reasons."""

from __future__ import annotations

import signal

import pytest

from orchestrator.errors import QueueError
from orchestrator.workers.outcomes import Outcome, classify, failure_reason
from orchestrator.workers.slots import Slot, detect_slots, slot_thread_env


def test_detect_slots(monkeypatch: pytest.MonkeyPatch):
    assert detect_slots("0,2", available=["0", "1", "2"]) == [Slot("gpu0", "0"), Slot("gpu2", "2")]
    assert detect_slots("none", cpu_slots=2) == [Slot("cpu0", ""), Slot("cpu1", "")]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert detect_slots("auto") == [Slot("gpu3", "3"), Slot("gpu5", "5")]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert detect_slots("auto", cpu_slots=3) == [Slot(f"cpu{i}", "") for i in range(3)]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setenv("PATH", "/nonexistent")  # no nvidia-smi: CPU slots
    assert detect_slots("auto") == [Slot("cpu0", "")]
    with pytest.raises(QueueError, match="--gpus"):
        detect_slots("gpu0")
    with pytest.raises(QueueError, match="--cpu-slots"):
        detect_slots("none", cpu_slots=0)


def test_gpu_ids_must_exist_on_this_host(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")  # no nvidia-smi: this host has no GPU
    with pytest.raises(QueueError,
                       match=r"--gpus 0,1: this host has no GPU 0, 1 \(available: none\)"):
        detect_slots("0,1")
    with pytest.raises(QueueError, match=r"no GPU 3 \(available: 0, 1\)"):
        detect_slots("1,3", available=["0", "1"])


def test_cpu_slots_split_the_cores_between_jobs():
    cpus = [Slot("cpu0", ""), Slot("cpu1", "")]
    assert slot_thread_env(cpus[0], cpus, {}, cpu_count=8) == {"OMP_NUM_THREADS": "4",
                                                               "MKL_NUM_THREADS": "4"}
    assert slot_thread_env(cpus[0], cpus * 8, {}, cpu_count=8)["OMP_NUM_THREADS"] == "1"
    assert slot_thread_env(cpus[0], cpus, {"OMP_NUM_THREADS": "3"}, cpu_count=8) == {}
    assert slot_thread_env(Slot("gpu0", "0"), [Slot("gpu0", "0")], {}, cpu_count=8) == {}


@pytest.mark.parametrize("rc, term_sent, lost, expected", [
    (0, False, False, Outcome.SUCCEEDED),
    (75, False, False, Outcome.INTERRUPTED),
    (-signal.SIGTERM, True, False, Outcome.INTERRUPTED),   # our SIGTERM beat the job's handler
    (-signal.SIGTERM, False, False, Outcome.FAILED),       # someone else's SIGTERM
    (1, False, False, Outcome.FAILED),
    (2, True, False, Outcome.FAILED),
    (-signal.SIGKILL, False, False, Outcome.FAILED),
    (0, True, True, Outcome.LOST),
    (75, True, True, Outcome.LOST),
])
def test_exit_status_table(rc, term_sent, lost, expected):
    assert classify(rc, term_sent=term_sent, lost=lost) is expected


def test_failure_reason():
    assert failure_reason(1, "DatasetError: no images under data/x") == (
        "exit status 1: DatasetError: no images under data/x")
    assert failure_reason(-signal.SIGKILL) == "killed by SIGKILL"
    assert failure_reason(-signal.SIGSEGV, None) == "killed by SIGSEGV"
    assert failure_reason(2) == "exit status 2"
