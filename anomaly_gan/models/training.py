"""The training driver every GAN family shares: build, fit, stop early, report.

    gan = build_gan(cfg.model, cfg.training, window, n_features)
    fit = fit_gan(gan, train_windows, val_windows, cfg.training)   # float32 (n, W, F), scaled

:func:`build_gan` looks the family up in the registry (:func:`anomaly_gan.models.base.family`),
seeds, picks the precision and the devices, and compiles one optimizer per trained network.
:func:`fit_gan` runs the family's phases (``GANBase.phases``) through :func:`run_fit`, then the
health checks. Nothing here names a family. TensorFlow is imported only where the TensorFlow
backend needs it, so all of this also runs with ``KERAS_BACKEND=jax``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from anomaly_gan.config import ModelConfig, TrainingConfig
from anomaly_gan.data.windows import evenly_spaced
from anomaly_gan.errors import DataError
from anomaly_gan.models.base import GANBase, family
from anomaly_gan.models.distribution import find_distribution
from anomaly_gan.models.health import assess_health
from anomaly_gan.models.precision import resolve_precision

__all__ = [
    "CountSteps",
    "FitResult",
    "Progress",
    "ReportProgress",
    "StopOnNonFinite",
    "build_gan",
    "fit_gan",
    "make_optimizer",
    "repeat_windows",
    "run_fit",
    "schedule_learning_rate",
    "seed_everything",
    "steps_per_epoch",
]

_HEALTH_BATCH = 512

Progress = Callable[[str], None]
"""Receives one human-readable line per epoch (e.g. ``print`` or a logger method)."""


@dataclass
class FitResult:
    """What one training run produced besides the weights (which stay in the model).

    ``history`` maps each logged loss (``val_``-prefixed for validation) to one value per epoch;
    for f-AnoGAN the GAN-phase and encoder-phase keys have different lengths. ``best_epoch`` is
    1-based over all epochs run (the epoch whose weights were restored) and ``best_loss``
    its monitored validation loss (``None`` where nothing was restored): not the lowest
    value in ``history``, which may come from an epoch before early stopping started.
    ``health`` is the JSON-able report of :func:`anomaly_gan.models.health.assess_health`.
    """

    history: dict[str, list[float]]
    health: dict[str, Any]
    epochs_run: int
    best_epoch: int | None
    precision: str
    issues: list[str] = field(default_factory=list)
    best_loss: float | None = None

    def __post_init__(self) -> None:
        if not self.issues:
            self.issues = list(self.health.get("issues", []))


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the backend; on TensorFlow also make ops deterministic.

    Called before building the networks (initial weights) and again before fitting (shuffling),
    so two runs with the same seed give identical weights on CPU. (XLA on CPU, which runs the
    JAX step, is deterministic without a switch.)
    """
    keras.utils.set_random_seed(int(seed))
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def make_optimizer(training: TrainingConfig, policy: str,
                   name: str) -> keras.optimizers.Optimizer:
    """Adam with the configured rate and beta_1; under ``mixed_float16`` wrapped in its own
    :class:`keras.optimizers.LossScaleOptimizer`.

    float16 gradients underflow without loss scaling; bfloat16 has float32's range, so it needs
    none. Each network gets its own wrapper because their gradient magnitudes (and so the right
    dynamic scale) differ.
    """
    adam = keras.optimizers.Adam(learning_rate=training.learning_rate, beta_1=training.beta_1,
                                 name=name)
    if policy == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(adam, name=f"{name}_loss_scale")
    return adam


def steps_per_epoch(n_windows: int, batch_size: int, epochs: int, min_steps: int) -> int:
    """Optimizer steps per epoch: one pass over the windows, or more for short series.

    The floor ``ceil(min_steps / epochs)`` makes the run's budget independent of series length
    alone: 529 windows in batches of 64 are 9 steps, so 30 epochs would be 270 steps, far too
    few for the decoder to leave its initial near-constant output.

    >>> steps_per_epoch(529, 64, 30, 2000), steps_per_epoch(20_000, 64, 30, 2000)
    (67, 313)
    """
    natural = math.ceil(n_windows / max(1, min(batch_size, n_windows)))
    return max(natural, math.ceil(min_steps / max(1, epochs)))


