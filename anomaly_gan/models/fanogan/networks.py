"""f-AnoGAN networks (Schlegl et al. 2019): generator G(z), critic C, encoder E.

G maps a latent code to a window, C scores windows (WGAN critic) and exposes its last hidden
features f, E maps a window back to G's latent space. At scoring time a window is reconstructed
as ``G(E(x))`` in one pass: no iterative latent search.
"""

from __future__ import annotations

import keras

from anomaly_gan.config import ModelConfig
from anomaly_gan.models.backbones import build_decoder, build_discriminator, build_encoder

__all__ = ["build_networks", "build_scorer"]


def build_networks(model: ModelConfig, window: int, n_features: int,
                   policy: str = "float32") -> dict[str, keras.Model]:
    """The three networks, named ``generator``, ``critic`` and ``encoder``."""
    hidden = tuple(model.hidden)
    return {
        "generator": build_decoder(model.latent_dim, window, n_features, hidden, model.backbone,
                                   policy, name="generator"),
        "critic": build_discriminator(window, n_features, hidden, model.backbone, policy,
                                      name="critic"),
        "encoder": build_encoder(window, n_features, hidden, model.latent_dim, model.backbone,
                                 policy, name="encoder"),
    }


def build_scorer(networks: dict[str, keras.Model], window: int, n_features: int) -> keras.Model:
    """One functional model: window -> ``reconstruction`` G(E(x)), ``features_real`` f(x) and
    ``features_fake`` f(G(E(x))) (the izi_f ingredients), as a dict."""
    x = keras.Input((window, n_features), name="window")
    x_hat = networks["generator"](networks["encoder"](x))
    features_real, _ = networks["critic"](x)
    features_fake, _ = networks["critic"](x_hat)
    outputs = {
        "reconstruction": x_hat,
        "features_real": features_real,
        "features_fake": features_fake,
    }
    return keras.Model(x, outputs, name="fanogan_scorer")
