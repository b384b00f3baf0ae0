"""`regseg report --plots` adds a figure per group: the runs' logged sample predictions (MLflow
artifacts under predictions/), one column per configuration (real sqlite MLflow store)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from reports.predictions import prediction_figures


def _png(path: Path, value: int) -> Path:
    Image.fromarray(np.full((16, 32, 3), value, dtype=np.uint8)).save(path)
    return path


def test_one_column_per_configuration_with_predictions(tmp_path: Path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("regseg/g", artifact_location=(tmp_path / "art").as_uri())
    rows = []
    for label, seed, logs in (("a", 1, True), ("a", 0, True), ("b", 0, True), ("c", 0, False)):
        run = client.create_run(exp).info.run_id
        if logs:
            for index in (3, 7):
                png = _png(tmp_path / f"sample_{index:05d}.png", 30 * index)
                client.log_artifact(run, str(png), "predictions")
        rows.append({"run_id": run, "group": "g", "config_label": label, "seed": seed})
    (figure,) = prediction_figures(pd.DataFrame(rows), tracking_uri=uri, out_dir=tmp_path / "p")
    assert figure.name == "predictions_g.png"
    with Image.open(figure) as im:
        width, height = im.size
    # two configurations with images (c logged none): two columns, two image rows
    (single,) = prediction_figures(pd.DataFrame(rows[2:]), tracking_uri=uri,
                                   out_dir=tmp_path / "q")
    with Image.open(single) as im:
        assert im.size[0] < width and im.size[1] == height


def test_no_figure_without_predictions(tmp_path: Path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("regseg/h")
    run = client.create_run(exp).info.run_id
    df = pd.DataFrame([{"run_id": run, "group": "h", "config_label": "a", "seed": 0}])
    assert prediction_figures(df, tracking_uri=uri, out_dir=tmp_path / "p") == []