def repeat_windows(windows: np.ndarray, batch_size: int, steps: int) -> np.ndarray:
    """``windows`` repeated to fill exactly ``steps`` batches, when one pass is fewer.

    Whole copies, then evenly spaced windows for the rest, so every stretch of the series
    counts alike (each window appears ``k`` or ``k + 1`` times an epoch); ``fit(shuffle=True)``
    reshuffles them each epoch. An epoch is then the ``steps`` that :func:`steps_per_epoch`
    planned and the learning-rate schedule spans. (Until 2026-12-03 whole copies only: 3,969
    windows in batches of 64, a pass of 63 steps under the floor's 67, trained 125 steps an
    epoch, nearly twice the plan, nearly half of them past the end of the schedule.)

    >>> repeat_windows(np.zeros((10, 2, 1)), batch_size=4, steps=6).shape
    (24, 2, 1)
    >>> np.bincount(repeat_windows(np.arange(10), batch_size=4, steps=6)).tolist()
    [3, 2, 2, 3, 2, 2, 3, 2, 2, 3]
    """
    batch = min(batch_size, len(windows))
    if steps <= math.ceil(len(windows) / batch):  # one pass already takes that many steps
        return windows
    copies, extra = divmod(steps * batch, len(windows))
    return np.concatenate([windows] * copies + [evenly_spaced(windows, extra)], axis=0)


def schedule_learning_rate(optimizer: keras.optimizers.Optimizer, training: TrainingConfig,
                           steps: int) -> None:
    """Give ``optimizer`` the configured schedule over the ``steps`` it will take.

    ``cosine`` decays from ``learning_rate`` to a tenth of it: large steps early leave the
    near-constant initial output quickly, small steps late settle the reconstruction (and the
    early-stopping snapshot) instead of bouncing around the optimum. Set before ``fit``
    traces its step; a :class:`LossScaleOptimizer` forwards it to the wrapped Adam.
    ``steps=0`` (or ``lr_schedule: constant``) sets the constant ``learning_rate``.
    """
    if training.lr_schedule == "cosine" and steps > 0:
        optimizer.learning_rate = keras.optimizers.schedules.CosineDecay(
            training.learning_rate, decay_steps=int(steps), alpha=0.1)
    else:
        optimizer.learning_rate = training.learning_rate


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops training at the first batch or epoch whose logged losses are NaN/inf.

    Unlike ``keras.callbacks.TerminateOnNaN`` it watches every logged loss, not only ``loss``
    (a GAN logs several and has no single ``loss``), and records which ones went bad.
    """

    def __init__(self) -> None:
        super().__init__()
        self.bad_keys: set[str] = set()

    def _check(self, logs: Mapping[str, Any] | None) -> None:
        bad = {k for k, v in (logs or {}).items() if not _finite(v)}
        if bad:
            self.bad_keys |= bad
            self.model.stop_training = True

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._check(logs)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._check(logs)


class CountSteps(keras.callbacks.Callback):
    """Counts the training steps (batches) ``fit`` ran, a step that stopped it included."""

    def __init__(self) -> None:
        super().__init__()
        self.steps = 0

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.steps += 1


class ReportProgress(keras.callbacks.Callback):
    """Sends one line per epoch to a ``progress`` callable (the CLI's printer or a logger)."""

    def __init__(self, progress: Progress, label: str, epochs: int, offset: int = 0) -> None:
        super().__init__()
        self.progress = progress
        self.label = label
        self.epochs = epochs
        self.offset = offset

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        losses = " ".join(f"{k}={float(v):.4g}" for k, v in sorted((logs or {}).items())
                          if k != "learning_rate")
        self.progress(f"{self.label} epoch {self.offset + epoch + 1}/{self.epochs}: {losses}")


def _feature_means(windows: np.ndarray) -> np.ndarray:
    """Each feature's mean over training windows (what a collapsed generator predicts)."""
    return np.asarray(windows).reshape(-1, windows.shape[-1]).mean(axis=0, dtype=np.float64)


def run_fit(gan: GANBase, train: np.ndarray, val: np.ndarray, *, epochs: int,
            training: TrainingConfig, monitor: str | None, progress: Progress | None,
            label: str, total_epochs: int, offset: int = 0
            ) -> tuple[dict[str, list[float]], int, int | None, int]:
    """One ``gan.fit`` call with the shared callbacks.

    ``monitor`` (e.g. ``"val_rec_loss"``) enables early stopping with the configured patience
    and restores the best epoch's weights; ``None`` runs all ``epochs``. Returns the history,
    the number of epochs run, the 1-based best epoch within this call (``None`` without a
    monitor or when the monitored loss never was finite) and the training steps run.
    """
    counted = CountSteps()
    callbacks: list[keras.callbacks.Callback] = [StopOnNonFinite(), counted]
    start = 0
    if monitor is not None:
        # Not before the step floor is done: a loss flat for `patience` epochs early on is
        # the decoder still at its initial near-constant output, not convergence.
        per_epoch = steps_per_epoch(len(train), min(training.batch_size, len(train)),
                                    total_epochs, training.min_steps)
        start = max(0, math.ceil(training.min_steps / per_epoch) - offset - 1)
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=monitor, mode="min", patience=training.patience,
            restore_best_weights=True, verbose=0, start_from_epoch=start))
    # After EarlyStopping, so its best-weights snapshot is taken before a family callback
    # (e.g. GANomaly's discriminator reset) changes the weights.
    callbacks.extend(gan.fit_callbacks())
    if progress is not None:
        callbacks.append(ReportProgress(progress, label, total_epochs, offset))
    batch = min(training.batch_size, len(train))
    train = repeat_windows(train, batch, steps_per_epoch(len(train), batch, total_epochs,
                                                         training.min_steps))
    distribution = gan.distribution
    if distribution.replicas > 1:
        # Every batch, the last included, must split evenly over the devices.
        batch = max(distribution.replicas, batch - batch % distribution.replicas)
        train = train[:len(train) - len(train) % distribution.replicas]
        val = val[:len(val) - len(val) % distribution.replicas]
    with distribution.scope():
        fitted = gan.fit(train, validation_data=(val,) if len(val) else None, epochs=epochs,
                         batch_size=batch, shuffle=True, callbacks=callbacks,
                         verbose=training.verbose)
    history = {k: [float(v) for v in values] for k, values in fitted.history.items()}
    epochs_run = max((len(v) for v in history.values()), default=0)
    best: int | None = None
    if monitor is not None and monitor in history:
        values = np.asarray(history[monitor], dtype=np.float64)
        values[:start] = np.nan  # early stopping restores the best epoch from `start` on
        if np.any(np.isfinite(values)):
            best = int(np.nanargmin(np.where(np.isfinite(values), values, np.nan))) + 1
    return history, epochs_run, best, counted.steps


