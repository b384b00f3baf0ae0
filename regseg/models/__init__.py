"""The RegSeg model zoo: bodies and decoders as data tables, one registry, weights loading,
complexity figures in the paper's convention.

``build_model("exp48_decoder26")`` is RegSeg; ``list_models()`` names every buildable model.
"""

from regseg.models import complexity
from regseg.models.bodies import BODIES, BodySpec
from regseg.models.complexity import count_gflops, count_params, field_of_view
from regseg.models.describe import describe, dilation_rates
from regseg.models.registry import (
                                    DECODERS,
                                    RegSeg,
                                    build_model,
                                    list_bodies,
                                    list_competitors,
                                    list_decoders,
                                    list_models,
                                    split_name,
)
from regseg.models.weights import (
                                    LoadReport,
                                    load_pretrained_backbone,
                                    load_weights,
                                    read_state_dict,
)

__all__ = [
    "BODIES", "BodySpec", "DECODERS", "LoadReport", "RegSeg", "build_model", "complexity",
    "count_gflops", "count_params", "describe", "dilation_rates", "field_of_view", "list_bodies",
    "list_competitors", "list_decoders", "list_models", "load_pretrained_backbone",
    "load_weights", "read_state_dict", "split_name",
]
