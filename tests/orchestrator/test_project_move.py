"""A copied project's queue names the copy (issue 18): with the embedded SQLite queue inside the
project, ``sweeps.project_dir`` is stored relative to the database, so a claim from the copy runs
its job in the copy (its data, its specs), even while the original still exists."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from sqlalchemy import text

from orchestrator import queue
from orchestrator.queue.store import close_all, open_store
from orchestrator.specs import expand, load_spec
from regseg.cli._eval_source import from_run

from _orch_helpers import lr_spec


def _submit(url: str, project: Path) -> None:
    spec = load_spec(lr_spec(project, 2), project_dir=project)
    queue.submit(open_store(url), [(spec, expand(spec))])


def _stored(url: str) -> str:
    with open_store(url, create=False).session_scope() as session:
        return session.execute(text("SELECT project_dir FROM sweeps")).scalar_one()


def test_a_copied_projects_queue_runs_jobs_in_the_copy(project: Path, tmp_path: Path):
    url = f"sqlite:///{project / '.regseg' / 'queue.db'}"
    _submit(url, project)
    assert _stored(url) == ".."  # relative to <project>/.regseg/
    store = open_store(url)
    first = queue.claim(store, "w0", lease_seconds=30)
    queue.record(store, first.id, "w0", job_dir=str(project / ".regseg" / "jobs" / "1"))
    queue.succeed(store, first.id, "w0")
    best = project / ".regseg" / "jobs" / "1" / "checkpoints" / "best.pt"
    best.parent.mkdir(parents=True)
    torch.save({"model": {}, "config": {"dataset_dir": "data"}}, best)
    close_all()
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(project, copy)
    copied = queue.claim(open_store(f"sqlite:///{copy / '.regseg' / 'queue.db'}", create=False),
                         "w", lease_seconds=30)
    assert copied is not None and Path(copied.project_dir) == copy.resolve()
    original = queue.claim(open_store(url, create=False), "w", lease_seconds=30)
    assert original is not None and Path(original.project_dir) == project.resolve()
    # the finished job's directory, as `regseg status` and `regseg eval --run` read it
    copy_url = f"sqlite:///{copy / '.regseg' / 'queue.db'}"
    [done] = queue.jobs(open_store(copy_url), states=["succeeded"])
    assert Path(done["job_dir"]) == (copy / ".regseg" / "jobs" / "1").resolve()
    source = from_run("1", db=copy_url, tracking_uri=None)
    assert source.weights.resolve().is_relative_to(copy.resolve()), source
    assert source.project_dir == copy.resolve()


@pytest.mark.parametrize("where", ["postgresql", "sqlite elsewhere"])
def test_a_queue_outside_the_project_keeps_the_absolute_path(where: str, project: Path,
                                                             tmp_path: Path, request):
    # PostgreSQL (every host must see the same path) or a SQLite file beside the project
    url = (request.getfixturevalue("pg_url") if where == "postgresql"
           else f"sqlite:///{tmp_path / 'state' / 'queue.db'}")
    _submit(url, project)
    assert _stored(url) == str(project.resolve())
    job = queue.claim(open_store(url), "w", lease_seconds=30)
    assert job is not None and job.project_dir == str(project.resolve())


def test_rows_written_before_relative_paths_come_back_unchanged(project: Path):
    url = f"sqlite:///{project / '.regseg' / 'queue.db'}"
    _submit(url, project)
    with open_store(url).session_scope() as session:  # as an older version stored it
        session.execute(text("UPDATE sweeps SET project_dir = :p"), {"p": "/old/absolute/project"})
    job = queue.claim(open_store(url), "w", lease_seconds=30)
    assert job is not None and job.project_dir == "/old/absolute/project"
