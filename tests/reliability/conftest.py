"""Fixtures of the reliability suite: the queue databases of the orchestrator tests (SQLite and
PostgreSQL, ``db_url`` / ``pg_url``) and the storm's uninterrupted reference runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from storm import STORM_EPOCHS  # noqa: E402

from tests.orchestrator.conftest import db_url, pg_url, project  # noqa: E402,F401 - fixtures


@pytest.fixture(scope="session")
def storm_reference(synthetic_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    """(run_hash -> uninterrupted run directory, environment) for the storm's sweep."""
    from storm import storm_env, storm_spec, train_reference

    from orchestrator.specs import expand, load_spec

    root = tmp_path_factory.mktemp("storm_reference")
    path = root / "experiments" / "storm.yaml"
    path.parent.mkdir()
    path.write_text(storm_spec(synthetic_dataset, STORM_EPOCHS))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REGSEG_DATA_ROOTS", str(synthetic_dataset))
        runs = expand(load_spec(path, project_dir=root))
    configs = {r.run_hash: r.config.model_dump(mode="json") for r in runs}
    env = storm_env(root, synthetic_dataset)
    return train_reference(configs, root / "runs", env)
