"""f-AnoGAN: WGAN-GP generator and critic plus an izi_f encoder (Schlegl et al. 2019)."""

from anomaly_gan.models.fanogan.gan import FAnoGAN, split_epochs

__all__ = ["FAnoGAN", "split_epochs"]
