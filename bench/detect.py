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
training time, windows/s scored, peak memory and the whole run's wall time.

NASA channels also run with train.csv cut to its first 700 and 1,500 rows (``--sizes``), the
short series on which training used to collapse; per size the table counts healthy and
refused models (a refused model is one `anomaly-gan train` would exit 3 on).

Health study (``--health-study``, on by default): on the 700-row cuts, a deliberately starved
run (the old budget: 270-odd steps at a constant 2e-4, one attempt) is trained and scored next
to the default's, and every default run that needed a retry also scores its failed first
attempt, so the table shows whether "unhealthy" means "detects worse".

Writes bench/results/detect.{md,json}.

    python bench/detect.py [--config C] [--only A-1,C-1] [--sizes full,700,1500] [--skip-nab]
                           [--no-health-study] [--datasets DIR]
                           [--nab-sets artificialWithAnomaly,realKnownCause] [--save-models DIR]
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
from anomaly_gan.runtime import import_tensorflow_quietly
from anomaly_gan.scoring import combine
from anomaly_gan.train import train_detector

METHODS = ("gan", "gan_mean", "pca", "iforest", "random")
METRICS = ("auc_roc", "auc_pr", "best_f1")


def causal_window_features(train: np.ndarray, test: np.ndarray, window: int, scaler_kind: str):
    scaler = fit_scaler(train, scaler_kind)
    def flat(x):
        return sliding_windows(scaler.transform(x), window, 1).reshape(len(x) - window + 1, -1)
    return flat(train), flat(test)


def scored_as(det, raw: np.ndarray, **calibration) -> np.ndarray:
    """The same trained model's scores with calibration fields replaced: ``feature_errors=None``
    averages the reconstruction error over features (the scoring before worst-feature)."""
    other = dataclasses.replace(det, calibration=dataclasses.replace(det.calibration, **calibration))
    return other.score_series(raw).score


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


def component_aucs(det, res, labels: np.ndarray) -> dict[str, dict[str, float]]:
    """AUC-ROC and AUC-PR of each standardised component alone, as it enters the score
    (two-sided ones with their floor): which signal carries the detection."""
    out = {}
    for comp, values in res.components.items():
        m = evaluate_scores(combine({comp: values}, {comp: 1.0}, det.calibration.score_floors),
                            labels)
        out[comp] = {k: m[k] for k in ("auc_roc", "auc_pr")}
    return out


def save_model(det, save_to: Path, name: str) -> None:
    """Keep a run's bundle for rescoring studies (the same model, scored another way), as
    ``save_to/<name with spaces and slashes as _>``."""
    from anomaly_gan.artifacts import save_bundle

    save_bundle(det, save_to / name.replace(" ", "_").replace("/", "_"), overwrite=True)


def run_series(name: str, train: np.ndarray, test: np.ndarray, labels: np.ndarray, cfg,
               with_baselines: bool = True, save_to: Path | None = None) -> dict:
    t0 = time.monotonic()
    det = train_detector(cfg, train, [f"f{i}" for i in range(train.shape[1])])
    train_s = time.monotonic() - t0
    if save_to is not None:
        save_model(det, save_to, name)
    health = det.metadata["health"]
    attempts = det.metadata.get("attempts", [])
    t0 = time.monotonic()
    res = det.score_series(test)
    score_s = time.monotonic() - t0
    row = {"series": name, "rows_train": len(train), "rows_test": len(test),
           "anomalous": int(labels.sum()), "train_seconds": round(train_s, 2),
           "epochs": det.metadata["epochs_run"], "health": health.get("status"),
           "issues": health.get("issues", []), "attempts": len(attempts),
           "first_attempt_health": attempts[0]["status"] if attempts else health.get("status"),
           "reconstruction_skill": health.get("reconstruction_skill", {}).get("overall"),
           "windows_per_second": round((len(test) - det.window + 1) / score_s, 1)}
    # The same model with the reconstruction error averaged over features
    # (scoring.reconstruction: mean): what the worst-feature component adds, without
    # training twice.
    scores = {"gan": res.score, "gan_mean": scored_as(det, test, feature_errors=None)}
    if with_baselines:
        scores.update(baselines(train, test, det.window, cfg.data.scaler, cfg.training.seed))
    for method, s in scores.items():
        m = evaluate_scores(s, labels, det.threshold if method == "gan" else None)
        row[method] = {k: m[k] for k in METRICS}
        if method == "gan":
            row[method].update(f1_at_threshold=m["f1"], precision=m["precision"], recall=m["recall"])
    row["components"] = component_aucs(det, res, labels)
    shown = "  ".join(f"{m} {row[m]['auc_pr']:.3f}" for m in scores)
    print(f"  {name:<34} AUC-PR {shown}  ({train_s:.0f}s train, {row['health']}, "
          f"{row['attempts']} attempt(s))", file=sys.stderr, flush=True)
    return row


