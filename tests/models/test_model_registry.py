"""Registry: names, errors, num_classes, decoders/bodies tables."""

from __future__ import annotations

import pytest
import torch

from regseg.errors import ConfigError, UnknownNameError
from regseg.models import (
    BODIES,
    build_model,
    describe,
    list_bodies,
    list_competitors,
    list_decoders,
    list_models,
    split_name,
)

PAPER_BODIES = ["exp30", "exp43", "exp46", "exp47", "exp48", "exp49", "exp50", "exp51", "exp52",
                "exp53", "regnety600mf"]
PAPER_DECODERS = ["decoder4", "decoder10", "decoder12", "decoder14", "decoder26", "decoder29",
                  "lraspp", "BisenetDecoder", "SFNetDecoder"]


def test_every_paper_body_and_decoder_is_registered():
    assert sorted(list_bodies()) == sorted(PAPER_BODIES)
    assert sorted(list_decoders()) == sorted(PAPER_DECODERS)
    assert list_competitors() == ["ddrnet23", "ddrnet23slim"]


def test_list_models_is_the_full_cross_product_plus_competitors():
    names = list_models()
    combos = {f"{b}_{d}" for b in PAPER_BODIES for d in PAPER_DECODERS}
    assert len(combos) == 99
    assert set(names) == combos | {"ddrnet23", "ddrnet23slim"}
    assert len(names) == len(set(names)) == 101


@pytest.mark.parametrize("bad", ["exp99_decoder26", "exp48_decoder99", "exp48", "", "ddrnet",
                                 "exp48_decoder26_extra"])
def test_unknown_name_lists_valid_bodies_and_decoders(bad):
    with pytest.raises(UnknownNameError) as info:
        build_model(bad)
    msg = str(info.value)
    assert repr(bad) in msg
    for name in PAPER_BODIES + PAPER_DECODERS + ["ddrnet23"]:
        assert name in msg


def test_unknown_name_is_a_key_error_with_exit_code():
    with pytest.raises(KeyError, match="model_name: expected '<body>_<decoder>' or a "
                                       "competitor, got 'nope'"):
        split_name("nope")
    assert UnknownNameError.exit_code == 2


@pytest.mark.parametrize("name", ["exp48_decoder26", "exp43_SFNetDecoder", "ddrnet23slim",
                                  "exp43_lraspp"])
def test_num_classes_sets_the_output_channels(name):
    model = build_model(name, num_classes=11).eval()
    with torch.inference_mode():
        out = model(torch.randn(1, 3, 64, 96))
    assert out.shape == (1, 11, 64, 96)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "19"])
def test_invalid_num_classes_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="num_classes"):
        build_model("exp48_decoder26", num_classes=bad)


def test_build_model_is_keyword_only():
    with pytest.raises(TypeError, match="takes 1 positional argument but 2 were given"):
        build_model("exp48_decoder26", 19)  # type: ignore[misc]


def test_bodies_are_data_rows():
    # Every body in the table is a row; adding one must not need code (the builder reads rows).
    for name, spec in BODIES.items():
        assert spec.dilations, name
        assert all(isinstance(d, tuple) and d for d in spec.dilations), name


def test_describe_gives_paper_notation_and_decoder_text():
    row = describe("exp48_decoder26")
    assert row["body"] == "exp48" and row["decoder"] == "decoder26"
    assert row["dilation_rates"] == "(1,1)+(1,2)+4*(1,4)+7*(1,14)"
    assert row["decoder_description"]
    assert row["output_stride"] == 4
    assert describe("ddrnet23")["dilation_rates"] is None
