"""Small encoder / decoder / discriminator networks shared by every GAN family.

Each builder returns a functional ``keras.Model`` made only of Keras built-in layers, so the
inference copies save as ``.keras`` and load with ``safe_mode=True`` without custom objects.

Two backbones, chosen by ``ModelConfig.backbone``:

- ``"dense"``: flatten the (W, F) window and stack ``Dense`` layers of ``hidden`` units.
- ``"conv1d"``: ``Conv1D`` stride-2 layers of ``hidden`` filters (each halves time); the decoder
  mirrors it with stride-2 ``Conv1DTranspose``. A window length W that is not a multiple of
  ``2 ** len(hidden)`` is zero-padded on the right before the encoder and cropped after the
  decoder, so every network maps (W, F) windows exactly.

Precision: hidden layers take ``dtype=keras.DTypePolicy(policy)`` (e.g. ``mixed_float16``),
while the latent code, the reconstruction and the logit are float32 layers, so the losses are
computed in float32. The discriminator's features are its last hidden activation and keep the
policy's compute dtype: under ``mixed_float16`` they, like any hidden activation, overflow
beyond 65,504 (the losses cast them to float32 first, which does not undo an ``inf``; training
then retries under float32, see ``anomaly_gan.train.FLOAT16_OVERFLOW``).

>>> enc = build_encoder(window=30, n_features=3, hidden=(8, 16), out_dim=4, backbone="conv1d")
>>> enc.output_shape
(None, 4)
"""

from __future__ import annotations

import math

import keras

from anomaly_gan.config import BACKBONES, Backbone

__all__ = [
    "BACKBONES",
    "Backbone",
    "build_decoder",
    "build_discriminator",
    "build_encoder",
    "padded_length",
]


_KERNEL = 4
_SLOPE = 0.2


def _check_backbone(backbone: str) -> None:
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; expected one of {', '.join(BACKBONES)}")


def padded_length(window: int, n_layers: int) -> int:
    """Smallest multiple of ``2 ** n_layers`` that holds ``window`` time steps.

    >>> padded_length(30, 2), padded_length(32, 2)
    (32, 32)
    """
    step = 2**n_layers
    return int(math.ceil(window / step) * step)


def _trunk(x: keras.KerasTensor, window: int, hidden: tuple[int, ...], backbone: str,
           policy: keras.DTypePolicy, prefix: str) -> keras.KerasTensor:
    """The shared downsampling trunk of encoders and discriminators; returns flat features."""
    if backbone == "dense":
        x = keras.layers.Flatten(dtype=policy, name=f"{prefix}flatten_in")(x)
        for i, units in enumerate(hidden):
            x = keras.layers.Dense(units, dtype=policy, name=f"{prefix}dense_{i}")(x)
            x = keras.layers.LeakyReLU(_SLOPE, dtype=policy, name=f"{prefix}act_{i}")(x)
        return x
    pad = padded_length(window, len(hidden)) - window
    if pad:
        x = keras.layers.ZeroPadding1D((0, pad), dtype=policy, name=f"{prefix}pad")(x)
    for i, filters in enumerate(hidden):
        x = keras.layers.Conv1D(filters, _KERNEL, strides=2, padding="same", dtype=policy,
                                name=f"{prefix}conv_{i}")(x)
        x = keras.layers.LeakyReLU(_SLOPE, dtype=policy, name=f"{prefix}act_{i}")(x)
    return keras.layers.Flatten(dtype=policy, name=f"{prefix}flatten")(x)


def build_encoder(window: int, n_features: int, hidden: tuple[int, ...], out_dim: int,
                  backbone: Backbone | str = "conv1d", policy: str = "float32",
                  name: str = "encoder") -> keras.Model:
    """(W, F) window -> (out_dim,) latent code; the code layer is float32."""
    _check_backbone(backbone)
    dtype = keras.DTypePolicy(policy)
    inputs = keras.Input((window, n_features), name=f"{name}_window")
    x = _trunk(inputs, window, tuple(hidden), backbone, dtype, "")
    z = keras.layers.Dense(out_dim, dtype="float32", name="latent")(x)
    return keras.Model(inputs, z, name=name)


def build_decoder(latent_dim: int, window: int, n_features: int, hidden: tuple[int, ...],
                  backbone: Backbone | str = "conv1d", policy: str = "float32",
                  name: str = "decoder") -> keras.Model:
    """(latent_dim,) code -> (W, F) window, the mirror of :func:`build_encoder`.

    The output layer is linear and float32: windows are robust/min-max scaled, not bounded,
    so a tanh/sigmoid would clip the extremes that anomalies live in.
    """
    _check_backbone(backbone)
    dtype = keras.DTypePolicy(policy)
    hidden = tuple(hidden)
    inputs = keras.Input((latent_dim,), name=f"{name}_latent")
    if backbone == "dense":
        x = inputs
        for i, units in enumerate(reversed(hidden)):
            x = keras.layers.Dense(units, dtype=dtype, name=f"dense_{i}")(x)
            x = keras.layers.LeakyReLU(_SLOPE, dtype=dtype, name=f"act_{i}")(x)
        x = keras.layers.Dense(window * n_features, dtype="float32", name="window_flat")(x)
        out = keras.layers.Reshape((window, n_features), dtype="float32", name="window")(x)
        return keras.Model(inputs, out, name=name)
    length = padded_length(window, len(hidden))
    steps = length // 2 ** len(hidden)
    x = keras.layers.Dense(steps * hidden[-1], dtype=dtype, name="project")(inputs)
    x = keras.layers.LeakyReLU(_SLOPE, dtype=dtype, name="project_act")(x)
    x = keras.layers.Reshape((steps, hidden[-1]), dtype=dtype, name="unflatten")(x)
    for i, filters in enumerate(reversed(hidden[:-1])):
        x = keras.layers.Conv1DTranspose(filters, _KERNEL, strides=2, padding="same",
                                         dtype=dtype, name=f"deconv_{i}")(x)
        x = keras.layers.LeakyReLU(_SLOPE, dtype=dtype, name=f"act_{i}")(x)
    x = keras.layers.Conv1DTranspose(n_features, _KERNEL, strides=2, padding="same",
                                     dtype="float32", name="window_padded")(x)
    if length != window:
        x = keras.layers.Cropping1D((0, length - window), dtype="float32", name="window")(x)
    return keras.Model(inputs, x, name=name)


def build_discriminator(window: int, n_features: int, hidden: tuple[int, ...],
                        backbone: Backbone | str = "conv1d", policy: str = "float32",
                        name: str = "discriminator") -> keras.Model:
    """(W, F) window -> [features (D,), logit (1,)].

    The features (the last hidden activation, flattened) drive GANomaly's feature-matching loss,
    f-AnoGAN's izi_f loss and the "discriminator" score component; the logit is float32 (a
    BCE logit for GANomaly, an unbounded critic value for the WGAN).
    """
    _check_backbone(backbone)
    dtype = keras.DTypePolicy(policy)
    inputs = keras.Input((window, n_features), name=f"{name}_window")
    features = _trunk(inputs, window, tuple(hidden), backbone, dtype, "")
    logit = keras.layers.Dense(1, dtype="float32", name="logit")(features)
    return keras.Model(inputs, [features, logit], name=name)