def starved(cfg):
    """The old training budget: one pass per epoch, constant 2e-4, one attempt, kept anyway."""
    return cfg.replace(training=dataclasses.replace(
        cfg.training, min_steps=0, learning_rate=2e-4, lr_schedule="constant", max_attempts=1,
        allow_unhealthy=True))


def untrained(cfg):
    """A run stopped after one pass (nine steps on a 700-row cut): close to the initial,
    near-constant decoder output that the mode-collapse check exists to catch."""
    return cfg.replace(training=dataclasses.replace(
        cfg.training, epochs=1, min_steps=0, max_attempts=1, allow_unhealthy=True))


ARMS = {"starved": starved, "untrained": untrained}


def health_study(rows: list[dict], series: dict[str, tuple], cfg) -> list[dict]:
    """Healthy vs unhealthy models of the same series, scored the same way."""
    out = []
    for r in rows:
        train, test, labels = series[r["series"]]
        study = {"series": r["series"], "default": {k: r[k] for k in ("health", "attempts")},
                 "default_auc": {k: r["gan"][k] for k in ("auc_roc", "auc_pr")}}
        arms = dict(ARMS)
        if r["attempts"] > 1:  # the failed first attempt of the default run, alone
            arms["first_attempt"] = lambda c: c.replace(training=dataclasses.replace(
                c.training, max_attempts=1, allow_unhealthy=True))
        for arm, make in arms.items():
            print(f"  {r['series']} {arm}:", file=sys.stderr, flush=True)
            a = run_series(f"{r['series']} [{arm}]", train, test, labels, make(cfg), False)
            study[arm] = {"health": a["health"], "skill": a["reconstruction_skill"],
                          "auc_roc": a["gan"]["auc_roc"], "auc_pr": a["gan"]["auc_pr"]}
        out.append(study)
    return out


def nasa(root: Path, only: set[str] | None, size: int | None = None):
    for spacecraft in ("smap", "msl"):
        for ch in sorted((root / "nasa" / spacecraft).iterdir()):
            if only and ch.name not in only:
                continue
            train = read_table(ch / "train.csv").values
            test = read_table(ch / "test.csv").values
            labels = read_labels(ch / "test_label.csv", rows=len(test))
            if size is not None:
                train = train[:size]
            suffix = "" if size is None else f" [{size} rows]"
            yield f"{spacecraft.upper()} {ch.name}{suffix}", train, test, labels


