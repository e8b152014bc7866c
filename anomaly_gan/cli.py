"""The ``anomaly-gan`` command: thin subcommands over the library.

Exit codes: 0 ok; 2 bad input (config, data, model bundle: one line on stderr, no
traceback); 3 training ended unhealthy (bundle not written unless --allow-unhealthy);
130 interrupted.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from anomaly_gan.errors import AnomalyGanError, DataError

__all__ = ["build_parser", "main"]

EXIT_BAD_INPUT = 2
EXIT_UNHEALTHY = 3


def _eprint(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


# --------------------------------------------------------------------------- helpers


def _load_cfg(path: str | None):
    from anomaly_gan.config import load_config

    return load_config(path)


def _read_for_model(data: str, det):
    from anomaly_gan.data import apply_nan_policy, check_features, read_table

    cfg = det.config
    table = read_table(data, cfg.data.timestamp_column)
    values = check_features(table, det.feature_names)
    table = type(table)(table.path, det.feature_names, values, table.timestamps, table.has_header)
    values = apply_nan_policy(table, cfg.data.nan_policy)
    if len(values) < det.window:
        raise DataError(f"{data}: need at least one window of {det.window} rows, got {len(values)} rows")
    return table, values


def _atomic_write_text(path: str, write) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            write(fh)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fmt(x: float) -> str:
    return "" if not math.isfinite(x) else f"{x:.9g}"


# --------------------------------------------------------------------------- commands


def cmd_validate_config(args: argparse.Namespace) -> int:
    from anomaly_gan.config import load_config

    cfg = load_config(args.file)
    print(f"{args.file}: ok (model {cfg.model.kind}/{cfg.model.backbone}, window {cfg.data.window})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from anomaly_gan.artifacts import check_destination, save_bundle
    from anomaly_gan.data import apply_nan_policy, read_table
    from anomaly_gan.train import train_detector

    cfg = _load_cfg(args.config)
    out = Path(args.out)
    check_destination(out, args.force)  # before minutes of training, not after
    tables = [read_table(p, cfg.data.timestamp_column) for p in args.data]
    names = tables[0].feature_names
    for t in tables[1:]:
        if t.feature_names != names:
            raise DataError(f"{t.path}: columns {', '.join(t.feature_names)} differ from "
                            f"{tables[0].path}: {', '.join(names)}")
    series = [apply_nan_policy(t, cfg.data.nan_policy) for t in tables]
    for t, s in zip(tables, series):
        if len(s) < 2 * cfg.data.window:
            raise DataError(f"{t.path}: {len(s)} rows is fewer than the {2 * cfg.data.window} "
                            f"needed (one training and one held-out window of {cfg.data.window})")
    if args.quiet:
        cfg = cfg.replace(training=dataclasses.replace(cfg.training, verbose=0))
    det = train_detector(cfg, series, names, progress=_eprint)
    health = det.metadata.get("health", {})
    if health.get("status") != "healthy":
        _eprint(f"training ended unhealthy: {'; '.join(health.get('issues', [])) or health}")
        if not (args.allow_unhealthy or cfg.training.allow_unhealthy):
            _eprint("bundle NOT written (pass --allow-unhealthy to keep it anyway)")
            return EXIT_UNHEALTHY
    path = save_bundle(det, out, overwrite=args.force)
    val = det.metadata["validation"]
    print(json.dumps({
        "bundle": str(path), "version": det.version, "kind": det.kind,
        "features": len(names), "window": det.window, "threshold": det.threshold,
        "threshold_method": det.calibration.threshold.method,
        "train_seconds": det.metadata["duration_seconds"], "epochs": det.metadata["epochs_run"],
        "precision": det.metadata["precision"], "health": health.get("status"),
        "held_out_false_positive_rate": val["false_positive_rate"],
    }, indent=2))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from anomaly_gan.artifacts import load_bundle

    det = load_bundle(args.model)
    table, values = _read_for_model(args.data, det)
    res = det.score_series(values)
    comps = list(res.components)
    key = "timestamp" if table.timestamps is not None else "index"

    def write(fh) -> None:
        w = csv.writer(fh)
        w.writerow([key, "score", "threshold", "is_anomaly", "severity", *comps, "top_features"])
        for i in range(len(res)):
            scored = math.isfinite(res.score[i])
            w.writerow([
                table.timestamps[i] if table.timestamps is not None else i,
                _fmt(res.score[i]),
                _fmt(res.threshold),
                (1 if res.is_anomaly[i] else 0) if scored else "",
                _fmt(res.severity[i]),
                *[_fmt(res.components[c][i]) for c in comps],
                ";".join(res.top_features[i]),
            ])

    _atomic_write_text(args.out, write)
    flagged = int(res.is_anomaly.sum())
    _eprint(f"scored {len(res)} rows ({len(res) - det.window + 1} windows) with {det.version}: "
            f"{flagged} above threshold {det.threshold:.3f} -> {args.out}")
    return 0


def _print_metrics(m: dict) -> None:
    def f(x):
        return "n/a" if x is None else f"{x:.4f}"

    print(f"rows {m['rows']}  anomalous {m['anomalous_rows']}  unscored (warm-up) {m['unscored_rows']}")
    print(f"AUC-ROC {f(m['auc_roc'])}   AUC-PR {f(m['auc_pr'])}   best F1 {f(m['best_f1'])}  (point-wise)")
    if "f1" in m:
        print(f"at calibrated threshold {m['threshold']:.4f}: F1 {f(m['f1'])}  precision "
              f"{f(m['precision'])}  recall {f(m['recall'])}  flagged {m['flagged_rows']}")
        print(f"point-adjusted F1 (inflated, for comparison only): {f(m['point_adjusted_f1'])}")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from anomaly_gan.artifacts import load_bundle
    from anomaly_gan.data import read_labels
    from anomaly_gan.evaluate import evaluate_scores

    det = load_bundle(args.model)
    _, values = _read_for_model(args.data, det)
    labels = read_labels(args.labels, rows=len(values))
    res = det.score_series(values)
    metrics = evaluate_scores(res.score, labels, det.threshold)
    metrics["model_version"] = det.version
    if args.plot:
        from anomaly_gan.plot import plot_scores

        plot_scores(values, det.feature_names, res, args.plot, labels, title=f"{args.data} - {det.version}")
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        _print_metrics(metrics)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from anomaly_gan.artifacts import load_bundle
    from anomaly_gan.data import read_labels
    from anomaly_gan.plot import plot_scores

    det = load_bundle(args.model)
    _, values = _read_for_model(args.data, det)
    labels = read_labels(args.labels, rows=len(values)) if args.labels else None
    res = det.score_series(values)
    plot_scores(values, det.feature_names, res, args.out, labels, title=f"{args.data} - {det.version}")
    _eprint(f"wrote {args.out}")
    return 0


def cmd_offline_demo(args: argparse.Namespace) -> int:
    from anomaly_gan.demo_offline import run_offline_demo

    return run_offline_demo(args.out, seed=args.seed)


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anomaly-gan",
        description="Train GAN anomaly detectors on normal data; score files and Kafka streams.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate-config", help="check a YAML config file")
    p.add_argument("file")
    p.set_defaults(func=cmd_validate_config)

    p = sub.add_parser("train", help="train a model bundle on normal data")
    p.add_argument("--config", help="YAML config (default: the shipped defaults)")
    p.add_argument("--data", required=True, nargs="+", help="CSV/Parquet file(s) of normal rows; "
                   "several files are separate series (windows never span two)")
    p.add_argument("--out", required=True, help="bundle directory to create")
    p.add_argument("--force", action="store_true", help="replace an existing bundle directory")
    p.add_argument("--allow-unhealthy", action="store_true",
                   help="write the bundle even if GAN training ended unhealthy")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("score", help="score a file: one output row per input row")
    p.add_argument("--model", required=True, help="bundle directory or store with a 'current' file")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="scores CSV to write")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("evaluate", help="point-wise AUC-ROC, AUC-PR, F1 against labels")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--labels", required=True, help="one 0/1 per data row")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--plot", help="also write the figure to this PNG")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("plot", help="figure: top features, score vs threshold, labels")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--labels")
    p.add_argument("--out", required=True, help="PNG to write")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("offline-demo", help="synthetic plant: train, score, evaluate (no Kafka)")
    p.add_argument("--out", default="out/offline-demo")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_offline_demo)

    from anomaly_gan.stream import commands as stream_commands

    stream_commands.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_tensorflow()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AnomalyGanError as exc:
        _eprint(f"anomaly-gan: error: {exc}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _eprint("anomaly-gan: interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
