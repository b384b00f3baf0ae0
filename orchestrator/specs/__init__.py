"""Ablation specs: load (safe YAML with line numbers, ``extends``), validate, expand to hashed runs.

``loading`` reads a spec file and its ``extends`` chain into a ``Spec``; ``validation`` checks
shapes and keys; ``expand`` turns a ``Spec`` into ``Run`` records (the only producer of runs).
"""

from orchestrator.specs.expand import Run, expand
from orchestrator.specs.loading import Spec, confine, load_spec
from orchestrator.specs.source import format_path


def load_and_expand(paths, *, project_dir=None, overrides=None) -> list[tuple[Spec, list[Run]]]:
    """Load, validate and expand every spec first (nothing is submitted when any fails)."""
    batches = []
    for path in paths:
        spec = load_spec(path, project_dir=project_dir, overrides=overrides)
        batches.append((spec, expand(spec)))
    return batches


__all__ = ["Run", "Spec", "confine", "expand", "format_path", "load_and_expand", "load_spec"]
