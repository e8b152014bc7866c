"""Detection on generated series of the kinds users stream, not on any shared file.

The shipped defaults are also judged on labelled real data outside this repository; tuning
them to the shared NASA and NAB files would not carry over. This bench generates the
*kinds* of channel real telemetry mixes, at the lengths users train on, with labelled
faults of the kinds ops teams see, and measures the default GAN against PCA,
IsolationForest and a random score fitted in the same run on the same windows
(:func:`bench.detect.baselines`):

Layouts (``LAYOUTS``):
  command   one telemetry value beside 12 command flags, mostly 0, one of them a mode that
            moves the telemetry's level (the NASA SMAP/MSL shape)
  seasonal  one value with a daily cycle, a weekly modulation and noise (the NAB shape)
  setpoint  a mostly constant process value that steps between setpoints, two sensors
            that follow it with lag
  drift     a slowly wandering value with a cycle, and a second sensor coupled to it
  events    a service's request rate (a daily cycle) beside its error count per row: 0 on
            most rows, a burst of a few errors now and then (an ops dashboard's shape)

Faults (``FAULTS``; each test part holds every fault that applies to its layout once):
  spike      two rows 4 standard deviations off
  shift      a level shift of 2 standard deviations for 80 rows
  flatline   the signal stops moving for 100 rows (the "goes quiet" fault)
  noise      the noise grows by one standard deviation for 80 rows
  frequency  the cycle runs at twice its speed for 150 rows (seasonal)
  decouple   the coupled sensor stops following for 100 rows (drift, setpoint)
  flag_stuck a command flag stays set for 60 rows (command)
  storm      errors come in bursts at 20 times their rate for 80 rows (events)

Per series: point-wise AUC-ROC / AUC-PR of every method (scikit-learn, no point adjustment),
per fault AUC-ROC (the normal rows against that fault's rows), and the share of the test
windows holding no fault row that the GAN flags at its calibrated threshold (its false-alarm
rate; the test part is a continuation of the training series, so a short baseline that
never saw a later setpoint or the far end of a drift alarms there: that is what training
length costs). Seeds fix everything, so a run is repeatable.

Writes bench/results/kinds.{md,json}.

    python bench/kinds.py [--config C] [--sizes 300,1500,5000] [--seeds 0,1] [--layouts ...]
                          [--save-models DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anomaly_gan.config import load_config
from anomaly_gan.data.synthetic import _ar1
from anomaly_gan.evaluate import evaluate_scores
from anomaly_gan.runtime import import_tensorflow_quietly
from anomaly_gan.train import train_detector
from bench.detect import baselines, component_aucs, save_model

METHODS = ("gan", "pca", "iforest", "random")
TEST_ROWS = 3000
FAULT_ROWS = {"spike": 2, "shift": 80, "flatline": 100, "noise": 80, "frequency": 150,
              "decouple": 100, "flag_stuck": 60, "storm": 80}
LAYOUTS = {
    "command": ("spike", "shift", "flatline", "noise", "flag_stuck"),
    "seasonal": ("spike", "shift", "flatline", "noise", "frequency"),
    "setpoint": ("spike", "shift", "noise", "decouple"),
    "drift": ("spike", "shift", "flatline", "noise", "decouple"),
    "events": ("spike", "shift", "flatline", "noise", "storm"),
}
EVENT_RATE = 1 / 150  # the events layout's bursts per row


def _holds(rng: np.random.Generator, n: int, mean_len: float, levels: int) -> np.ndarray:
    """A piecewise-constant state: index of the current level, changing after random holds."""
    out = np.empty(n, dtype=int)
    i, state = 0, 0
    while i < n:
        hold = max(5, int(rng.exponential(mean_len)))
        out[i:i + hold] = state
        state = (state + int(rng.integers(1, levels))) % levels if levels > 1 else 0
        i += hold
    return out


def _bursts(rng: np.random.Generator, rows: int, rate: float) -> np.ndarray:
    """An error count per row: 0, but for bursts starting at ``rate`` per row, each a few
    rows of a few errors."""
    out = np.zeros(rows)
    for k in np.flatnonzero(rng.random(rows) < rate):
        length = int(rng.integers(1, 4))
        out[k:k + length] += rng.poisson(4, len(out[k:k + length])) + 1
    return out


def normal_series(layout: str, rows: int, seed: int) -> tuple[np.ndarray, dict]:
    """``rows`` normal rows of ``layout``, plus what a fault needs to know (cycle phase...)."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows, dtype=float)
    if layout == "command":
        mode = (_holds(rng, rows, 300, 2)).astype(float)
        flags = np.zeros((rows, 12))
        flags[:, 0] = mode
        for j in range(1, 12):
            on = rng.random(rows) < 1 / 200
            for k in np.flatnonzero(on):
                flags[k:k + int(rng.integers(1, 4)), j] = 1.0
        response = np.convolve(flags[:, 1], np.exp(-np.arange(20) / 5.0))[:rows]
        telemetry = 0.3 + 0.4 * mode + 0.15 * response + _ar1(rng, rows, 0.9, 0.02)
        return np.column_stack([telemetry, flags]), {"period": None}
    if layout == "seasonal":
        period = 96.0
        day = np.sin(2 * np.pi * t / period)
        week = 1.0 + 0.3 * (np.sin(2 * np.pi * t / (7 * period)) > 0.6)
        value = 10 + 3 * day * week + rng.normal(0, 0.3, rows)
        return value[:, None], {"period": period}
    if layout == "setpoint":
        levels = np.array([50.0, 55.0, 62.0])[_holds(rng, rows, 300, 3)]
        pv = levels + rng.normal(0, 0.05, rows)
        lagged = np.empty(rows)
        acc = levels[0]
        for i in range(rows):
            acc += 0.1 * (levels[i] - acc)
            lagged[i] = acc
        return np.column_stack([pv, 2 * lagged + rng.normal(0, 0.1, rows),
                                0.5 * lagged + rng.normal(0, 0.05, rows)]), {"period": None}
    if layout == "drift":
        period = 144.0
        wander = _ar1(rng, rows, 0.999, 0.02)  # wanders over ~1,000 rows, stays bounded
        value = wander + np.sin(2 * np.pi * t / period) + rng.normal(0, 0.05, rows)
        return np.column_stack([value, 3 * value + rng.normal(0, 0.15, rows)]), {"period": period}
    if layout == "events":
        period = 96.0
        requests = 200 + 80 * np.sin(2 * np.pi * t / period) + rng.normal(0, 8, rows)
        errors = _bursts(rng, rows, EVENT_RATE)
        return np.column_stack([requests, errors]), {"period": period}
    raise ValueError(f"unknown layout {layout!r}")


