"""Do explanations name the faulted sensor? One fault on one known feature at a time.

Each layout is trained with the default config on 3,000 normal rows; its continuation gets,
in slots of 320 rows that never overlap, every fault kind on every feature once (one
feature per slot): spike (2 rows, 4 sd), shift up / down (80 rows, 2 sd), flatline (100
rows, held at its first value), noise (80 rows, +1 sd) and decouple (100 rows replaced by
the feature's own reading 157 rows before: in its normal range, out of step with the
sensors it follows). Over the flagged windows that overlap the fault, the share that name
the faulted feature first and among the first three, against a trivial baseline measured on
the same windows: the features ranked by ``|z|`` of the window's last row against the
training mean and sd.

Layouts: ``plant`` (the demo's 8 pump sensors: rpm near 1,900 beside vibration near 0.3),
``mixed`` (6 sensors of one factor at scales from 2,000 to 0.05, one anti-correlated, one
independent), and ``bench/kinds.py``'s ``setpoint`` (3) and ``drift`` (2 sensors, one
3x the other). With 2 or 3 features, "top 3" holds every feature.

    python bench/explain.py [--layouts plant,mixed,setpoint,drift] [--seeds 0,1]

Writes bench/results/explain.{md,json}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anomaly_gan.config import config_from_dict
from anomaly_gan.data.synthetic import FEATURES, _ar1, _normal_entity
from anomaly_gan.runtime import import_tensorflow_quietly
from anomaly_gan.train import train_detector
from bench.kinds import normal_series

TRAIN_ROWS, SLOT, OFFSET, LAG = 3000, 320, 120, 157
FAULT_ROWS = {"spike": 2, "shift_up": 80, "shift_down": 80, "flatline": 100, "noise": 80,
              "decouple": 100}


def mixed(rows: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Six sensors of one wandering, cycling factor, at very different scales."""
    rng = np.random.default_rng(seed)
    f = _ar1(rng, rows, 0.98, 0.05) + np.sin(2 * np.pi * np.arange(rows) / 200)
    cols = [2000 + 400 * f + rng.normal(0, 20, rows),
            1.0 + 0.2 * f + rng.normal(0, 0.02, rows),
            0.05 + 0.01 * f + rng.normal(0, 0.001, rows),
            300 - 50 * f + rng.normal(0, 3, rows),
            1.0 + rng.normal(0, 0.1, rows),
            10 + 2 * np.tanh(f) + rng.normal(0, 0.1, rows)]
    return np.column_stack(cols), ["big", "unit", "small", "anti", "indep", "tanh"]


def layout(name: str, rows: int, seed: int) -> tuple[np.ndarray, list[str]]:
    if name == "plant":
        return _normal_entity(np.random.default_rng(seed), rows, 350.0), list(FEATURES)
    if name == "mixed":
        return mixed(rows, seed)
    x, _ = normal_series(name, rows, seed)
    return x, [f"{name}{i}" for i in range(x.shape[1])]


def inject(x: np.ndarray, kind: str, j: int, start: int, sd: np.ndarray,
           rng: np.random.Generator) -> None:
    end = start + FAULT_ROWS[kind]
    if kind == "spike":
        x[start:end, j] += rng.choice([-1.0, 1.0]) * 4 * sd[j]
    elif kind == "shift_up":
        x[start:end, j] += 2 * sd[j]
    elif kind == "shift_down":
        x[start:end, j] -= 2 * sd[j]
    elif kind == "flatline":
        x[start:end, j] = x[start, j]
    elif kind == "noise":
        x[start:end, j] += rng.normal(0, sd[j], end - start)
    elif kind == "decouple":
        x[start:end, j] = x[start - LAG:end - LAG, j]


