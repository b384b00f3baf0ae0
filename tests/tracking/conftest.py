"""Fixtures of the tracking tests: one real sqlite MLflow store and one real `mlflow server`
subprocess per session (MLflow start-up is slow on 2 cores; tests isolate themselves by using
their own experiment group / run)."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

import pytest

from orchestrator.tracking.store import configure_mlflow_env

configure_mlflow_env()

_ids = itertools.count(1)


@dataclass
class Job:
    """A plain record with the JobInfo fields of docs/CONTRACTS.md (what the queue hands over)."""

    config: dict[str, Any]
    group: str
    id: int = field(default_factory=lambda: next(_ids))
    spec_name: str = "tracking_test"
    sweep_id: int = 7
    run_hash: str = "0" * 64
    attempt: int = 1
    mlflow_run_id: str | None = None


@pytest.fixture(scope="session")
def train_config():
    from regseg.config import TrainConfig

    return TrainConfig(model_name="exp48_decoder26", dataset_name="synthetic", epochs=6,
                       dataset_dir="unused", seed=3)


@pytest.fixture
def make_job(train_config, request):
    """Job factory; the default group is unique per test so experiments never collide."""
    group = "t_" + request.node.name.replace("[", "_").replace("]", "_")[:60]

    def make(**overrides) -> Job:
        config = overrides.pop("config", train_config.model_dump(mode="json"))
        run_hash = overrides.pop("run_hash", train_config.run_hash())
        return Job(config=config, group=overrides.pop("group", group), run_hash=run_hash,
                   **overrides)

    return make


@pytest.fixture(scope="session")
def sqlite_store(tmp_path_factory) -> dict[str, Any]:
    """A real MLflow sqlite store with its artifact root: {'uri', 'artifact_root'}."""
    root = tmp_path_factory.mktemp("mlflow_store")
    return {"uri": f"sqlite:///{root / 'mlflow.db'}", "artifact_root": root / "mlartifacts"}


@pytest.fixture(scope="session")
def tracker(sqlite_store):
    from orchestrator.tracking import Tracker

    return Tracker(sqlite_store["uri"], artifact_root=sqlite_store["artifact_root"])


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` on 127.0.0.1 at a free port, started through `regseg ui`
    (restartable on the same port and store)."""
    from orchestrator.tracking.server import free_port

    from _tracking_helpers import UiServer

    root = tmp_path_factory.mktemp("mlflow_server")
    server = UiServer(tracking_uri=f"sqlite:///{root / 'server.db'}", home=root / "home",
                      port=free_port(), log_path=root / "server.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tiny_model():
    """The real RegSeg model (complexity figures are checked against the paper's)."""
    from regseg.models import build_model

    return build_model("exp48_decoder26", num_classes=19)


os.environ.setdefault("MPLBACKEND", "Agg")
