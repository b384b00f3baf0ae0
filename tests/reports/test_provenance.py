"""regseg.provenance on real git checkouts and real directories."""

from __future__ import annotations

import json
import platform
import subprocess

import pytest

from regseg import provenance


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
                        "HOME": str(cwd), "PATH": "/usr/bin:/bin"})


@pytest.fixture
def checkout(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "a.py").write_text("x = 1\n")
    _git(repo, "add", "a.py")
    _git(repo, "commit", "-q", "-m", "one")
    return repo


def test_git_state_commit_and_dirty_flag(checkout, tmp_path):
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert provenance.git_state(checkout) == (head, False)
    (checkout / "untracked.txt").write_text("job output\n")
    assert provenance.git_state(checkout) == (head, False)  # untracked files do not count
    (checkout / "a.py").write_text("x = 2\n")
    assert provenance.git_state(checkout) == (head, True)
    outside = tmp_path / "plain"
    outside.mkdir()
    assert provenance.git_state(outside) == (None, None)
    assert provenance.git_state(tmp_path / "missing") == (None, None)


def _dataset(root, sizes):
    for rel, size in sizes.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
    return root


def test_dataset_fingerprint_is_the_sorted_listing_with_sizes(tmp_path):
    import hashlib

    files = {"leftImg8bit/val/a.png": 3, "gtFine/val/a_labelTrainIds.png": 5, "b.txt": 0}
    a = _dataset(tmp_path / "a", files)
    listing = "".join(f"{line}\n" for line in sorted(f"{k}\t{v}" for k, v in files.items()))
    assert provenance.dataset_fingerprint(a) == "sha256:" + hashlib.sha256(
        listing.encode()).hexdigest()
    b = _dataset(tmp_path / "b", files)  # the same files elsewhere: the same dataset
    assert provenance.dataset_fingerprint(b) == provenance.dataset_fingerprint(a)
    (b / "b.txt").write_bytes(b"1")  # a size changed
    assert provenance.dataset_fingerprint(b) != provenance.dataset_fingerprint(a)
    with pytest.raises(FileNotFoundError, match="dataset directory '.*nope' does not exist"):
        provenance.dataset_fingerprint(tmp_path / "nope")


def test_dataset_fingerprint_is_cached_per_directory_until_the_tree_changes(tmp_path):
    data = _dataset(tmp_path / "data", {"x/1.png": 2, "x/2.png": 2})
    cache = tmp_path / "cache"
    first = provenance.dataset_fingerprint(data, cache_dir=cache)
    stored = json.loads((cache / provenance.CACHE_FILE).read_text())
    assert stored[str(data.resolve())]["fingerprint"] == first
    # the cache answers while the tree is unchanged: a planted value comes back
    stored[str(data.resolve())]["fingerprint"] = "sha256:planted"
    (cache / provenance.CACHE_FILE).write_text(json.dumps(stored))
    assert provenance.dataset_fingerprint(data, cache_dir=cache) == "sha256:planted"
    (data / "x" / "3.png").write_bytes(b"zz")  # a new file: the directory's mtime moves
    fresh = provenance.dataset_fingerprint(data, cache_dir=cache)
    assert fresh not in ("sha256:planted", first)
    assert fresh == provenance.dataset_fingerprint(data)


def test_collect_and_tags(checkout, tmp_path):
    data = _dataset(tmp_path / "data", {"f": 1})
    info = provenance.collect(project_dir=checkout, dataset_dir=data, cache_dir=tmp_path / "c")
    assert info["python"] == platform.python_version() and info["git_dirty"] == "false"
    assert info["gpu"] and info["dataset_fingerprint"].startswith("sha256:")
    import torch

    assert info["torch"] == torch.__version__
    assert info["gpu"] == (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")
    tags = provenance.provenance_tags(info)
    assert tags["regseg.git_commit"] == info["git_commit"]
    assert tags["regseg.provenance.dataset_fingerprint"] == info["dataset_fingerprint"]
    assert all(k == "regseg.git_commit" or k.startswith("regseg.provenance.") for k in tags)
    missing = provenance.collect(project_dir=tmp_path / "none", dataset_dir=tmp_path / "none")
    assert missing["git_commit"] is None and missing["dataset_fingerprint"] is None
    assert "regseg.git_commit" not in provenance.provenance_tags(missing)