def _applied(optimizer: keras.optimizers.Optimizer) -> int:
    """Updates ``optimizer`` has applied. A ``LossScaleOptimizer`` answers its inner Adam's
    count, which a step whose gradients overflowed float16 (skipped) leaves alone."""
    return int(keras.ops.convert_to_numpy(optimizer.iterations))


def build_gan(model: ModelConfig, training: TrainingConfig, window: int,
              n_features: int) -> GANBase:
    """A compiled, seeded GAN of ``model.kind`` for (window, n_features) windows.

    Seeds everything from ``training.seed`` first, so the initial weights are reproducible,
    resolves ``training.precision`` (see :mod:`anomaly_gan.models.precision`), spreads over
    every device found unless ``training.distribute`` is off (see
    :mod:`anomaly_gan.models.distribution`) and builds one optimizer per trained network
    (loss-scaled under ``mixed_float16``).
    """
    cls = family(model.kind)
    if window < 2 or n_features < 1:
        raise DataError(f"windows must be at least 2 steps of 1 feature, got ({window}, "
                        f"{n_features})")
    policy = resolve_precision(training.precision)
    distribution = find_distribution(training.distribute)
    seed_everything(training.seed)
    with distribution.scope():
        gan = cls(model, window=window, n_features=n_features, policy=policy,
                  seed=training.seed)
        gan.compile({name: make_optimizer(training, policy, f"{name}_adam")
                     for name in cls.trained_networks})
    gan.distribution = distribution
    return gan


