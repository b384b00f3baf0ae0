"""Worker pieces that need no database: slot detection and failure reasons."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from orchestrator.errors import QueueError
from orchestrator.worker import Slot, detect_slots, failure_reason, slot_thread_env


def test_detect_slots(monkeypatch: pytest.MonkeyPatch):
    assert detect_slots("0,2") == [Slot("gpu0", "0"), Slot("gpu2", "2")]
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


def test_cpu_slots_split_the_cores_between_jobs():
    cpus = [Slot("cpu0", ""), Slot("cpu1", "")]
    assert slot_thread_env(cpus[0], cpus, {}, cpu_count=8) == {"OMP_NUM_THREADS": "4",
                                                               "MKL_NUM_THREADS": "4"}
    assert slot_thread_env(cpus[0], cpus * 8, {}, cpu_count=8)["OMP_NUM_THREADS"] == "1"
    assert slot_thread_env(cpus[0], cpus, {"OMP_NUM_THREADS": "3"}, cpu_count=8) == {}
    assert slot_thread_env(Slot("gpu0", "0"), [Slot("gpu0", "0")], {}, cpu_count=8) == {}


def test_failure_reason(tmp_path: Path):
    log = tmp_path / "job.log"
    log.write_text("Traceback ...\nValueError: x\norchestrator.job: failed: DatasetError: no "
                   "images under data/x\n\n")
    assert failure_reason(1, log) == "exit status 1: DatasetError: no images under data/x"
    assert failure_reason(-signal.SIGKILL, log) == "killed by SIGKILL"
    assert failure_reason(-signal.SIGSEGV, log) == "killed by SIGSEGV"
    assert failure_reason(2, tmp_path / "missing.log") == "exit status 2"
    log.write_text("plain last line\n")
    assert failure_reason(3, log) == "exit status 3: plain last line"
