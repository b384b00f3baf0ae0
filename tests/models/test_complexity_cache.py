"""regseg.models.complexity_cache: GFLOPs counted once per architecture and code version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from regseg.models import build_model, complexity
from regseg.models import complexity_cache as cc


def _never() -> float:
    raise AssertionError("counted again although the figure is cached")


def test_a_counted_figure_is_read_back_per_architecture_and_code_version(tmp_path: Path,
                                                                         monkeypatch):
    model = build_model("exp48_decoder26", num_classes=19)
    counted = complexity.count_gflops(model, (1024, 2048))
    first = cc.cached_gflops("exp48_decoder26", 19, (1024, 2048),
                             lambda: complexity.count_gflops(model, (1024, 2048)),
                             directory=tmp_path)
    assert first == counted and f"{first:.2f}" == "39.08"  # the paper's Table 1 figure
    assert cc.cached_gflops("exp48_decoder26", 19, (1024, 2048), _never,
                            directory=tmp_path) == counted
    calls = []
    other = cc.cached_gflops("exp48_decoder26", 11, (1024, 2048),
                             lambda: calls.append(1) or 7.5, directory=tmp_path)
    assert (other, calls) == (7.5, [1])  # another number of classes is another architecture
    monkeypatch.setattr(cc, "code_fingerprint", lambda: "0" * 16)  # the model code changed
    assert cc.cached_gflops("exp48_decoder26", 19, (1024, 2048), lambda: 1.25,
                            directory=tmp_path) == 1.25


def test_a_garbled_cache_is_counted_again_and_rewritten(tmp_path: Path):
    path = tmp_path / f"gflops-{cc.code_fingerprint()}.json"
    path.write_text("{not json")
    assert cc.cached_gflops("exp48_decoder14", 19, (64, 128), lambda: 2.0,
                            directory=tmp_path) == 2.0
    assert json.loads(path.read_text()) == {"exp48_decoder14/19@64x128": 2.0}


@pytest.mark.parametrize("value", ["1.0", True, None])
def test_a_non_number_in_the_cache_is_not_trusted(tmp_path: Path, value):
    path = tmp_path / f"gflops-{cc.code_fingerprint()}.json"
    path.write_text(json.dumps({"exp48_decoder14/19@64x128": value}))
    assert cc.cached_gflops("exp48_decoder14", 19, (64, 128), lambda: 3.0,
                            directory=tmp_path) == 3.0
