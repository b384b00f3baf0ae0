"""`regseg models` reads its figures from the on-disk cache once counted (issue 18: 24 s a call).

The warm path must not rebuild a model or even import torch; the figures it prints are the cached
ones; a cache that cannot be parsed is recounted; unknown names still fail with the registry's
message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from regseg.cli import app
from regseg.cli._model_table import cache_dir, fingerprint

runner = CliRunner()
MODEL = "exp48_decoder26"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REGSEG_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / f"models-{fingerprint()}.json"


def _rows(*args: str) -> list[dict]:
    result = runner.invoke(app, ["models", "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_counted_figures_are_written_and_then_read_back(cache: Path):
    [first] = _rows("-m", MODEL)
    assert first["params"] == 3_334_951 and first["gflops"] == pytest.approx(39.08, rel=0.005)
    stored = json.loads(cache.read_text())
    assert stored["rows"][f"{MODEL}@1024x2048"]["params"] == 3_334_951
    assert MODEL in stored["names"] and len(stored["names"]) == 101
    # a planted value shows that the second call reads the cache instead of counting
    stored["rows"][f"{MODEL}@1024x2048"]["gflops"] = 12.3456
    cache.write_text(json.dumps(stored))
    [second] = _rows("-m", MODEL)
    assert second["gflops"] == 12.35 and second["params"] == 3_334_951
    # another input size is another entry, counted once
    [half] = _rows("-m", MODEL, "--input-size", "512", "1024")
    assert half["gflops"] == pytest.approx(first["gflops"] / 4, rel=0.01)
    assert f"{MODEL}@512x1024" in json.loads(cache.read_text())["rows"]


def test_an_unreadable_cache_is_recounted(cache: Path):
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    [row] = _rows("-m", MODEL)
    assert row["params"] == 3_334_951
    assert json.loads(cache.read_text())["rows"][f"{MODEL}@1024x2048"]["params"] == 3_334_951


def test_unknown_name_still_fails_with_the_registry_message(cache: Path):
    _rows("-m", MODEL)
    result = runner.invoke(app, ["models", "-m", "exp48_decoder99"])
    assert result.exit_code != 0 and "decoder99" in str(result.exception)


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("REGSEG_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "regseg"


def test_a_warm_call_never_imports_torch(cache: Path):
    _rows("-m", MODEL, "-m", "ddrnet23")
    probe = ("import sys; from regseg.cli import main; sys.argv = ['regseg', 'models', '-m', "
             f"'{MODEL}', '-m', 'ddrnet23', '--format', 'json']\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120,
                          env={**os.environ, "REGSEG_CACHE_DIR": str(cache.parent)})
    assert done.returncode == 0, done.stderr
    assert {r["name"] for r in json.loads(done.stdout)} == {MODEL, "ddrnet23"}
    assert done.stderr.strip().endswith("NO-TORCH")