def nab(root: Path, sets: tuple[str, ...] = ("artificialWithAnomaly",)):
    """(name, train, test, labels, after): the first 15% of each series to train on, the rest
    with its labels, and ``after``: the labelled rows at or after the anomaly point(s) of
    their window (``combined_labels.json``; a window with no point in it counts from its
    start). NAB centres each window on its anomaly, so about half of the labelled rows come
    before it, where only a precursor could be seen."""
    windows = json.loads((root / "nab" / "labels" / "combined_windows.json").read_text())
    points_file = root / "nab" / "labels" / "combined_labels.json"
    points = json.loads(points_file.read_text()) if points_file.is_file() else {}
    for key, spans in sorted(windows.items()):
        if key.split("/")[0] not in sets:
            continue
        table = read_table(root / "nab" / "data" / key)
        stamps = np.array(table.timestamps, dtype="datetime64[s]")
        labels = np.zeros(len(stamps), np.int8)
        after = np.zeros(len(stamps), np.int8)
        marks = [np.datetime64(p[:19]) for p in points.get(key, [])]
        for a, b in spans:
            start, end = np.datetime64(a[:19]), np.datetime64(b[:19])
            inside = (stamps >= start) & (stamps <= end)
            labels[inside] = 1
            first = min((m for m in marks if start <= m <= end), default=start)
            after[inside & (stamps >= first)] = 1
        cut = int(len(stamps) * 0.15)
        if labels[cut:].min() == labels[cut:].max():  # no AUC without both classes
            print(f"  NAB {Path(key).stem}: left out, its scored part has "
                  f"{'no labelled' if labels[cut:].max() == 0 else 'only labelled'} rows",
                  file=sys.stderr)
            continue
        yield (f"NAB {Path(key).stem}", table.values[:cut], table.values[cut:], labels[cut:],
               after[cut:])


def causal_ceiling(labels: np.ndarray, after: np.ndarray) -> dict[str, float]:
    """The point-wise metrics of a detector that flags exactly the labelled rows from each
    anomaly point on, and nothing else: what a causal detector (one that sees a row's past
    only, as `serve` does) reaches at best on NAB's centred windows, unless the data holds
    precursors before the labelled point.

    >>> r = causal_ceiling(np.array([0, 0, 1, 1, 1, 1, 0, 0]), np.array([0, 0, 0, 0, 1, 1, 0, 0]))
    >>> r["auc_roc"], r["auc_pr"], r["labelled_before"]
    (0.75, 0.75, 0.5)
    """
    m = evaluate_scores(after.astype(np.float64), labels)
    return {"auc_roc": m["auc_roc"], "auc_pr": m["auc_pr"],
            "labelled_before": float(((labels == 1) & (after == 0)).sum() / labels.sum())}


def ceiling_md(groups: dict[str, list[dict]]) -> str:
    """One line per NAB group: the causal ceiling of its labels (:func:`causal_ceiling`)."""
    lines = []
    for name, rows in groups.items():
        have = [r["causal_ceiling"] for r in rows if "causal_ceiling" in r]
        if have:
            lines.append(
                f"- {name}: a detector that flags exactly the labelled rows from each anomaly "
                f"point on reaches AUC-ROC {np.mean([h['auc_roc'] for h in have]):.3f} / AUC-PR "
                f"{np.mean([h['auc_pr'] for h in have]):.3f}: "
                f"{100 * np.mean([h['labelled_before'] for h in have]):.1f}% of the labelled "
                "rows come before the point, where a causal detector sees no anomaly yet.")
    if not lines:
        return ""
    return "\n".join(["### NAB labels: the ceiling of a causal detector", "", *lines]) + "\n"


