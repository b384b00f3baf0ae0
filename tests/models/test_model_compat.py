"""The zoo is the reference's zoo: state-dict keys/shapes, logits, and weights loading."""

from __future__ import annotations

import pytest
import torch
from _zoo_helpers import COMPAT, parse_keys

from regseg.errors import CheckpointError, WeightsMismatchError
from regseg.models import build_model, load_pretrained_backbone, load_weights, read_state_dict

KEY_LISTINGS = sorted(p.name[: -len(".keys.txt")] for p in (COMPAT / "keys").glob("*.keys.txt"))


def test_key_listings_are_present():
    # 23 listings ship with the repo; an empty glob would silently skip the parametrized test.
    assert len(KEY_LISTINGS) >= 20
    assert "exp48_decoder26" in KEY_LISTINGS and "ddrnet23" in KEY_LISTINGS


@pytest.mark.parametrize("name", KEY_LISTINGS)
def test_state_dict_keys_and_shapes_equal_the_reference(name):
    want = parse_keys(COMPAT / "keys" / f"{name}.keys.txt")
    got = [(k, tuple(v.shape)) for k, v in build_model(name).state_dict().items()]
    assert [k for k, _ in got] == [k for k, _ in want]  # same keys, same module order
    assert got == want


@pytest.fixture(scope="module")
def reference():
    x = torch.load(COMPAT / "exp48_decoder26.input.pt", weights_only=True)
    y = torch.load(COMPAT / "exp48_decoder26.logits.pt", weights_only=True)
    return x, y


def _logits(name: str, x: torch.Tensor) -> torch.Tensor:
    model = build_model(name)
    load_weights(model, COMPAT / "exp48_decoder26.pt", strict=True)
    model.eval()
    with torch.inference_mode():
        return model(x)


def test_exp48_decoder26_reproduces_the_reference_logits(reference):
    x, y = reference
    out = _logits("exp48_decoder26", x)
    assert out.shape == y.shape == (1, 19, 256, 512)
    assert (out - y).abs().max().item() < 1e-4


def test_the_logits_check_detects_other_dilation_rates(reference):
    # exp43 has the same tensor shapes as exp48 (only the dilations differ), so the weights load
    # strictly; the logits must not match -- the reference test discriminates dilation rates.
    x, y = reference
    out = _logits("exp43_decoder26", x)
    assert (out - y).abs().max().item() > 1e-3


def test_bare_state_dict_and_in_memory_mapping_load(tmp_path):
    sd = read_state_dict(COMPAT / "exp48_decoder26.pt")
    torch.save(sd, tmp_path / "bare.pt")
    for source in (tmp_path / "bare.pt", {"model": sd}, sd):
        model = build_model("exp48_decoder26")
        report = load_weights(model, source)
        assert report.clean
        assert torch.equal(model.state_dict()["decoder.classifier.weight"],
                           sd["decoder.classifier.weight"])


def test_mismatch_lists_missing_unexpected_and_wrongly_shaped_keys():
    model = build_model("exp48_decoder14")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightsMismatchError) as info:
        load_weights(model, COMPAT / "exp48_decoder26.pt")
    msg = str(info.value)
    assert "missing" in msg and "decoder.conv.conv.weight" in msg
    assert "unexpected" in msg and "decoder.head4.conv.weight" in msg
    assert ("wrong shape" in msg
            and "decoder.classifier.weight: (19, 64, 1, 1) -> (19, 128, 1, 1)" in msg)
    # nothing was loaded on failure
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_non_strict_loads_only_matching_tensors():
    model = build_model("exp48_decoder14")
    sd = read_state_dict(COMPAT / "exp48_decoder26.pt")
    report = load_weights(model, sd, strict=False)
    assert "decoder.conv.conv.weight" in report.missing
    assert torch.equal(model.state_dict()["body.stage16.12.conv1.weight"],
                       sd["body.stage16.12.conv1.weight"])


def test_change_num_classes_keeps_everything_but_the_classifier():
    sd = read_state_dict(COMPAT / "exp48_decoder26.pt")
    model = build_model("exp48_decoder26", num_classes=11)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightsMismatchError, match="decoder.classifier.weight"):
        load_weights(model, COMPAT / "exp48_decoder26.pt")
    report = load_pretrained_backbone(model, COMPAT / "exp48_decoder26.pt")
    assert [r.split(":")[0] for r in report.reinitialised] == ["decoder.classifier.weight",
                                                                 "decoder.classifier.bias"]
    after = model.state_dict()
    for key, value in after.items():
        expected = fresh[key] if key.startswith("decoder.classifier.") else sd[key]
        assert torch.equal(value, expected), key
    model.eval()
    with torch.inference_mode():
        assert model(torch.randn(1, 3, 64, 128)).shape == (1, 11, 64, 128)


def test_weights_only_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {"x": torch.zeros(1)}, "extra": _Custom()}, path)
    with pytest.raises(CheckpointError, match="weights-only"):
        load_weights(build_model("exp48_decoder26"), path)


def test_missing_file_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="existing file"):
        load_weights(build_model("exp48_decoder26"), tmp_path / "absent.pt")


class _Custom:
    pass
