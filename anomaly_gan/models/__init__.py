"""Keras 3 GAN families for windows of telemetry: GANomaly and f-AnoGAN.

The model's job ends at raw outputs; turning them into a score is :mod:`anomaly_gan.scoring`'s.

    gan = build_gan(cfg.model, cfg.training, window, n_features)
    fit = fit_gan(gan, train_windows, val_windows, cfg.training)   # float32 (n, W, F), scaled
    nets = inference_networks(gan)          # {"scorer": float32 functional keras.Model}
    out = raw_outputs(gan.kind, nets, windows)

``nets`` contains only Keras built-in layers: each saves as ``.keras`` and loads with
``keras.saving.load_model(path, safe_mode=True, compile=False)``, and ``raw_outputs`` on the
loaded nets equals ``raw_outputs`` on the originals bit for bit.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from anomaly_gan.config import ModelConfig, TrainingConfig
from anomaly_gan.errors import DataError
from anomaly_gan.models.base import GANBase
from anomaly_gan.models.fanogan import FAnoGAN, split_epochs
from anomaly_gan.models.ganomaly import GANomaly
from anomaly_gan.models.health import assess_health
from anomaly_gan.models.training import (
    FitResult,
    Progress,
    make_optimizer,
    resolve_precision,
    run_fit,
    schedule_learning_rate,
    seed_everything,
    steps_per_epoch,
)

__all__ = [
    "MODEL_KINDS",
    "OUTPUT_KEYS",
    "FAnoGAN",
    "FitResult",
    "GANomaly",
    "build_gan",
    "fit_gan",
    "inference_networks",
    "raw_outputs",
    "resolve_precision",
]

MODEL_KINDS: tuple[str, ...] = ("ganomaly", "fanogan")

OUTPUT_KEYS: dict[str, tuple[str, ...]] = {
    "ganomaly": ("reconstruction", "features_real", "features_fake", "latent", "latent_hat"),
    "fanogan": ("reconstruction", "features_real", "features_fake"),
}
"""The arrays :func:`raw_outputs` returns for each kind."""

_HEALTH_BATCH = 512


def _check_kind(kind: str) -> None:
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {', '.join(MODEL_KINDS)}")


def build_gan(model: ModelConfig, training: TrainingConfig, window: int,
              n_features: int) -> GANBase:
    """A compiled, seeded GAN of ``model.kind`` for (window, n_features) windows.

    Seeds everything from ``training.seed`` first, so the initial weights are reproducible, and
    builds the optimizers (one per network, loss-scaled under ``mixed_float16``).
    """
    _check_kind(model.kind)
    if window < 2 or n_features < 1:
        raise DataError(f"windows must be at least 2 steps of 1 feature, got ({window}, "
                        f"{n_features})")
    policy = resolve_precision(training.precision)
    seed_everything(training.seed)
    gan: GANBase
    if model.kind == "ganomaly":
        gan = GANomaly(model, window=window, n_features=n_features, policy=policy,
                       seed=training.seed)
        gan.compile(d_optimizer=make_optimizer(training, policy, "d_adam"),
                    g_optimizer=make_optimizer(training, policy, "g_adam"))
    else:
        gan = FAnoGAN(model, window=window, n_features=n_features, policy=policy,
                      seed=training.seed)
        gan.compile(c_optimizer=make_optimizer(training, policy, "c_adam"),
                    g_optimizer=make_optimizer(training, policy, "g_adam"),
                    e_optimizer=make_optimizer(training, policy, "e_adam"))
    gan.build_optimizers()
    return gan


def _as_windows(name: str, data: Any, window: int, n_features: int) -> np.ndarray:
    arr = np.asarray(data, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[1:] != (window, n_features):
        raise DataError(f"{name}: expected windows of shape (n, {window}, {n_features}), "
                        f"got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name}: windows contain NaN or infinite values")
    return arr


def _all_finite(history: dict[str, list[float]]) -> bool:
    return all(math.isfinite(v) for values in history.values() for v in values)


def fit_gan(gan: GANBase, train: np.ndarray, val: np.ndarray, training: TrainingConfig,
            progress: Progress | None = None) -> FitResult:
    """Train ``gan`` in place and report how it went; never raises on an unhealthy run.

    Early stopping (patience ``training.patience``, best weights restored) watches the
    validation reconstruction loss: ``val_rec_loss`` for GANomaly, ``val_izi_loss`` for
    f-AnoGAN. With an empty ``val`` it runs all epochs. f-AnoGAN splits ``training.epochs``
    with :func:`anomaly_gan.models.fanogan.split_epochs` (2/3 WGAN-GP, then 1/3 encoder, at
    least one each); its encoder phase is skipped when the GAN phase produced non-finite
    losses. ``progress`` gets one line per epoch.
    """
    train = _as_windows("train", train, gan.window, gan.n_features)
    val = _as_windows("val", val, gan.window, gan.n_features)
    if len(train) == 0:
        raise DataError("train: no windows to train on")
    seed_everything(training.seed)
    gan.build_optimizers()
    monitor = gan.monitor if len(val) else None
    label = gan.kind
    # Schedules span the planned steps (early stopping may end sooner); the step functions
    # are retraced so they read the schedules set here.
    gan.train_function = None
    if isinstance(gan, FAnoGAN):
        gan_epochs, encoder_epochs = split_epochs(training.epochs)
        total = gan_epochs + encoder_epochs
        # f-AnoGAN keeps the constant rate of its papers (Gulrajani et al.'s WGAN-GP
        # Algorithm 1, Schlegl et al.'s encoder training): a decaying rate starved the
        # generator, and then the encoder, on short runs. It still gets the step floor.
        for optimizer in gan.optimizers().values():
            schedule_learning_rate(optimizer, training, 0)
        gan.set_phase("gan")
        history, epochs_run, _ = run_fit(gan, train, val, epochs=gan_epochs, training=training,
                                         monitor=None, progress=progress,
                                         label=f"{label} [gan]", total_epochs=total)
        best: int | None = None
        if _all_finite(history):
            gan.set_phase("encoder")
            enc_history, enc_run, enc_best = run_fit(
                gan, train, val, epochs=encoder_epochs, training=training, monitor=monitor,
                progress=progress, label=f"{label} [encoder]", total_epochs=total,
                offset=epochs_run)
            history.update(enc_history)
            best = None if enc_best is None else epochs_run + enc_best
            epochs_run += enc_run
    else:
        steps = training.epochs * steps_per_epoch(len(train), training.batch_size,
                                                  training.epochs, training.min_steps)
        for optimizer in gan.optimizers().values():
            schedule_learning_rate(optimizer, training, steps)
        history, epochs_run, best = run_fit(gan, train, val, epochs=training.epochs,
                                            training=training, monitor=monitor,
                                            progress=progress, label=label,
                                            total_epochs=training.epochs)
    reference = val[:_HEALTH_BATCH] if len(val) >= 2 else train[:_HEALTH_BATCH]
    health = assess_health(history, disc_loss_key=gan.disc_loss_key,
                           adv_loss_key=gan.adv_loss_key,
                           samples=gan.health_samples(reference, training.seed),
                           reference=reference)
    health.update(gan.health_figures())
    health.update({"kind": gan.kind, "precision": gan.policy, "epochs_run": epochs_run,
                   "best_epoch": best})
    return FitResult(history=history, health=health, epochs_run=epochs_run, best_epoch=best,
                     precision=gan.policy)


def inference_networks(gan: GANBase) -> dict[str, keras.Model]:
    """Float32 functional copies of the trained networks for saving and CPU scoring.

    Returns ``{"scorer": model}``, one model mapping a window batch to the dict of
    :data:`OUTPUT_KEYS` for ``gan.kind``, so serving makes one call per batch.
    """
    return gan.inference_networks()


def raw_outputs(kind: str, nets: dict[str, keras.Model], windows: np.ndarray,
                batch_size: int = 1024) -> dict[str, np.ndarray]:
    """Run the inference networks over ``windows`` (n, W, F) in batches of ``batch_size``.

    Returns float32 arrays: ``reconstruction`` (n, W, F), ``features_real`` / ``features_fake``
    (n, D) and, for GANomaly, ``latent`` / ``latent_hat`` (n, Z). Deterministic: the same
    windows and weights give the same arrays, before and after a save/load.

    A window's outputs can differ by a few float32 ULPs (relative ~1e-7) with the batch it is
    computed in (CPU conv kernels block the batch differently), so streaming micro-batches and
    an offline pass agree to a relative tolerance, not bit for bit.
    """
    _check_kind(kind)
    if "scorer" not in nets:
        raise DataError(f"inference networks for {kind} need a 'scorer' model, got "
                        f"{sorted(nets)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    scorer = nets["scorer"]
    _, window, n_features = scorer.input_shape
    arr = np.asarray(windows, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[1:] != (window, n_features):
        raise DataError(f"windows: expected shape (n, {window}, {n_features}), got {arr.shape}")
    keys = OUTPUT_KEYS[kind]
    missing = [k for k in keys if k not in scorer.output]
    if missing:
        raise DataError(f"the {kind} scorer lacks outputs {missing}; is it a {kind} model?")
    if len(arr) == 0:
        return {k: np.zeros((0, *scorer.output[k].shape[1:]), dtype=np.float32) for k in keys}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for start in range(0, len(arr), batch_size):
        chunk = arr[start:start + batch_size]
        n = len(chunk)
        # Every distinct batch shape costs a graph trace (~0.1 s): the streaming scorer sees
        # all sizes from 1 to max_batch. Padding to the next power of two bounds the traces
        # to about log2(batch_size) shapes; windows are scored independently of each other.
        padded = min(batch_size, 1 << max(n - 1, 0).bit_length())
        if padded > n:
            chunk = np.concatenate([chunk, np.zeros((padded - n, *chunk.shape[1:]), np.float32)])
        out = scorer.predict_on_batch(chunk)
        for k in keys:
            parts[k].append(np.asarray(out[k], dtype=np.float32)[:n])
    return {k: np.concatenate(v, axis=0) for k, v in parts.items()}