def table_md(rows: list[dict], title: str) -> str:
    head = ("| series | health (attempts) | skill | GAN AUC-ROC | GAN AUC-PR | GAN best F1 | "
            "PCA AUC-PR | IForest AUC-PR | random AUC-PR | GAN F1@thr | train s | windows/s |")
    lines = [f"### {title}", "", head, "|" + "---|" * 12]
    for r in rows:
        skill = r.get("reconstruction_skill")
        lines.append(
            f"| {r['series']} | {r['health']} ({r['attempts']}) | "
            f"{'-' if skill is None else f'{skill:.2f}'} | {r['gan']['auc_roc']:.3f} | "
            f"{r['gan']['auc_pr']:.3f} | "
            f"{r['gan']['best_f1']:.3f} | {r['pca']['auc_pr']:.3f} | {r['iforest']['auc_pr']:.3f} | "
            f"{r['random']['auc_pr']:.3f} | {r['gan']['f1_at_threshold']:.3f} | "
            f"{r['train_seconds']:.1f} | {r['windows_per_second']:.0f} |")
    healthy = sum(r["health"] == "healthy" for r in rows)
    lines += ["", (f"{healthy} healthy, {len(rows) - healthy} refused; training time max "
              f"{max(r['train_seconds'] for r in rows):.1f} s, mean "
              f"{np.mean([r['train_seconds'] for r in rows]):.1f} s."), "",
              "| mean | " + " | ".join(METRICS) + " |", "|---|---|---|---|"]
    for method in METHODS:
        means = [np.mean([r[method][k] for r in rows]) for k in METRICS]
        lines.append(f"| {method} | " + " | ".join(f"{v:.3f}" for v in means) + " |")
    return "\n".join(lines) + "\n"


