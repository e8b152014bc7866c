"""GANomaly: encoder-decoder-encoder generator and a discriminator (Akcay et al. 2018)."""

from anomaly_gan.models.ganomaly.gan import GANomaly

__all__ = ["GANomaly"]
