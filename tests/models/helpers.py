"""Tiny configurations and windows so model tests stay fast on a shared 2-core CPU."""

from __future__ import annotations

import numpy as np

from anomaly_gan.config import BACKBONES, MODEL_KINDS, ModelConfig, TrainingConfig

KINDS = MODEL_KINDS
__all__ = ["BACKBONES", "KINDS", "sine_windows", "tiny_model", "tiny_training"]


def tiny_model(kind: str = "ganomaly", backbone: str = "conv1d",
               **overrides: object) -> ModelConfig:
    values: dict[str, object] = {"kind": kind, "backbone": backbone, "latent_dim": 3,
                                 "hidden": (4, 8), "n_critic": 2}
    values.update(overrides)
    return ModelConfig(**values)  # type: ignore[arg-type]


def tiny_training(**overrides: object) -> TrainingConfig:
    values: dict[str, object] = {"epochs": 1, "batch_size": 16, "patience": 2, "seed": 7,
                                 "precision": "float32", "verbose": 0, "min_steps": 0,
                                 "max_attempts": 1}
    values.update(overrides)
    return TrainingConfig(**values)  # type: ignore[arg-type]


def sine_windows(n: int, window: int, n_features: int, seed: int = 0,
                 noise: float = 0.05) -> np.ndarray:
    """Phase-shifted sines: an easy, varied signal a small GAN can learn quickly."""
    rng = np.random.default_rng(seed)
    t = np.arange(window)[None, :, None]
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1))
    freq = np.arange(1, n_features + 1)[None, None, :] * 0.3
    x = np.sin(freq * t + phase) + noise * rng.standard_normal((n, window, n_features))
    return x.astype(np.float32)
