"""Files a tracked run uploads as artifacts: the resolved config (YAML), the confusion matrix.

The confusion matrix CSV has rows = ground-truth class, columns = predicted class (counts, the
engine's final evaluation), with class names as header and index. The PNG shows the row-normalised
matrix (recall per class on the diagonal); it is drawn with matplotlib's Agg canvas directly so
no global backend is switched in the training process.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Mapping, Sequence


def write_config_yaml(config: Mapping[str, Any], path: Path) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(dict(config), sort_keys=True, default_flow_style=None),
                    encoding="utf-8")
    return path


def write_confusion_matrix(matrix, class_names: Sequence[str], folder: Path) -> list[Path]:
    """Write ``confusion_matrix.csv`` and ``confusion_matrix.png`` into ``folder``."""
    import numpy as np

    counts = np.asarray(matrix, dtype=np.int64)
    csv_path = folder / "confusion_matrix.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["true\\pred", *class_names])
        for name, row in zip(class_names, counts):
            writer.writerow([name, *(int(x) for x in row)])
    png_path = folder / "confusion_matrix.png"
    _plot(counts, class_names, png_path)
    return [csv_path, png_path]


def _plot(counts, class_names: Sequence[str], path: Path) -> None:
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    totals = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float),
                           where=totals > 0)
    n = len(class_names)
    fig = Figure(figsize=(max(4.0, 0.45 * n + 2), max(3.5, 0.45 * n + 1.5)), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(normalised, vmin=0.0, vmax=1.0, cmap="viridis")
    ax.set_xticks(range(n), labels=class_names, rotation=90, fontsize=7)
    ax.set_yticks(range(n), labels=class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    ax.set_title("confusion matrix (row-normalised)")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path)