def _as_windows(name: str, data: Any, window: int, n_features: int) -> np.ndarray:
    arr = np.asarray(data, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[1:] != (window, n_features):
        raise DataError(f"{name}: expected windows of shape (n, {window}, {n_features}), "
                        f"got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name}: windows contain NaN or infinite values")
    return arr


def _all_finite(history: Mapping[str, list[float]]) -> bool:
    return all(math.isfinite(v) for values in history.values() for v in values)


def fit_gan(gan: GANBase, train: np.ndarray, val: np.ndarray, training: TrainingConfig,
            progress: Progress | None = None) -> FitResult:
    """Train ``gan`` in place and report how it went; never raises on an unhealthy run.

    Runs the family's phases (``gan.phases(training)``) one ``fit`` each. A phase with a
    ``monitor`` stops early (patience ``training.patience``, best weights restored) on that
    validation loss; with an empty ``val`` every phase runs all its epochs. A phase after one
    that produced non-finite losses is skipped. ``progress`` gets one line per epoch.
    """
    train = _as_windows("train", train, gan.window, gan.n_features)
    val = _as_windows("val", val, gan.window, gan.n_features)
    if len(train) == 0:
        raise DataError("train: no windows to train on")
    seed_everything(training.seed)
    phases = gan.phases(training)
    total = sum(phase.epochs for phase in phases)
    # The schedule spans the planned steps (early stopping may end sooner); it is set before
    # the step functions are traced, so they read it.
    steps = total * steps_per_epoch(len(train), training.batch_size, total, training.min_steps)
    for optimizer in gan.optimizers().values():
        schedule_learning_rate(optimizer, training, 0 if gan.constant_learning_rate else steps)
    gan.train_function = None
    history: dict[str, list[float]] = {}
    epochs_run = 0
    best: int | None = None
    best_loss: float | None = None
    optimizers = gan.optimizers()
    # Per optimizer, the updates its train steps asked for and how many of those its loss
    # scaler skipped (float16 gradients that overflowed; 0 outside mixed_float16)
    updates = {name: {"steps": 0, "skipped": 0} for name in optimizers}
    for phase in phases:
        if not _all_finite(history):
            break
        gan.set_phase(phase.name)
        label = gan.kind if len(phases) == 1 else f"{gan.kind} [{phase.name}]"
        per_step = Counter(name for update in gan.updates() for name in update.losses)
        applied = {name: _applied(o) for name, o in optimizers.items()}
        phase_history, phase_run, phase_best, phase_steps = run_fit(
            gan, train, val, epochs=phase.epochs, training=training,
            monitor=phase.monitor if len(val) else None, progress=progress, label=label,
            total_epochs=total, offset=epochs_run)
        for name, optimizer in optimizers.items():
            asked = phase_steps * per_step[name]
            updates[name]["steps"] += asked
            updates[name]["skipped"] += max(0, asked - (_applied(optimizer) - applied[name]))
        history.update(phase_history)
        if phase_best is not None and phase.monitor is not None:
            best = epochs_run + phase_best
            best_loss = phase_history[phase.monitor][phase_best - 1]
        epochs_run += phase_run
    reference = val[:_HEALTH_BATCH] if len(val) >= 2 else train[:_HEALTH_BATCH]
    seen = evenly_spaced(train, _HEALTH_BATCH)
    fitted = gan.health_samples(seen, training.seed).get("reconstruction")
    health = assess_health(history, disc_loss_key=gan.disc_loss_key,
                           adv_loss_key=gan.adv_loss_key,
                           samples=gan.health_samples(reference, training.seed),
                           reference=reference,
                           baseline=_feature_means(train), train=train,
                           fitted=None if fitted is None else (seen, fitted),
                           updates=updates)
    health.update(gan.health_figures())
    health.update({"kind": gan.kind, "precision": gan.policy, "epochs_run": epochs_run,
                   "best_epoch": best, "backend": keras.backend.backend(),
                   "devices": gan.distribution.replicas})
    return FitResult(history=history, health=health, epochs_run=epochs_run, best_epoch=best,
                     precision=gan.policy, best_loss=best_loss)