def run_layout(name: str, seed: int) -> dict:
    features = layout(name, 10, seed)[1]
    slots = [(k, j) for k in FAULT_ROWS for j in range(len(features))]
    x, _ = layout(name, TRAIN_ROWS + SLOT * len(slots) + 40, seed)
    train, clean = x[:TRAIN_ROWS], x[TRAIN_ROWS:]
    t0 = time.monotonic()
    cfg = config_from_dict({})  # the defaults; verbose=0 only stops the progress bars
    cfg = cfg.replace(training=dataclasses.replace(cfg.training, verbose=0))
    det = train_detector(cfg, train, features)
    mean, sd = train.mean(axis=0), train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    rng = np.random.default_rng(1 + seed)
    test, faults = clean.copy(), []
    for n, (kind, j) in enumerate(slots):
        start = 40 + n * SLOT + OFFSET
        inject(test, kind, j, start, sd, rng)
        faults.append((kind, j, start, start + FAULT_ROWS[kind]))
    scores = det.score_series(test)
    w = det.window
    out: dict = {"train_s": round(time.monotonic() - t0, 1), "features": features,
                 "kinds": {}}
    for kind, j, start, end in faults:
        rows = np.arange(start, min(end + w - 1, len(test)))  # windows ending here overlap
        flagged = rows[scores.is_anomaly[rows]]
        k = out["kinds"].setdefault(kind, {"events": 0, "detected": 0, "windows": 0,
                                           "model_top1": 0, "model_top3": 0, "z_top1": 0,
                                           "z_top3": 0})
        k["events"] += 1
        k["detected"] += int(len(flagged) > 0)
        for r in flagged.tolist():
            named = [features.index(f) for f in scores.top_features[r]]
            z = np.argsort(-np.abs((test[r] - mean) / sd), kind="stable")[:3].tolist()
            k["windows"] += 1
            k["model_top1"] += int(named[0] == j)
            k["model_top3"] += int(j in named[:3])
            k["z_top1"] += int(z[0] == j)
            k["z_top3"] += int(j in z)
    return out


def kind_totals(results: dict, names: list[str], kind: str) -> dict[str, int]:
    """One fault kind's counts summed over the runs of ``names`` (``results`` keyed
    ``name/seed``, each with its ``kinds``); also bench/logs_explain.py's tables."""
    tot: dict[str, int] = defaultdict(int)
    for key, res in results.items():
        if key.split("/")[0] in names:
            for field, v in res["kinds"].get(kind, {}).items():
                tot[field] += v
    return tot


def table(results: dict, names: list[str]) -> list[str]:
    lines = [("| fault | events (detected) | windows | model top-1 | model top-3 "
             "| z baseline top-1 | z baseline top-3 |"), "|---|---|---|---|---|---|---|"]
    for kind in FAULT_ROWS:
        tot = kind_totals(results, names, kind)
        n = max(tot["windows"], 1)
        lines.append(f"| {kind} | {tot['events']} ({tot['detected']}) | {tot['windows']} | "
                     + " | ".join(f"{tot[f] / n:.3f}" for f in
                                  ("model_top1", "model_top3", "z_top1", "z_top3")) + " |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layouts", default="plant,mixed,setpoint,drift")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    import_tensorflow_quietly()
    names = args.layouts.split(",")
    results = {}
    for name in names:
        for seed in (int(s) for s in args.seeds.split(",")):
            results[f"{name}/{seed}"] = res = run_layout(name, seed)
            print(f"{name} seed {seed}: {res['train_s']} s", flush=True)
    md = ["# Explanations: is the faulted feature named?", "",
          (f"Layouts {', '.join(names)}; seeds {args.seeds}; default config. Shares of the "
          "flagged windows overlapping a fault (see bench/explain.py)."), ""]
    wide = [n for n in names if len(layout(n, 10, 0)[1]) > 3]
    for title, group in (("All layouts", names), ("Layouts of more than 3 features", wide)):
        if group:
            md += [f"## {title} ({', '.join(group)})", "", *table(results, group), ""]
    for name in names:
        md += [f"## {name}", "", *table(results, [name]), ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "explain.md").write_text("\n".join(md))
    (args.out / "explain.json").write_text(json.dumps(results, indent=1))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
