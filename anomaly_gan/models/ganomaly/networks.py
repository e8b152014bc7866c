"""GANomaly networks (Akcay et al. 2018): G_E -> G_D -> E generator and a discriminator D.

The generator is an encoder-decoder-encoder: ``z = G_E(x)``, ``x_hat = G_D(z)``,
``z_hat = E(x_hat)``. A window the generator learnt to reconstruct has ``x_hat ~ x`` and
``z_hat ~ z``; an anomalous one does not, which is what the score components measure.
"""

from __future__ import annotations

import keras

from anomaly_gan.config import ModelConfig
from anomaly_gan.models.backbones import build_decoder, build_discriminator, build_encoder

__all__ = ["GENERATOR_NETWORKS", "build_networks", "build_scorer"]

GENERATOR_NETWORKS: tuple[str, ...] = ("encoder", "decoder", "encoder_hat")


def build_networks(model: ModelConfig, window: int, n_features: int,
                   policy: str = "float32") -> dict[str, keras.Model]:
    """The four networks, named ``encoder``, ``decoder``, ``encoder_hat`` and ``discriminator``."""
    hidden = tuple(model.hidden)
    return {
        "encoder": build_encoder(window, n_features, hidden, model.latent_dim, model.backbone,
                                 policy, name="encoder"),
        "decoder": build_decoder(model.latent_dim, window, n_features, hidden, model.backbone,
                                 policy, name="decoder"),
        "encoder_hat": build_encoder(window, n_features, hidden, model.latent_dim,
                                     model.backbone, policy, name="encoder_hat"),
        "discriminator": build_discriminator(window, n_features, hidden, model.backbone,
                                             policy, name="discriminator"),
    }


def build_scorer(networks: dict[str, keras.Model], window: int, n_features: int) -> keras.Model:
    """One functional model: window -> every raw output, so serving makes one call per batch.

    Outputs (a dict): ``reconstruction`` (W, F), ``latent`` and ``latent_hat`` (Z,),
    ``features_real`` and ``features_fake`` (D,): the discriminator's features of the window
    and of its reconstruction.
    """
    x = keras.Input((window, n_features), name="window")
    z = networks["encoder"](x)
    x_hat = networks["decoder"](z)
    z_hat = networks["encoder_hat"](x_hat)
    features_real, _ = networks["discriminator"](x)
    features_fake, _ = networks["discriminator"](x_hat)
    outputs = {
        "reconstruction": x_hat,
        "features_real": features_real,
        "features_fake": features_fake,
        "latent": z,
        "latent_hat": z_hat,
    }
    return keras.Model(x, outputs, name="ganomaly_scorer")
