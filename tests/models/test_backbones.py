"""Every backbone maps (W, F) windows exactly, whatever W, and keeps outputs float32."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from anomaly_gan.config import BACKBONES
from anomaly_gan.models.backbones import (
    build_decoder,
    build_discriminator,
    build_encoder,
    padded_length,
)


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("window", [4, 7, 9, 16, 33])
def test_networks_round_trip_any_window_length(backbone: str, window: int) -> None:
    hidden = (4, 8)
    enc = build_encoder(window, 3, hidden, 5, backbone)
    dec = build_decoder(5, window, 3, hidden, backbone)
    disc = build_discriminator(window, 3, hidden, backbone)
    x = np.random.default_rng(0).standard_normal((2, window, 3)).astype("float32")
    z = enc(x)
    assert tuple(z.shape) == (2, 5)
    assert tuple(dec(z).shape) == (2, window, 3)
    features, logit = disc(x)
    assert features.shape[0] == 2 and features.shape[1] > 0
    assert tuple(logit.shape) == (2, 1)


def test_padded_length_is_the_next_multiple() -> None:
    assert [padded_length(w, 2) for w in (4, 5, 8, 9)] == [4, 8, 8, 12]


def test_unknown_backbone_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="dense, conv1d"):
        build_encoder(8, 2, (4,), 2, "lstm")


@pytest.mark.parametrize("policy,compute", [("mixed_float16", "float16"),
                                            ("mixed_bfloat16", "bfloat16")])
def test_mixed_policy_hidden_layers_compute_low_precision_outputs_float32(
        policy: str, compute: str) -> None:
    dec = build_decoder(3, 9, 2, (4, 8), "conv1d", policy)
    hidden = [layer for layer in dec.layers if layer.name.startswith("deconv")]
    assert hidden and all(layer.compute_dtype == compute for layer in hidden)
    assert all(v.dtype == "float32" for v in dec.weights)  # variables stay float32
    out = dec(np.zeros((2, 3), "float32"))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