def inject(x: np.ndarray, fault: str, start: int, sd: np.ndarray, rng: np.random.Generator,
           info: dict) -> None:
    """Put ``fault`` into ``x`` at ``start`` (in place); ``sd`` is each column's training sd."""
    end = start + FAULT_ROWS[fault]
    span = slice(start, end)
    if fault == "spike":
        x[span, 0] += rng.choice([-1.0, 1.0]) * 4 * sd[0]
    elif fault == "shift":
        x[span, 0] += rng.choice([-1.0, 1.0]) * 2 * sd[0]
    elif fault == "flatline":
        x[span, 0] = x[start, 0]
    elif fault == "noise":
        x[span, 0] += rng.normal(0, sd[0], end - start)
    elif fault == "frequency":
        p = info["period"]
        t = np.arange(start, end, dtype=float)
        x[span, 0] += 3 * (np.sin(4 * np.pi * t / p) - np.sin(2 * np.pi * t / p))
    elif fault == "decouple":
        x[span, 1] = x[start, 1] + rng.normal(0, 0.1 * sd[1], end - start)
    elif fault == "flag_stuck":
        x[span, 5] = 1.0
    elif fault == "storm":
        x[span, 1] += _bursts(rng, end - start, 20 * EVENT_RATE)
    else:
        raise ValueError(f"unknown fault {fault!r}")


