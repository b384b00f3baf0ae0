"""The appendix's provenance certificates: values, warnings, and unknown for missing tags."""

from __future__ import annotations

from reports.certificates import certify, warnings_for
from reports.mlflow_source import frame_from_records
from reports.report import report_from_frame

from tests.reports.test_tables import run


def _prov(rec, commit="", dirty="", fingerprint="", spec=""):
    rec.update(git_commit=commit, git_dirty=dirty, dataset_fingerprint=fingerprint, spec_hash=spec,
               python="3.11.2", torch="2.4.0", cuda="12.1", gpu="NVIDIA H200")
    return rec


def test_clean_rows_have_full_certificates_and_no_warnings():
    runs = [_prov(run("decoder", f"exp43_decoder{d}", 75.0 + s, seed=s), "a" * 40, "false",
                  "sha256:" + "f" * 64, "s" * 64) for d in (14, 26) for s in (0, 1)]
    by_id = {r["run_id"]: r for r in runs}
    c = certify("decoder / decoder14", [runs[0]["run_id"], runs[1]["run_id"]], by_id)
    assert c.code == "a" * 12 and c.spec_hash == "s" * 12 and c.dataset == "sha256:" + "f" * 12
    assert c.environment == "python 3.11.2, torch 2.4.0, CUDA 12.1, NVIDIA H200"
    assert warnings_for([c, certify("x", [runs[2]["run_id"]], by_id)]) == []


def test_mixed_commits_dirty_trees_and_datasets_are_flagged():
    a = _prov(run("decoder", "exp43_decoder14", 75.0), "a" * 40, "false", "sha256:1")
    b = _prov(run("decoder", "exp43_decoder14", 75.1, seed=1), "b" * 40, "true", "sha256:1")
    c = _prov(run("decoder", "exp43_decoder26", 75.2), "a" * 40, "false", "sha256:2")
    by_id = {r["run_id"]: r for r in (a, b, c)}
    row1 = certify("decoder14", [a["run_id"], b["run_id"]], by_id)
    row2 = certify("decoder26", [c["run_id"]], by_id)
    assert row1.code == f"{'a' * 12}; {'b' * 12}+dirty"
    warnings = warnings_for([row1, row2])
    assert f"row decoder14 mixes commits: {'a' * 12}, {'b' * 12}" in warnings
    assert "runs from a dirty tree (uncommitted changes) in: decoder14" in warnings
    assert "dataset fingerprints differ within this table: sha256:1, sha256:2" in warnings
    md = report_from_frame(frame_from_records([a, b, c])).markdown
    appendix = md[md.index("## Appendix"):]
    assert "**warning:** row decoder / decoder14 mixes commits" in appendix
    assert "dataset fingerprints differ within this table" in appendix


def test_missing_tags_show_unknown_and_never_crash():
    bare = run("my_sweep", "exp48_decoder26", 70.0)  # no provenance columns at all
    md = report_from_frame(frame_from_records([bare])).markdown
    line = next(row for row in md[md.index("## Appendix"):].splitlines()
                if bare["run_id"] in row)
    assert line.count("unknown") == 4  # code, spec hash, dataset, environment
    assert certify("ghost", ["not-a-run"], {}).cells()[3:] == ["unknown"] * 4


def test_imported_reference_rows_certify_their_log_file(imported_store):
    import hashlib

    from reports.report import build_report

    from tests.reports.conftest import EXP43

    md = build_report(tracking_uri=imported_store[0]).markdown
    digest = hashlib.sha256(EXP43.read_bytes()).hexdigest()[:12]
    assert f"log {EXP43.name} sha256:{digest}" in md
