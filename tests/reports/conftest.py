"""Fixtures for the reports tests: a real MLflow store (SQLite in tmp) and the sample logs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy_logs"
EXP43 = LEGACY / "cityscapes_exp43_decoder14_500_epochs_fair_log.txt"
DDRNET = LEGACY / "cityscapes_ddrnet23_1000_epochs_log.txt"


@pytest.fixture(scope="session")
def empty_store_file(tmp_path_factory) -> Path:
    """An initialised, empty MLflow SQLite store, created once (MLflow's schema migrations take
    seconds); tests get their own copy."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow_template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


def fresh_store(empty_store_file: Path, directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "mlflow.db"
    shutil.copyfile(empty_store_file, target)
    return f"sqlite:///{target}"


@pytest.fixture(scope="session")
def imported_store(tmp_path_factory, empty_store_file):
    """The two sample logs imported once into a fresh store; returns (uri, results)."""
    from reports.import_logs import import_logs

    uri = fresh_store(empty_store_file, tmp_path_factory.mktemp("mlflow_samples"))
    results = import_logs([LEGACY], tracking_uri=uri)
    return uri, results


@pytest.fixture
def store_uri(tmp_path, empty_store_file) -> str:
    return fresh_store(empty_store_file, tmp_path / "store")
