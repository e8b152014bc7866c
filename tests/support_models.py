"""Small, fast training setups shared by the contract, artifact and CLI tests."""

from __future__ import annotations

import dataclasses

import numpy as np

from anomaly_gan.config import Config, config_from_dict

FEATURES = ("temp", "rpm", "flow")

# XLA_FLAGS for a test's child process under KERAS_BACKEND=jax: XLA compiles every train and
# score step for the CPU, and LLVM's optimisation of those kernels is most of that child's
# time on these small models. The tests check what the steps compute, not how fast:
# tests/models/test_backend_contract.py under JAX took 43 s of CPU, 29 s with this
# (2026-12-06, 2 cores).
QUICK_XLA = "--xla_backend_optimization_level=0"


def jax_child_env(xla_flags: str = "") -> dict[str, str]:
    """The environment additions of a JAX child process: :data:`QUICK_XLA` and
    ``xla_flags``."""
    return {"XLA_FLAGS": " ".join(filter(None, [QUICK_XLA, xla_flags]))}


def tiny_config(kind: str = "ganomaly", backbone: str = "conv1d", **training) -> Config:
    return config_from_dict({
        "model": {"kind": kind, "backbone": backbone, "latent_dim": 8, "hidden": [16, 32]},
        "data": {"window": 16, "stride": 2},
        "training": {"epochs": 10, "batch_size": 64, "patience": 3, "seed": 0, "verbose": 0,
                     "learning_rate": 1e-3, "min_steps": 0, "max_attempts": 1, **training},
    }, "tiny test config")


def plumbing_config(**training) -> Config:
    """:func:`tiny_config` with one dense layer of 8 units, for a test of what
    ``train_detector`` says or records (its notes on the data, its retries' settings) and
    not of what the model learns: building and tracing these networks takes about half the
    CPU of the conv1d ones (1.7-2.0 s against 3.1-4.1 s for a 1-epoch training of 400 rows,
    2 cores, 2026-12-07), and tracing is most of such a training."""
    cfg = tiny_config(backbone="dense", **training)
    return cfg.replace(model=dataclasses.replace(cfg.model, hidden=(8,)))


def normal_series(rows: int, seed: int = 0) -> np.ndarray:
    """Three coupled periodic sensors with noise: easy to learn."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    load = np.sin(2 * np.pi * t / 50) + 0.05 * rng.normal(size=rows)
    return np.column_stack([
        20 + 5 * load + 0.1 * rng.normal(size=rows),
        1500 + 300 * load + 5 * rng.normal(size=rows),
        10 - 2 * load + 0.05 * rng.normal(size=rows),
    ])


def with_anomalies(rows: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Normal data plus injected spikes and level shifts; labels mark them."""
    x = normal_series(rows, seed)
    labels = np.zeros(rows, np.int8)
    sd = x.std(axis=0)
    rng = np.random.default_rng(seed)
    starts = np.linspace(rows * 0.1, rows * 0.9, 6).astype(int)
    for i, s in enumerate(starts):
        col = i % 3
        if i % 2 == 0:  # spike
            x[s : s + 3, col] += 6 * sd[col]
            labels[s : s + 3] = 1
        else:  # level shift
            x[s : s + 40, col] += rng.choice([-1, 1]) * 3 * sd[col]
            labels[s : s + 40] = 1
    return x, labels


def plant_series(rows: int, seed: int = 0, start: int = 0) -> np.ndarray:
    """The kinds of channels real telemetry mixes (rows ``start`` .. ``start + rows`` of one
    plant): a busy periodic sensor, a rarely-set 0/1 command flag (mostly constant), a
    setpoint that steps between two levels, and a slow wandering drift."""
    rng = np.random.default_rng(seed)
    t = np.arange(start, start + rows)
    busy = np.sin(2 * np.pi * t / 40) + 0.1 * rng.normal(size=rows)
    flag = ((t % 97) < 3).astype(float)
    steps = ((t // 150) % 2).astype(float) + 0.02 * rng.normal(size=rows)
    drift = 0.5 * np.sin(2 * np.pi * t / 700) + 0.05 * rng.normal(size=rows)
    return np.column_stack([busy, flag, steps, drift])


def stuck_series(rows: int, seed: int = 0, flags: int = 12) -> np.ndarray:
    """A channel with nothing to learn: a sensor stuck at one reading but for a one-row blip
    now and then, beside command flags set at random about once in 100 rows (column 0 the
    sensor, then the flags)."""
    rng = np.random.default_rng(seed)
    sensor = np.full(rows, 0.5)
    sensor[rng.random(rows) < 0.005] = 0.7
    return np.column_stack([sensor, (rng.random((rows, flags)) < 0.01).astype(float)])


def plant_with_incidents(rows: int = 600, seed: int = 1, start: int = 600
                         ) -> tuple[np.ndarray, dict[str, slice]]:
    """:func:`plant_series` with three incidents: a spike, the busy sensor stuck (flat), and
    the drifting channel jumping away from its level."""
    x = plant_series(rows, seed, start)
    incidents = {"spike": slice(150, 153), "stuck": slice(300, 360), "jump": slice(450, 500)}
    x[incidents["spike"], 0] += 6.0
    x[incidents["stuck"], 0] = x[incidents["stuck"].start, 0]
    x[incidents["jump"], 3] += 2.5
    return x, incidents
