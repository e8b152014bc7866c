"""Detection quality on real labelled data, against baselines measured in the same run.

For every NASA SMAP/MSL channel in ../shared/datasets/nasa (train on train.csv, evaluate on
test.csv + test_label.csv) and every NAB artificial series with anomalies (train on the
first 15%, evaluate on the rest), with ONE config for all (the shipped default unless
--config is given, no per-series tuning):

- the GAN detector (anomaly_gan.train.train_detector),
- IsolationForest and PCA reconstruction error (scikit-learn) on the same causal windows
  (the window ending at each row, flattened, with the same scaler),
- a random score.

Metrics are point-wise (no point adjustment): AUC-ROC, AUC-PR, best F1. Also reports
training time, windows/s scored and peak memory. Writes bench/results/detect.{md,json}.

    python bench/detect.py [--config C] [--only A-1,C-1] [--skip-nab] [--datasets DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anomaly_gan.config import load_config
from anomaly_gan.data import fit_scaler, read_labels, read_table, sliding_windows
from anomaly_gan.evaluate import evaluate_scores
from anomaly_gan.train import train_detector

METHODS = ("gan", "pca", "iforest", "random")
METRICS = ("auc_roc", "auc_pr", "best_f1")


def causal_window_features(train: np.ndarray, test: np.ndarray, window: int, scaler_kind: str):
    scaler = fit_scaler(train, scaler_kind)
    def flat(x):
        return sliding_windows(scaler.transform(x), window, 1).reshape(len(x) - window + 1, -1)
    return flat(train), flat(test)


def pad(scores: np.ndarray, window: int) -> np.ndarray:
    return np.concatenate([np.full(window - 1, np.nan), scores])


def baselines(train: np.ndarray, test: np.ndarray, window: int, scaler_kind: str, seed: int):
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest

    xtr, xte = causal_window_features(train, test, window, scaler_kind)
    out = {}
    pca = PCA(n_components=0.95, svd_solver="full", random_state=seed).fit(xtr)
    rec = pca.inverse_transform(pca.transform(xte))
    out["pca"] = pad(np.square(xte - rec).mean(axis=1), window)
    forest = IsolationForest(n_estimators=100, random_state=seed).fit(xtr)
    out["iforest"] = pad(-forest.score_samples(xte), window)
    out["random"] = pad(np.random.default_rng(seed).random(len(xte)), window)
    return out


def run_series(name: str, train: np.ndarray, test: np.ndarray, labels: np.ndarray, cfg) -> dict:
    t0 = time.monotonic()
    det = train_detector(cfg, train, [f"f{i}" for i in range(train.shape[1])])
    train_s = time.monotonic() - t0
    t0 = time.monotonic()
    res = det.score_series(test)
    score_s = time.monotonic() - t0
    row = {"series": name, "rows_train": len(train), "rows_test": len(test),
           "anomalous": int(labels.sum()), "train_seconds": round(train_s, 2),
           "epochs": det.metadata["epochs_run"], "health": det.metadata["health"].get("status"),
           "windows_per_second": round((len(test) - det.window + 1) / score_s, 1)}
    scores = {"gan": res.score, **baselines(train, test, det.window, cfg.data.scaler, cfg.training.seed)}
    for method, s in scores.items():
        m = evaluate_scores(s, labels, det.threshold if method == "gan" else None)
        row[method] = {k: m[k] for k in METRICS}
        if method == "gan":
            row[method].update(f1_at_threshold=m["f1"], precision=m["precision"], recall=m["recall"])
    print(f"  {name:<28} gan AUC-PR {row['gan']['auc_pr']:.3f}  pca {row['pca']['auc_pr']:.3f}  "
          f"iforest {row['iforest']['auc_pr']:.3f}  ({train_s:.0f}s train)", file=sys.stderr, flush=True)
    return row


def nasa(root: Path, only: set[str] | None):
    for spacecraft in ("smap", "msl"):
        for ch in sorted((root / "nasa" / spacecraft).iterdir()):
            if only and ch.name not in only:
                continue
            train = read_table(ch / "train.csv").values
            test = read_table(ch / "test.csv").values
            labels = read_labels(ch / "test_label.csv", rows=len(test))
            yield f"{spacecraft.upper()} {ch.name}", train, test, labels


def nab(root: Path):
    windows = json.loads((root / "nab" / "labels" / "combined_windows.json").read_text())
    for key, spans in sorted(windows.items()):
        if not key.startswith("artificialWithAnomaly/"):
            continue
        table = read_table(root / "nab" / "data" / key)
        stamps = np.array(table.timestamps, dtype="datetime64[s]")
        labels = np.zeros(len(stamps), np.int8)
        for a, b in spans:
            labels[(stamps >= np.datetime64(a[:19])) & (stamps <= np.datetime64(b[:19]))] = 1
        cut = int(len(stamps) * 0.15)
        yield f"NAB {Path(key).stem}", table.values[:cut], table.values[cut:], labels[cut:]


def table_md(rows: list[dict], title: str) -> str:
    head = ("| series | GAN AUC-ROC | GAN AUC-PR | GAN best F1 | PCA AUC-PR | IForest AUC-PR | "
            "random AUC-PR | GAN F1@thr | train s | windows/s |")
    lines = [f"### {title}", "", head, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r['series']} | {r['gan']['auc_roc']:.3f} | {r['gan']['auc_pr']:.3f} | "
            f"{r['gan']['best_f1']:.3f} | {r['pca']['auc_pr']:.3f} | {r['iforest']['auc_pr']:.3f} | "
            f"{r['random']['auc_pr']:.3f} | {r['gan']['f1_at_threshold']:.3f} | "
            f"{r['train_seconds']:.1f} | {r['windows_per_second']:.0f} |")
    lines += ["", "| mean | " + " | ".join(METRICS) + " |", "|---|---|---|---|"]
    for method in METHODS:
        means = [np.mean([r[method][k] for r in rows]) for k in METRICS]
        lines.append(f"| {method} | " + " | ".join(f"{v:.3f}" for v in means) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", help="config for every series (default: the shipped defaults)")
    ap.add_argument("--datasets", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--only", help="comma-separated NASA channels")
    ap.add_argument("--skip-nab", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    cfg = load_config(args.config)
    cfg = cfg.replace(training=dataclasses.replace(cfg.training, verbose=0))
    root = Path(args.datasets)
    missing = [d for d in ("nasa", *(() if args.skip_nab else ("nab",))) if not (root / d).is_dir()]
    if missing:
        print(f"bench/detect.py: {root}/{missing[0]} not found: the benchmark data is not in "
              f"this repository; put the shared datasets at ../shared/datasets (see README, "
              f"Benchmarks) or pass --datasets DIR", file=sys.stderr)
        return 2
    only = set(args.only.split(",")) if args.only else None
    t0 = time.monotonic()
    print("NASA SMAP/MSL", file=sys.stderr)
    nasa_rows = [run_series(*s, cfg) for s in nasa(root, only)]
    nab_rows = []
    if not args.skip_nab:
        print("NAB artificialWithAnomaly (train on the first 15%)", file=sys.stderr)
        nab_rows = [run_series(*s, cfg) for s in nab(root)]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    header = (f"Config: {args.config or 'shipped default'} ({cfg.model.kind}/{cfg.model.backbone}, "
              f"window {cfg.data.window}, {cfg.training.epochs} epochs max); point-wise metrics, "
              f"no point adjustment; {os.cpu_count()} CPU cores; total {time.monotonic() - t0:.0f}s; "
              f"peak RSS {peak_mb:.0f} MB; {datetime.now(UTC):%Y-%m-%d}.\n\n")
    md = header + table_md(nasa_rows, "NASA SMAP/MSL (train.csv -> test.csv)")
    if nab_rows:
        md += "\n" + table_md(nab_rows, "NAB artificial (first 15% -> rest)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "detect.md").write_text(md)
    (out / "detect.json").write_text(json.dumps(
        {"config": args.config or "default", "nasa": nasa_rows, "nab": nab_rows,
         "peak_rss_mb": peak_mb}, indent=2))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
