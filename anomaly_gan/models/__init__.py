"""Keras 3 GAN families for windows of telemetry, one folder each: GANomaly and f-AnoGAN.

The model's job ends at raw outputs; turning them into a score is :mod:`anomaly_gan.scoring`'s.

    gan = build_gan(cfg.model, cfg.training, window, n_features)
    fit = fit_gan(gan, train_windows, val_windows, cfg.training)   # float32 (n, W, F), scaled
    nets = inference_networks(gan)          # {"scorer": float32 functional keras.Model}
    out = raw_outputs(gan.kind, nets, windows)

Where things live: the shared ``keras.Model`` machinery and the ``{kind: class}`` registry in
:mod:`.base`, the train steps of each Keras backend in :mod:`.steps`, the driver in
:mod:`.training`, precision and devices in :mod:`.precision` and :mod:`.distribution`, batched
inference in :mod:`.inference`, and each family in its own folder (``networks.py``,
``losses.py``, ``gan.py``). A new family is a new folder plus its kind (and hyperparameters)
in :mod:`anomaly_gan.config`.

``nets`` contains only Keras built-in layers: each saves as ``.keras`` and loads with
``keras.saving.load_model(path, safe_mode=True, compile=False)`` on either backend, and
``raw_outputs`` on the loaded nets equals ``raw_outputs`` on the originals bit for bit.
"""

from __future__ import annotations

import keras

from anomaly_gan.config import MODEL_KINDS
from anomaly_gan.models.base import GANBase, family
from anomaly_gan.models.fanogan import FAnoGAN
from anomaly_gan.models.ganomaly import GANomaly
from anomaly_gan.models.inference import output_keys, raw_outputs
from anomaly_gan.models.precision import resolve_precision
from anomaly_gan.models.training import FitResult, build_gan, fit_gan

__all__ = [
    "MODEL_KINDS",
    "FAnoGAN",
    "FitResult",
    "GANBase",
    "GANomaly",
    "build_gan",
    "family",
    "fit_gan",
    "inference_networks",
    "output_keys",
    "raw_outputs",
    "resolve_precision",
]


def inference_networks(gan: GANBase) -> dict[str, keras.Model]:
    """Float32 functional copies of the trained networks for saving and CPU scoring:
    ``{"scorer": model}``, one model mapping a window batch to the dict of
    :func:`output_keys` for ``gan.kind``, so serving makes one call per batch."""
    return gan.inference_networks()
