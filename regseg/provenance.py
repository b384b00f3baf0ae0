"""Where a result came from: code version, software and hardware, and the dataset's identity.

Pure collectors (no tracking, no orchestrator): each returns plain strings or None where the
answer is not available (no git, no torch, no GPU), and :func:`provenance_tags` turns them into
the flat MLflow tag dict a run carries. Tag names (docs/CONTRACTS.md): the commit keeps its
existing name ``regseg.git_commit``; everything else is ``regseg.provenance.<field>``.

The dataset fingerprint is the sha256 of the sorted list of ``relative/path<TAB>size`` lines of
every file under the dataset directory. Hashing names and sizes (not contents) keeps it cheap
on a 25k-file Cityscapes tree while catching a missing, extra or truncated file. It is cached
in ``<cache_dir>/dataset_fingerprints.json`` keyed by the directory's resolved path and a stamp
of every sub-directory's mtime: adding, removing or renaming a file invalidates the entry; a
file rewritten in place with a new size does not (delete the cache file to force a rehash).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Mapping

#: Field -> MLflow tag name.
TAGS = {
    "git_commit": "regseg.git_commit",
    "git_dirty": "regseg.provenance.git_dirty",
    "python": "regseg.provenance.python",
    "torch": "regseg.provenance.torch",
    "cuda": "regseg.provenance.cuda",
    "cudnn": "regseg.provenance.cudnn",
    "gpu": "regseg.provenance.gpu",
    "dataset_fingerprint": "regseg.provenance.dataset_fingerprint",
}
CACHE_FILE = "dataset_fingerprints.json"
_GIT_TIMEOUT_S = 10


def _git(project_dir: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=project_dir, capture_output=True, text=True,
                              timeout=_GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(project_dir: str | Path) -> tuple[str | None, bool | None]:
    """(HEAD commit, dirty) of the checkout at ``project_dir``; (None, None) outside git.

    Dirty means tracked files differ from HEAD (staged or not); untracked files do not count,
    so job directories and caches inside the checkout do not make every run dirty.
    """
    path = Path(project_dir)
    if not path.is_dir():
        return None, None
    head = _git(path, "rev-parse", "HEAD")
    if not head or not head.strip():
        return None, None
    status = _git(path, "status", "--porcelain", "--untracked-files=no")
    return head.strip(), None if status is None else bool(status.strip())


def python_version() -> str:
    return platform.python_version()


def torch_versions() -> dict[str, str | None]:
    """``{torch, cuda, cudnn}`` versions as strings; None for what this build lacks."""
    import torch

    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"torch": str(torch.__version__), "cuda": torch.version.cuda,
            "cudnn": None if cudnn is None else str(cudnn)}


def gpu_name(device: int = 0) -> str:
    """The model of CUDA device ``device`` (as CUDA_VISIBLE_DEVICES numbers it), else ``cpu``."""
    import torch

    if not torch.cuda.is_available() or device >= torch.cuda.device_count():
        return "cpu"
    return str(torch.cuda.get_device_name(device))


def _file_listing(root: Path) -> list[str]:
    lines = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            path = Path(dirpath, name)
            try:
                size = path.stat().st_size
            except OSError:  # vanished while walking: not part of the dataset
                continue
            lines.append(f"{path.relative_to(root).as_posix()}\t{size}")
    return sorted(lines)


def listing_digest(root: str | Path) -> str:
    """sha256 (hex) of the sorted ``relative/path<TAB>size`` lines of every file under root."""
    h = hashlib.sha256()
    for line in _file_listing(Path(root)):
        h.update(line.encode("utf-8") + b"\n")
    return h.hexdigest()


def tree_stamp(root: str | Path) -> str:
    """sha256 of every directory's relative path and mtime (ns) under root, root included."""
    root = Path(root)
    h = hashlib.sha256()
    for dirpath, dirnames, _ in os.walk(root):
        dirnames.sort()
        rel = Path(dirpath).relative_to(root).as_posix()
        h.update(f"{rel}\t{os.stat(dirpath).st_mtime_ns}\n".encode("utf-8"))
    return h.hexdigest()


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # atomic: a concurrent reader sees the old or the new file


def dataset_fingerprint(dataset_dir: str | Path, *, cache_dir: str | Path | None = None) -> str:
    """``sha256:<hex>`` of the dataset's file listing (see the module docstring), computed once
    per (directory, tree stamp) when ``cache_dir`` is given. Raises FileNotFoundError when the
    directory does not exist."""
    root = Path(dataset_dir).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset directory {str(root)!r} does not exist")
    stamp = tree_stamp(root)
    cache_path = Path(cache_dir) / CACHE_FILE if cache_dir is not None else None
    cache = _read_cache(cache_path) if cache_path else {}
    entry = cache.get(str(root))
    if isinstance(entry, dict) and entry.get("stamp") == stamp and entry.get("fingerprint"):
        return str(entry["fingerprint"])
    fingerprint = "sha256:" + listing_digest(root)
    if cache_path is not None:
        cache = _read_cache(cache_path)  # re-read: another process may have added entries
        cache[str(root)] = {"stamp": stamp, "fingerprint": fingerprint}
        _write_cache(cache_path, cache)
    return fingerprint


def collect(*, project_dir: str | Path, dataset_dir: str | Path | None = None,
            cache_dir: str | Path | None = None, device: int = 0) -> dict[str, str | None]:
    """Every provenance field of :data:`TAGS` (None where unknown). A missing dataset directory
    gives a None fingerprint rather than an error: provenance never stops a run."""
    commit, dirty = git_state(project_dir)
    info: dict[str, str | None] = {
        "git_commit": commit, "git_dirty": None if dirty is None else str(dirty).lower(),
        "python": python_version(), **torch_versions(), "gpu": gpu_name(device),
        "dataset_fingerprint": None,
    }
    if dataset_dir is not None:
        try:
            info["dataset_fingerprint"] = dataset_fingerprint(dataset_dir, cache_dir=cache_dir)
        except OSError:
            info["dataset_fingerprint"] = None
    return info


def provenance_tags(info: Mapping[str, Any]) -> dict[str, str]:
    """Flat ``{tag name: value}`` for the known fields of ``info`` that are not None."""
    return {TAGS[k]: str(v) for k, v in info.items() if k in TAGS and v is not None}


__all__ = ["TAGS", "collect", "dataset_fingerprint", "git_state", "gpu_name", "listing_digest",
           "provenance_tags", "python_version", "torch_versions", "tree_stamp"]
