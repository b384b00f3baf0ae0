"""Root fixtures shared by every test area (owner: data)."""

from __future__ import annotations

from pathlib import Path

import pytest

SYNTHETIC_TRAIN = 16
SYNTHETIC_VAL = 8
SYNTHETIC_SIZE = (64, 128)


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny generated Cityscapes-layout dataset (16 train / 8 val images, 64x128, seed 0).

    Session-scoped and shared: treat it as read-only. Every one of the 19 train ids occurs in
    the val split. Use it as ``dataset_dir`` with ``dataset_name="synthetic"`` (or "cityscapes").
    """
    from regseg.data.synthetic import make_synthetic

    root = tmp_path_factory.mktemp("synthetic_cityscapes")
    return make_synthetic(root, train=SYNTHETIC_TRAIN, val=SYNTHETIC_VAL, size=SYNTHETIC_SIZE,
                          seed=0)


@pytest.fixture(autouse=True)
def _stop_signal_handlers_restored():
    """Every test starts with the stop-signal handlers the session had: a test that trains in
    process (install_stop_handlers, ignore_stop_signals) must not leave later tests, or the
    processes they fork, ignoring SIGTERM."""
    import signal

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        if handler is not None and signal.getsignal(sig) is not handler:
            signal.signal(sig, handler)
