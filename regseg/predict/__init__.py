"""Looking at predictions: ``regseg predict`` and the training-time sample images.

``predict(model_name, weights, inputs, out_dir, ...)`` writes colour predictions, overlays,
ground truth and error maps (and a Cityscapes benchmark submission);
``SampleImagesCallback`` writes a fixed handful of validation predictions at each best epoch.
"""

from regseg.predict.errors import InputImageError, ModelMismatchError, WeightsFileError
from regseg.predict.run import PredictSummary, predict

__all__ = ["InputImageError", "ModelMismatchError", "PredictSummary", "WeightsFileError", "predict"]
