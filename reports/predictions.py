"""Sample predictions per group: the same validation images, one column per configuration.

Each worker-trained run logs the best epoch's sample predictions under its ``predictions/``
artifacts (regseg.predict.SampleImagesCallback picks the same indices for every run of a
group). For each group this takes the first run (by seed) of every configuration that has them
and draws ``predictions_<group>.png`` with reports.prediction_grid. MLflow's API only.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from reports.prediction_grid import prediction_grid

ARTIFACT_DIR = "predictions"


def _sample_pngs(client: Any, run_id: str, into: Path) -> list[Path]:
    names = sorted(a.path for a in client.list_artifacts(run_id, ARTIFACT_DIR)
                   if a.path.endswith(".png"))
    return [Path(client.download_artifacts(run_id, name, str(into))) for name in names]


def prediction_figures(df, *, tracking_uri: str | None, out_dir: str | Path) -> list[Path]:
    """One ``predictions_<group>.png`` per group whose runs logged sample predictions."""
    from mlflow.tracking import MlflowClient

    if df is None or not len(df):
        return []
    client = MlflowClient(tracking_uri=tracking_uri)
    out = Path(out_dir)
    written = []
    with tempfile.TemporaryDirectory(prefix="regseg-predictions-") as tmp:
        for group, runs in df.sort_values(["group", "config_label", "seed"]).groupby("group"):
            columns: dict[str, list[Path]] = {}
            for label, arm in runs.groupby("config_label", sort=False):
                for run_id in arm["run_id"]:
                    pngs = _sample_pngs(client, run_id, Path(tmp) / run_id)
                    if pngs:
                        columns[str(label)] = pngs
                        break
            if columns:
                out.mkdir(parents=True, exist_ok=True)
                written.append(prediction_grid(columns, out / f"predictions_{group}.png"))
    return written
