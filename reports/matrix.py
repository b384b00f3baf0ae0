"""A group whose runs vary exactly two axes (e.g. body x decoder) as a matrix of cells.

Axes come from each run's config label (``k=v,k=v``, the grid point without the seed), with
``model_name`` split into ``body`` and ``decoder`` (``exp43_decoder14`` -> exp43, decoder14).
An axis varies when its runs take more than one value; with exactly two varying axes the
group's markdown also gets the matrix: rows = first axis, columns = second, each cell the
``mean ± std (n)`` of the runs at that point, a dash where no run is.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from reports.stats import DASH, Summary


def axes_of(run: Mapping[str, Any]) -> dict[str, str]:
    """The run's grid point as axis -> value."""
    out: dict[str, str] = {}
    for part in str(run.get("config_label") or "").split(","):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    model = out.pop("model_name", None) or str(run.get("model") or "")
    if model:
        body, _, decoder = model.partition("_")
        out["body"], out["decoder"] = body, decoder or DASH
    return out


def varying_axes(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Axes with more than one value over ``runs`` (a run lacking an axis counts as a dash)."""
    points = [axes_of(r) for r in runs]
    names = sorted({k for p in points for k in p})
    return [k for k in names if len({p.get(k, DASH) for p in points}) > 1]


def matrix_cells(runs: Sequence[Mapping[str, Any]], column: str
                 ) -> tuple[list[str], list[list[str]]] | None:
    """(headers, rows) of the two-axis matrix of ``column``, or None unless exactly two axes
    vary."""
    axes = varying_axes(runs)
    if len(axes) != 2:
        return None
    first, second = axes
    cells: dict[tuple[str, str], list[Any]] = {}
    for run in runs:
        point = axes_of(run)
        cells.setdefault((point.get(first, DASH), point.get(second, DASH)),
                         []).append(run.get(column))
    row_keys = sorted({a for a, _ in cells})
    col_keys = sorted({b for _, b in cells})
    rows = [[a] + [Summary.of(cells[(a, b)]).cell() if (a, b) in cells else DASH for b in col_keys]
            for a in row_keys]
    return [f"{first} \\ {second}"] + col_keys, rows
