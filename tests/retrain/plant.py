"""A small plant for the retrain tests: a normal period, an incident, a shifted new normal.

Three pumps, three coupled sensors, one row every 10 s. The "new normal" raises the
temperature level and the rpm swing (a replaced pump); the incident is a large rpm excursion
on one pump.
"""

from __future__ import annotations

import numpy as np

FEATURES = ("temp", "rpm", "flow")
ENTITIES = ("pump-1", "pump-2", "pump-3")
STEP_S = 10.0
START_TS = 1_794_000_000.0  # 2026-11-06T...Z, a fixed epoch so runs are repeatable

TINY = {
    "model": {"kind": "ganomaly", "backbone": "dense", "latent_dim": 8, "hidden": [32, 16]},
    "data": {"window": 16, "stride": 1},
    "training": {"epochs": 12, "batch_size": 64, "patience": 4, "seed": 0, "verbose": 0,
                 "learning_rate": 1e-3, "min_steps": 0},
}


def rows(n: int, seed: int, shifted: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    load = np.sin(2 * np.pi * t / 60) + 0.05 * rng.normal(size=n)
    temp = 20 + 5 * load + 0.2 * rng.normal(size=n)
    rpm = 1500 + 300 * load + 10 * rng.normal(size=n)
    flow = 10 - 2 * load + 0.1 * rng.normal(size=n)
    if shifted:
        temp = temp + 6.0
        flow = flow + 1.5
    return np.column_stack([temp, rpm, flow])


def incident(values: np.ndarray, start: int, length: int) -> np.ndarray:
    out = values.copy()
    out[start:start + length, 1] += 2500.0
    return out


def events(series: dict[str, np.ndarray], t0: float) -> list[tuple[str, dict, float]]:
    """``(key, event, ts)`` in time order, entities interleaved."""
    n = len(next(iter(series.values())))
    out = []
    for i in range(n):
        ts = t0 + i * STEP_S
        for e, v in series.items():
            out.append((e, {"entity": e, "ts": ts, "values": v[i].tolist()}, ts))
    return out
