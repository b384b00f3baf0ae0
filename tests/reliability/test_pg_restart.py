"""PostgreSQL restarted mid-sweep: the workers reconnect and go on, and nothing is failed for
it. The test runs its own throwaway cluster (the recipe of tools/with-postgres) so it can stop
and start the server under the workers' feet."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from orchestrator import queue
from orchestrator.queue.store import close_all, open_store
from orchestrator.specs import load_and_expand

from tests.orchestrator._orch_helpers import lr_spec, quick_job_env, worker_argv

pytestmark = pytest.mark.reliability


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


class Cluster:
    """A private PostgreSQL cluster on 127.0.0.1 that the test can restart."""

    def __init__(self, root: Path) -> None:
        self.bin = _pg_bin()
        self.root = root
        self.data = root / "data"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(prefix + [str(self.bin / argv[0]), *argv[1:]], check=True,
                       capture_output=True, timeout=120)

    def init(self) -> "Cluster":
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        return self.start()

    def start(self) -> "Cluster":
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                  "-w", "start")
        return self

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def cluster():
    if _pg_bin() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no PostgreSQL server binaries (tools/with-postgres installs)")
        pytest.skip("no PostgreSQL server binaries")
    root = Path(tempfile.mkdtemp(prefix="regseg-pg-restart-"))
    os.chmod(root, 0o755)
    db = Cluster(root).init()
    try:
        yield db
    finally:
        close_all()
        try:
            db.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(root, ignore_errors=True)


def test_workers_ride_through_a_postgresql_restart(cluster: Cluster, project: Path,
                                                   tmp_path: Path):
    store = open_store(cluster.url)
    queue.submit(store, load_and_expand([lr_spec(project, 6)], project_dir=project),
                 max_attempts=1)
    env = quick_job_env(tmp_path, steps=20, step_seconds=0.1)
    logs = [tmp_path / f"w{i}.log" for i in range(2)]
    workers = [subprocess.Popen(worker_argv(cluster.url, lease=20, env=env,
                                            extra=("--exit-when-empty",)),
                                env=env, cwd=tmp_path, stdout=open(log, "wb"),
                                stderr=subprocess.STDOUT) for log in logs]
    deadline = time.monotonic() + 120
    while not any(j["state"] == "succeeded" for j in queue.jobs(store)):
        assert time.monotonic() < deadline, "no job finished before the restart"
        time.sleep(0.2)
    close_all()
    cluster.stop()  # every connection of every worker is cut
    time.sleep(3)
    cluster.start()
    for w, log in zip(workers, logs):
        assert w.wait(timeout=240) == 0, log.read_text()[-3000:]
    rows = queue.jobs(open_store(cluster.url))
    assert [r["state"] for r in rows] == ["succeeded"] * 6, [r["exit_reason"] for r in rows]
    assert all(r["attempts"] == 0 for r in rows)  # nothing was failed for the outage
    ledger = (tmp_path / "ledger.txt").read_text().split()
    assert sorted(ledger, key=int) == [str(r["id"]) for r in rows]  # each job ran to the end once
    assert any("failed" in log.read_text() or "Error" in log.read_text() for log in logs), \
        "the outage was not even noticed: the test did not test a restart"