def summary_md(groups: dict[str, list[dict]]) -> str:
    """One line per data set and size: refused models and mean AUCs of every method."""
    lines = ["### Summary (means over series)", "",
             "| data | series | healthy | refused | " + " | ".join(
                 f"{m} AUC-ROC | {m} AUC-PR" for m in METHODS) + " |",
             "|" + "---|" * (4 + 2 * len(METHODS))]
    for name, rows in groups.items():
        if not rows:
            continue
        healthy = sum(r["health"] == "healthy" for r in rows)
        cells = [f"{np.mean([r[m][k] for r in rows]):.3f}" for m in METHODS
                 for k in ("auc_roc", "auc_pr")]
        lines.append(f"| {name} | {len(rows)} | {healthy} | {len(rows) - healthy} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def components_md(groups: dict[str, list[dict]]) -> str:
    """Mean AUCs of each score component alone (analysis; the default mixes them)."""
    comps = sorted({c for rows in groups.values() for r in rows for c in r.get("components", {})})
    lines = ["### Score components alone (mean AUC-ROC / AUC-PR; two-sided ones as they enter the score)", "",
             "| data | " + " | ".join(comps) + " |", "|" + "---|" * (1 + len(comps))]
    for name, rows in groups.items():
        cells = []
        for c in comps:
            have = [r["components"][c] for r in rows if c in r.get("components", {})]
            cells.append("-" if not have else
                         f"{np.mean([h['auc_roc'] for h in have]):.3f} / "
                         f"{np.mean([h['auc_pr'] for h in have]):.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def study_md(study: list[dict]) -> str:
    arms = [a for a in (*ARMS, "first_attempt") if any(a in s for s in study)]
    lines = ["### Health study: does \"unhealthy\" mean \"detects worse\"? (700-row cuts)", "",
             ("Per arm: health, skill, AUC-ROC, AUC-PR. starved: the old budget (one pass per "
             "epoch at 2e-4); untrained: one epoch; first_attempt: the default run's failed "
             "first attempt, alone."), "",
             "| series | default: health (attempts), AUC-ROC, AUC-PR | "
             + " | ".join(arms) + " |", "|" + "---|" * (2 + len(arms))]

    def cell(r: dict | None) -> str:
        if r is None:
            return "-"
        skill = "-" if r["skill"] is None else f"{r['skill']:.2f}"
        return f"{r['health']}, {skill}, {r['auc_roc']:.3f}, {r['auc_pr']:.3f}"

    for s in study:
        lines.append(f"| {s['series']} | {s['default']['health']} ({s['default']['attempts']}), "
                     f"{s['default_auc']['auc_roc']:.3f}, {s['default_auc']['auc_pr']:.3f} | "
                     + " | ".join(cell(s.get(a)) for a in arms) + " |")
    lines.append("")
    for arm in arms:
        ran = [s for s in study if arm in s]
        bad = [s for s in ran if s[arm]["health"] != "healthy"]
        if not bad:
            lines.append(f"- {arm}: none of {len(ran)} runs judged unhealthy.")
            continue
        lines.append(
            f"- {arm}: {len(bad)} of {len(ran)} runs judged unhealthy; their mean AUC-ROC "
            f"{np.mean([s[arm]['auc_roc'] for s in bad]):.3f} / AUC-PR "
            f"{np.mean([s[arm]['auc_pr'] for s in bad]):.3f}, against "
            f"{np.mean([s['default_auc']['auc_roc'] for s in bad]):.3f} / "
            f"{np.mean([s['default_auc']['auc_pr'] for s in bad]):.3f} for the default runs "
            f"of the same series.")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", help="config for every series (default: the shipped defaults)")
    ap.add_argument("--datasets", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--only", help="comma-separated NASA channels")
    ap.add_argument("--sizes", default="full,700,1500",
                    help="NASA train.csv lengths to run: 'full' and/or row counts")
    ap.add_argument("--skip-nab", action="store_true")
    ap.add_argument("--nab-sets", default="artificialWithAnomaly",
                    help="comma-separated NAB folders (e.g. realKnownCause,realTraffic)")
    ap.add_argument("--no-health-study", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--save-models", metavar="DIR",
                    help="also save every default run's model bundle under DIR")
    args = ap.parse_args()
    import_tensorflow_quietly()  # no banner, no retracing hints between the rows
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
    sizes = [None if s == "full" else int(s) for s in args.sizes.split(",")]
    save_to = Path(args.save_models) if args.save_models else None
    t0 = time.monotonic()
    groups: dict[str, list[dict]] = {}
    short: dict[str, tuple] = {}
    for size in sizes:
        label = "NASA, full train.csv" if size is None else f"NASA, first {size} rows"
        print(label, file=sys.stderr)
        rows = []
        for name, train, test, labels in nasa(root, only, size):
            rows.append(run_series(name, train, test, labels, cfg, save_to=save_to))
            if size == 700:
                short[name] = (train, test, labels)
        if rows:  # --only may name channels of another spacecraft or none at all
            groups[label] = rows
    if not args.skip_nab:
        sets = tuple(args.nab_sets.split(","))
        label = "NAB artificial" if sets == ("artificialWithAnomaly",) else f"NAB {'+'.join(sets)}"
        print(f"{label} (train on the first 15%)", file=sys.stderr)
        groups[label] = [run_series(name, train, test, labels, cfg, save_to=save_to)
                         | {"causal_ceiling": causal_ceiling(labels, after)}
                         for name, train, test, labels, after in nab(root, sets)]
    study = []
    if short and not args.no_health_study:
        print("health study (700-row cuts)", file=sys.stderr)
        study = health_study(groups["NASA, first 700 rows"], short, cfg)
    wall = time.monotonic() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    header = (f"Config: {args.config or 'shipped default'} ({cfg.model.kind}/{cfg.model.backbone}, "
              f"window {cfg.data.window}, {cfg.training.epochs} epochs max, "
              f"min {cfg.training.min_steps} steps, up to {cfg.training.max_attempts} attempts); "
              f"point-wise metrics, no point adjustment; {os.cpu_count()} CPU cores; "
              f"bench wall time {wall:.0f} s; peak RSS {peak_mb:.0f} MB; "
              f"{datetime.now(UTC):%Y-%m-%d}.\n\n")
    md = header + summary_md(groups) + "\n" + components_md(groups)
    if ceiling := ceiling_md(groups):
        md += "\n" + ceiling
    for title, rows in groups.items():
        md += "\n" + table_md(rows, title)
    if study:
        md += "\n" + study_md(study)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "detect.md").write_text(md)
    (out / "detect.json").write_text(json.dumps(
        {"config": args.config or "default", "groups": groups, "health_study": study,
         "wall_seconds": round(wall, 1), "peak_rss_mb": peak_mb}, indent=2))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
