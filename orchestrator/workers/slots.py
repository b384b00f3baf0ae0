"""Worker slots: one per GPU (``CUDA_VISIBLE_DEVICES`` set to it) or N CPU slots sharing the
cores."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from orchestrator.errors import QueueError


@dataclass(frozen=True)
class Slot:
    name: str
    cuda_visible_devices: str  # "" = CPU only


def visible_gpus() -> list[str]:
    """GPU ids this host offers: $CUDA_VISIBLE_DEVICES when set, else nvidia-smi's list."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def slot_thread_env(slot: Slot, slots: list[Slot], environ: Mapping[str, str], *,
                    cpu_count: int | None = None) -> dict[str, str]:
    """Thread settings for a job on ``slot``: CPU slots share the cores, so each job gets an
    intra-op pool of cores/slots threads (oversubscribed CPUs slow every job several-fold). An
    explicit OMP_NUM_THREADS in the worker's environment wins; GPU slots get nothing."""
    if slot.cuda_visible_devices or "OMP_NUM_THREADS" in environ:
        return {}
    cpu_slots = sum(1 for s in slots if not s.cuda_visible_devices)
    threads = str(max(1, (cpu_count or os.cpu_count() or 1) // max(1, cpu_slots)))
    return {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


def detect_slots(gpus: str = "auto", *, cpu_slots: int = 1,
                 available: list[str] | None = None) -> list[Slot]:
    """``auto``: one slot per visible GPU, else ``cpu_slots`` CPU slots; ``0,1``: those GPUs
    (each must be one this host has: ``available``, default :func:`visible_gpus`); ``none``:
    CPU slots only."""
    if cpu_slots < 1:
        raise QueueError(f"--cpu-slots: expected >= 1, got {cpu_slots}")
    if gpus == "auto":
        ids = visible_gpus() if available is None else list(available)
    elif gpus in ("none", "cpu", ""):
        ids = []
    else:
        ids = [g.strip() for g in gpus.split(",") if g.strip()]
        if not all(g.isdigit() for g in ids):
            raise QueueError(f"--gpus: expected auto, none or a list like 0,1, got {gpus!r}")
        have = visible_gpus() if available is None else list(available)
        missing = [g for g in ids if g not in have]
        if missing:
            raise QueueError(f"--gpus {gpus}: this host has no GPU {', '.join(missing)} "
                             f"(available: {', '.join(have) or 'none'}); use --gpus auto or "
                             f"--gpus none --cpu-slots N")
    if ids:
        return [Slot(f"gpu{g}", g) for g in ids]
    return [Slot(f"cpu{i}", "") for i in range(cpu_slots)]