def labelled_series(layout: str, train_rows: int, seed: int):
    """(train, test, labels, faults): one continuous series; every fault of ``layout`` once in
    the test part, in random order, in evenly spaced slots that never overlap."""
    rng = np.random.default_rng(10_000 + seed)
    x, info = normal_series(layout, train_rows + TEST_ROWS, seed)
    train, test = x[:train_rows], x[train_rows:].copy()
    sd = train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    labels = np.zeros(TEST_ROWS, np.int8)
    kinds = np.zeros(TEST_ROWS, dtype=object)
    faults = list(rng.permutation(LAYOUTS[layout]))
    slot = TEST_ROWS // len(faults)
    for k, fault in enumerate(faults):
        start = k * slot + int(rng.integers(slot // 4, slot - FAULT_ROWS[fault] - 1))
        inject(test, fault, start, sd, rng, info)
        labels[start:start + FAULT_ROWS[fault]] = 1
        kinds[start:start + FAULT_ROWS[fault]] = fault
    return train, test, labels, kinds


def run_series(name: str, train, test, labels, kinds, cfg, save_to: Path | None = None) -> dict:
    t0 = time.monotonic()
    det = train_detector(cfg, train, [f"f{i}" for i in range(train.shape[1])])
    train_s = time.monotonic() - t0
    if save_to is not None:
        save_model(det, save_to, name)
    res = det.score_series(test)
    scores = {"gan": res.score,
              **baselines(train, test, det.window, cfg.data.scaler, cfg.training.seed)}
    normal = labels == 0
    # A false alarm is a flagged window that holds no fault row: the window ending just
    # after a fault still contains it (those rows count as normal for the AUCs, as in
    # bench/detect.py, but flagging them is no false alarm).
    clean = (np.convolve(labels, np.ones(det.window), mode="full")[:len(labels)] == 0)
    clean &= np.isfinite(res.score)
    flagged = res.score > det.threshold
    row = {"series": name, "rows_train": len(train), "train_seconds": round(train_s, 2),
           "health": det.metadata["health"]["status"],
           "attempts": len(det.metadata.get("attempts", [])),
           "held_out_windows": det.metadata["training_data"]["held_out_windows"],
           "false_alarm_rate": float(flagged[clean].mean()), "faults": {}}
    for method, s in scores.items():
        m = evaluate_scores(s, labels)
        row[method] = {"auc_roc": m["auc_roc"], "auc_pr": m["auc_pr"]}
    row["components"] = {comp: m["auc_roc"] for comp, m in component_aucs(det, res, labels).items()}
    for fault in sorted(set(kinds[labels == 1])):
        keep = normal | (kinds == fault)
        row["faults"][fault] = {
            method: evaluate_scores(s[keep], labels[keep])["auc_roc"] for method, s in scores.items()}
    print(f"  {name:<24} AUC-ROC " + "  ".join(f"{m} {row[m]['auc_roc']:.3f}" for m in METHODS)
          + f"  false alarms {row['false_alarm_rate']:.1%}  ({train_s:.0f}s, {row['health']})",
          file=sys.stderr, flush=True)
    return row


def _mean(rows: list[dict], *path: str) -> float:
    vals = []
    for r in rows:
        v = r
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        if v is not None:
            vals.append(v)
    return float(np.mean(vals)) if vals else float("nan")


def report_md(rows: list[dict], sizes: list[int], header: str) -> str:
    lines = [header, "", "### By training length (means over layouts and seeds)", "",
             "| train rows | series | refused | GAN false alarms | " + " | ".join(
                 f"{m} AUC-ROC / PR" for m in METHODS) + " | train s (max) |",
             "|" + "---|" * (5 + len(METHODS))]
    for size in sizes:
        rs = [r for r in rows if r["rows_train"] == size]
        refused = sum(r["health"] != "healthy" for r in rs)
        lines.append(
            f"| {size} | {len(rs)} | {refused} | {_mean(rs, 'false_alarm_rate'):.1%} | "
            + " | ".join(f"{_mean(rs, m, 'auc_roc'):.3f} / {_mean(rs, m, 'auc_pr'):.3f}"
                         for m in METHODS)
            + f" | {_mean(rs, 'train_seconds'):.1f} ({max(r['train_seconds'] for r in rs):.1f}) |")
    faults = sorted({f for r in rows for f in r["faults"]})
    lines += ["", "### By fault (AUC-ROC of the normal rows against that fault's rows, means)", "",
              "| fault | series | " + " | ".join(METHODS) + " |", "|" + "---|" * (2 + len(METHODS))]
    for fault in faults:
        rs = [r for r in rows if fault in r["faults"]]
        lines.append(f"| {fault} | {len(rs)} | " + " | ".join(
            f"{_mean(rs, 'faults', fault, m):.3f}" for m in METHODS) + " |")
    lines += ["", "### Per series", "",
              "| series | health (attempts) | held-out windows | GAN false alarms | "
              + " | ".join(f"{m} AUC-ROC / PR" for m in METHODS) + " | train s |",
              "|" + "---|" * (5 + len(METHODS))]
    for r in rows:
        lines.append(
            f"| {r['series']} | {r['health']} ({r['attempts']}) | {r['held_out_windows']} | "
            f"{r['false_alarm_rate']:.1%} | "
            + " | ".join(f"{r[m]['auc_roc']:.3f} / {r[m]['auc_pr']:.3f}" for m in METHODS)
            + f" | {r['train_seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", help="config for every series (default: the shipped defaults)")
    ap.add_argument("--sizes", default="300,1500,5000", help="training rows per series")
    ap.add_argument("--seeds", default="0,1", help="comma-separated generator seeds")
    ap.add_argument("--layouts", default=",".join(LAYOUTS))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--save-models", metavar="DIR",
                    help="also save every series' model bundle under DIR")
    args = ap.parse_args()
    import_tensorflow_quietly()  # no banner, no retracing hints between the rows
    cfg = load_config(args.config)
    cfg = cfg.replace(training=dataclasses.replace(cfg.training, verbose=0))
    sizes = [int(s) for s in args.sizes.split(",")]
    layouts = args.layouts.split(",")
    unknown = sorted(set(layouts) - set(LAYOUTS))
    if unknown:
        print(f"bench/kinds.py: --layouts: unknown layout {unknown[0]!r}; expected some of "
              f"{', '.join(LAYOUTS)}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    rows = []
    for size in sizes:
        for seed in (int(s) for s in args.seeds.split(",")):
            for layout in layouts:
                train, test, labels, kinds = labelled_series(layout, size, seed)
                rows.append(run_series(f"{layout} {size} s{seed}", train, test, labels, kinds,
                                       cfg, Path(args.save_models) if args.save_models else None))
    wall = time.monotonic() - t0
    header = (f"Config: {args.config or 'shipped default'} ({cfg.model.kind}/{cfg.model.backbone}, "
              f"window {cfg.data.window}); generated series, {TEST_ROWS} test rows each; "
              f"point-wise metrics; {os.cpu_count()} CPU cores; wall {wall:.0f} s; "
              f"{datetime.now(UTC):%Y-%m-%d}.")
    md = report_md(rows, sizes, header)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "kinds.md").write_text(md)
    (out / "kinds.json").write_text(json.dumps(
        {"config": args.config or "default", "rows": rows, "wall_seconds": round(wall, 1)},
        indent=2))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
