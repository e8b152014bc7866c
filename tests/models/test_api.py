"""The public model API: shapes of raw outputs, save/load, input checks, precision."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from anomaly_gan.errors import DataError
from anomaly_gan.models import (
    MODEL_KINDS,
    build_gan,
    family,
    fit_gan,
    inference_networks,
    output_keys,
    raw_outputs,
)
from tests.models.helpers import BACKBONES, KINDS, sine_windows, tiny_model, tiny_training


def test_every_kind_has_a_registered_family_in_its_own_folder() -> None:
    assert MODEL_KINDS == ("ganomaly", "fanogan")
    for kind in MODEL_KINDS:
        cls = family(kind)
        assert cls.kind == kind and cls.__module__ == f"anomaly_gan.models.{kind}.gan"
        assert cls.output_keys[0] == "reconstruction"
    with pytest.raises(ValueError, match="ganomaly, fanogan"):
        family("tadgan")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("window", [9, 16])
def test_raw_output_shapes(kind: str, backbone: str, window: int) -> None:
    gan = build_gan(tiny_model(kind, backbone), tiny_training(), window, 3)
    x = sine_windows(5, window, 3)
    out = raw_outputs(kind, inference_networks(gan), x, batch_size=2)
    assert set(out) == set(output_keys(kind))
    assert out["reconstruction"].shape == (5, window, 3)
    assert out["features_real"].shape == out["features_fake"].shape
    assert out["features_real"].shape[0] == 5 and out["features_real"].ndim == 2
    if kind == "ganomaly":
        assert out["latent"].shape == out["latent_hat"].shape == (5, 3)
    assert all(v.dtype == np.float32 and np.all(np.isfinite(v)) for v in out.values())
    # The inference nets compute what the training model does (same weights, float32).
    np.testing.assert_allclose(out["reconstruction"], np.asarray(gan(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # trains a model
@pytest.mark.parametrize("kind", KINDS)
def test_save_load_safe_mode_gives_identical_outputs(kind: str, tmp_path: Path,
                                                     windows: np.ndarray) -> None:
    gan = build_gan(tiny_model(kind, "conv1d"), tiny_training(), 9, 3)
    fit_gan(gan, windows[:32], windows[32:], tiny_training())
    nets = inference_networks(gan)
    before = raw_outputs(kind, nets, windows)
    loaded = {}
    for name, net in nets.items():
        path = tmp_path / f"{name}.keras"
        net.save(path)
        loaded[name] = keras.saving.load_model(path, safe_mode=True, compile=False)
    after = raw_outputs(kind, loaded, windows)
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])
    again = raw_outputs(kind, loaded, windows)
    for key in before:
        np.testing.assert_array_equal(after[key], again[key])


def test_inference_networks_are_float32_after_mixed_training(windows: np.ndarray) -> None:
    gan = build_gan(tiny_model(), tiny_training(precision="mixed_bfloat16"), 9, 3)
    nets = inference_networks(gan)
    layers = [layer for net in nets.values() for layer in net._flatten_layers()]
    assert layers and all(layer.dtype_policy.name == "float32" for layer in layers
                          if hasattr(layer, "dtype_policy"))
    trained = gan.networks["decoder"].get_weights()
    copied = nets["scorer"].get_layer("decoder").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(trained, copied, strict=True))


def test_raw_outputs_rejects_wrong_shapes_and_kinds(windows: np.ndarray) -> None:
    nets = inference_networks(build_gan(tiny_model(), tiny_training(), 9, 3))
    with pytest.raises(DataError, match=r"\(n, 9, 3\)"):
        raw_outputs("ganomaly", nets, windows[:, :8])
    with pytest.raises(ValueError, match="ganomaly, fanogan"):
        raw_outputs("tadgan", nets, windows)
    empty = raw_outputs("ganomaly", nets, windows[:0])
    assert empty["reconstruction"].shape == (0, 9, 3)
    assert empty["latent"].shape == (0, 3)


def test_fit_rejects_mismatched_or_non_finite_windows(windows: np.ndarray) -> None:
    gan = build_gan(tiny_model(), tiny_training(), 9, 3)
    with pytest.raises(DataError, match="train"):
        fit_gan(gan, windows[:, :, :2], windows, tiny_training())
    bad = windows.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        fit_gan(gan, windows, bad, tiny_training())
