"""A synthetic plant: several pumps with coupled sensors and injected incidents.

Used by ``make demo``/``anomaly-gan demo`` and by tests. The first ``train_steps`` steps of
every entity are normal; incidents are injected only after them, and ``labels`` marks every
step inside an incident.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["FEATURES", "INCIDENT_KINDS", "SyntheticPlant", "make_plant"]

FEATURES = ("load", "rpm", "flow", "pressure", "temp", "power", "vibration", "valve")
INCIDENT_KINDS = ("spike", "drift", "stuck", "correlated")


@dataclass(frozen=True)
class SyntheticPlant:
    feature_names: tuple[str, ...]
    entities: tuple[str, ...]
    timestamps: np.ndarray  # (T,) epoch seconds
    values: np.ndarray  # (E, T, F)
    labels: np.ndarray  # (E, T) 0/1
    train_steps: int
    incidents: list[dict] = field(default_factory=list)

    def rows(self, entity: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        return self.values[entity, start:stop]


def _ar1(rng: np.random.Generator, n: int, phi: float, sigma: float) -> np.ndarray:
    noise = rng.normal(0.0, sigma, n)
    out = np.empty(n)
    acc = 0.0
    for i in range(n):
        acc = phi * acc + noise[i]
        out[i] = acc
    return out


def _normal_entity(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    t = np.arange(n)
    phase = rng.uniform(0, 2 * np.pi)
    load = 0.6 + 0.25 * np.sin(2 * np.pi * t / period + phase) + _ar1(rng, n, 0.95, 0.01)
    rpm = 1500 + 600 * load + rng.normal(0, 8, n)
    flow = 40 * load + rng.normal(0, 0.4, n)
    pressure = 3.0 + 2.0 * flow / 40 + rng.normal(0, 0.03, n)
    # Temperature follows load with thermal inertia.
    temp = np.empty(n)
    level = 60 + 20 * load[0]
    for i in range(n):
        level += 0.05 * (60 + 20 * load[i] - level)
        temp[i] = level
    temp += rng.normal(0, 0.15, n)
    power = 0.02 * rpm * (0.5 + flow / 40) + rng.normal(0, 0.3, n)
    vibration = 0.2 + 0.1 * (rpm / 2000) ** 2 + rng.normal(0, 0.01, n)
    valve = np.clip(0.5 + 0.4 * (load - 0.6) / 0.25, 0, 1) + rng.normal(0, 0.01, n)
    return np.column_stack([load, rpm, flow, pressure, temp, power, vibration, valve])


def _inject(rng: np.random.Generator, x: np.ndarray, kind: str, start: int, length: int) -> list[int]:
    """Modify ``x`` in place; return the feature columns involved."""
    end = start + length
    sd = x.std(axis=0)
    if kind == "spike":
        col = int(rng.choice([1, 2, 4, 6]))
        x[start:end, col] += rng.choice([-1, 1]) * 6 * sd[col]
        return [col]
    if kind == "drift":
        col = int(rng.choice([3, 4, 6]))
        x[start:end, col] += np.linspace(0, 4 * sd[col], length)
        return [col]
    if kind == "stuck":
        col = int(rng.choice([1, 2, 5]))
        x[start:end, col] = x[start, col] + 1.5 * sd[col]
        return [col]
    if kind == "correlated":  # clogged pump: flow falls, pressure, power and vibration rise
        ramp = np.linspace(0.3, 1.0, length)
        x[start:end, 2] -= 2.5 * sd[2] * ramp
        x[start:end, 3] += 3.0 * sd[3] * ramp
        x[start:end, 5] += 2.0 * sd[5] * ramp
        x[start:end, 6] += 4.0 * sd[6] * ramp
        return [2, 3, 5, 6]
    raise ValueError(kind)


def make_plant(
    n_entities: int = 4,
    n_steps: int = 3000,
    train_fraction: float = 0.5,
    seed: int = 0,
    step_seconds: float = 10.0,
    incidents_per_entity: int = 2,
    start_ts: float = 1_767_225_600.0,  # 2026-01-01T00:00:00Z
) -> SyntheticPlant:
    """Generate ``n_entities`` pumps of ``n_steps`` rows each.

    >>> p = make_plant(n_entities=2, n_steps=400, seed=1)
    >>> p.values.shape, int(p.labels[:, : p.train_steps].sum())
    ((2, 400, 8), 0)
    """
    rng = np.random.default_rng(seed)
    train_steps = int(n_steps * train_fraction)
    values = np.empty((n_entities, n_steps, len(FEATURES)))
    labels = np.zeros((n_entities, n_steps), dtype=np.int8)
    incidents: list[dict] = []
    test_len = n_steps - train_steps
    for e in range(n_entities):
        x = _normal_entity(rng, n_steps, period=rng.uniform(250, 450))
        # Spread incidents evenly over the test part, with jitter, never overlapping.
        slots = max(incidents_per_entity, 1)
        slot_len = test_len // slots
        for k in range(incidents_per_entity):
            kind = INCIDENT_KINDS[(e + k) % len(INCIDENT_KINDS)]
            length = {"spike": 6, "drift": 120, "stuck": 90, "correlated": 80}[kind]
            length = min(length, max(slot_len // 2, 2))
            lo = train_steps + k * slot_len + slot_len // 4
            start = int(rng.integers(lo, max(lo + 1, train_steps + (k + 1) * slot_len - length)))
            cols = _inject(rng, x, kind, start, length)
            labels[e, start : start + length] = 1
            incidents.append({
                "entity": f"pump-{e + 1}",
                "kind": kind,
                "start": start,
                "end": start + length - 1,
                "features": [FEATURES[c] for c in cols],
            })
        values[e] = x
    timestamps = start_ts + np.arange(n_steps) * step_seconds
    return SyntheticPlant(
        feature_names=FEATURES,
        entities=tuple(f"pump-{e + 1}" for e in range(n_entities)),
        timestamps=timestamps,
        values=values,
        labels=labels,
        train_steps=train_steps,
        incidents=incidents,
    )
