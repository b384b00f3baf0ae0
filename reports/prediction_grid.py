"""A figure of the same sample images across configurations: one column per configuration,
one row per image (the training-time sample panels, regseg.predict.samples).

Cell ``(row r, column c)`` shows ``images[c][r]``; a configuration with fewer images than the
others leaves its lower cells empty ("missing"). Every cell has the aspect ratio of the first
image, so the figure is ``len(images) * cell_width`` inches wide and
``TITLE_HEIGHT + rows * cell_width * aspect`` inches high, saved at ``dpi`` (no tight bbox).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from reports.errors import ReportError

TITLE_HEIGHT = 0.4  # inches above the cells for the column titles


def _read(path: str | Path):
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"prediction grid: cannot read image {path} "
                          f"({type(exc).__name__})") from exc


def grid_size_inches(images: Mapping[str, Sequence[str | Path]], *, cell_width: float = 3.0,
                     first_shape: tuple[int, int] | None = None) -> tuple[float, float]:
    """(width, height) in inches of the figure for ``images`` (see the module docstring)."""
    rows = max(len(paths) for paths in images.values())
    if first_shape is None:
        first_shape = _read(next(p for paths in images.values() for p in paths)).shape[:2]
    aspect = first_shape[0] / first_shape[1]
    return len(images) * cell_width, TITLE_HEIGHT + rows * cell_width * aspect


def prediction_grid(images: Mapping[str, Sequence[str | Path]], out_path: str | Path, *,
                    cell_width: float = 3.0, dpi: int = 100) -> Path:
    """Write the grid of ``images`` (config label -> PNG paths, same images in the same order
    for every label) to ``out_path`` (PNG); returns the path. Raises ReportError when there is
    no image or one cannot be read."""
    if not images or not any(images.values()):
        raise ReportError("prediction grid: expected at least one configuration with images, "
                          "got none")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = {label: [_read(p) for p in paths] for label, paths in images.items()}
    first = next(arr for arrays in columns.values() for arr in arrays)
    width, height = grid_size_inches(images, cell_width=cell_width, first_shape=first.shape[:2])
    rows = max(len(arrays) for arrays in columns.values())
    fig = plt.figure(figsize=(width, height), dpi=dpi)
    cell_h = (height - TITLE_HEIGHT) / height / rows
    for c, (label, arrays) in enumerate(columns.items()):
        for r in range(rows):
            ax = fig.add_axes((c / len(columns), 1 - TITLE_HEIGHT / height - (r + 1) * cell_h,
                               1 / len(columns), cell_h))
            ax.set_axis_off()
            if r < len(arrays):
                ax.imshow(arrays[r], interpolation="nearest", aspect="auto")
            else:
                ax.text(0.5, 0.5, "missing", ha="center", va="center", fontsize=8, color="grey")
        fig.text((c + 0.5) / len(columns), 1 - TITLE_HEIGHT / height / 2, label, ha="center",
                 va="center", fontsize=8)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return out
