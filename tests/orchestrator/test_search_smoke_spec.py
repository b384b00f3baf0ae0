"""The shipped one-run search spec and the search summary (issue 18): the README's search
example runs on experiments/search_smoke.yaml, and the summary table shows sampled values to six
significant digits, so 0.0412 and 0.0437 no longer both print as 0.04."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from orchestrator.specs import expand, load_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "experiments" / "search_smoke.yaml"
PARAMS = ["--param", "lr=float:0.01:0.1:log", "--param", "aug_mode=choice:baseline,custom3"]


def test_search_smoke_is_one_run_on_the_synthetic_layout():
    [run] = expand(load_spec(SPEC, project_dir=ROOT))
    assert run.config.dataset_name == "synthetic" and run.config.dataset_dir == "data/synthetic"
    assert run.config.val_input_size == 64 and run.config.epochs <= 5


def test_search_summary_keeps_the_sampled_values(tmp_path: Path):
    from regseg.data import make_synthetic

    project = tmp_path / "project"
    shutil.copytree(ROOT / "experiments", project / "experiments")
    make_synthetic(project / "data" / "synthetic", train=4, val=2, size=(64, 128), seed=0)
    env = {k: v for k, v in os.environ.items() if k not in ("REGSEG_DB", "MLFLOW_TRACKING_URI")}
    env["REGSEG_HOME"] = str(project / ".regseg")
    base = [sys.executable, "-m", "regseg", "search", "experiments/search_smoke.yaml", *PARAMS,
            "--trials", "3", "--parallel", "3", "--no-wait", "--seed", "1"]
    table = subprocess.run(base, cwd=project, env=env, capture_output=True, text=True,
                           timeout=300)
    assert table.returncode == 0, table.stderr
    as_json = subprocess.run([*base, "--format", "json"], cwd=project, env=env,
                             capture_output=True, text=True, timeout=300)
    rows = json.loads(as_json.stdout)
    assert len(rows) == 3 and len({r["lr"] for r in rows}) == 3
    lines = table.stdout.splitlines()
    for row in rows:
        shown = f"{row['lr']:.6g}"
        assert len(shown) > len("0.04") and any(shown in line for line in lines), table.stdout
