"""Mixed-precision training through the project's own code, on the device Keras finds.

Everything is trained by ``anomaly_gan.train.train_detector`` (build_gan, fit_gan, calibration)
with ``training.precision`` set per run; this file holds no model code. It is meant for a lent
GPU machine, which has JAX and no TensorFlow, so ``KERAS_BACKEND`` defaults to ``jax`` here.

Per precision (float32, mixed_bfloat16, mixed_float16), busy size first:

1. **Busy size**: window 128, hidden (128, 256), latent 32, batch 1024, trained on the
   training parts of all SMAP channels (one entity each) for ``--busy-epochs`` epochs: train
   windows/s and speed-up, the size where a GPU has enough work per step for 16-bit math to pay.
2. **Real series**: each NASA channel of ``--series`` (``../shared/datasets/nasa``) is trained
   with the shipped default config for exactly ``--epochs`` epochs (early stopping off), then
   scored on its labelled test part. Reported: train windows/s (the windows an epoch feeds the
   optimizer, the step floor's repeats included, over the median epoch time, first epoch
   excluded as it includes compilation), time to train the series (``train_detector`` end to
   end, compilation included), AUC-PR, and the speed-up and AUC-PR change against float32.

The report is rewritten after every row, so a run cut short (a device lease ending) keeps
what it measured; ``--parts`` picks what runs.

Run on a GPU machine (it needs the project's dependencies except TensorFlow: numpy, pyyaml,
scikit-learn, scipy; carry wheels for any it lacks):

    KERAS_BACKEND=jax python bench/gpu_precision.py --datasets ../shared/datasets

On CPU, as a smoke check of the script (small sizes, numbers meaningless for GPUs):

    python bench/gpu_precision.py --smoke

Writes bench/results/<stem>.md and .json; the stem is ``gpu_precision`` on a GPU and
``gpu_precision_cpu`` elsewhere, so a CPU run never overwrites GPU figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np

from anomaly_gan.config import PRECISIONS as ALL_PRECISIONS
from anomaly_gan.config import Config, TrainingConfig, load_config
from anomaly_gan.data import read_labels, read_table
from anomaly_gan.detector import Detector
from anomaly_gan.errors import TrainingHealthError
from anomaly_gan.evaluate import evaluate_scores
from anomaly_gan.models.training import steps_per_epoch
from anomaly_gan.train import train_detector

PRECISIONS = tuple(p for p in ALL_PRECISIONS if p != "auto")
DEFAULT_SERIES = ("A-1", "E-1", "P-1")
CPU_NOTE = ("**Not a GPU run.** On a CPU this is a check that the script works end to end; its "
            "speeds (and, after a couple of epochs, its AUC-PR) say nothing about mixed "
            "precision on a GPU.")


class EpochClock:
    """A ``progress`` callable that timestamps training's per-epoch lines."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.epoch_ends: list[float] = []

    def __call__(self, line: str) -> None:
        if " epoch " in line:
            self.epoch_ends.append(time.perf_counter())

    def steady_epoch_seconds(self) -> float:
        """Median epoch time after the first (which includes tracing and compilation)."""
        ends = [self.started, *self.epoch_ends]
        durations = [b - a for a, b in itertools.pairwise(ends)]
        return statistics.median(durations[1:] if len(durations) > 1 else durations)


def environment() -> dict[str, object]:
    import keras

    backend = keras.backend.backend()
    env: dict[str, object] = {"keras": keras.__version__, "backend": backend,
                              "python": platform.python_version(),
                              "utc": datetime.now(UTC).isoformat(timespec="seconds")}
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        env.update(jax=jax.__version__, platform=device.platform, device=device.device_kind,
                   n_devices=len(jax.devices()))
    else:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        env.update(tensorflow=tf.__version__, platform="gpu" if gpus else "cpu",
                   device=(tf.config.experimental.get_device_details(gpus[0]).get(
                       "device_name", "GPU") if gpus else platform.processor() or "CPU"),
                   n_devices=max(1, len(gpus)))
    return env


def with_training(cfg: Config, precision: str, epochs: int, **training: object) -> Config:
    """``cfg`` trained in ``precision`` for exactly ``epochs`` epochs (no early stop), in one
    attempt: ``train_detector`` retries a float16 attempt that overflows under float32, and
    the row would have given float32's speed and AUC-PR under the precision asked for."""
    return cfg.replace(training=dataclasses.replace(
        cfg.training, precision=precision, epochs=epochs, patience=epochs, verbose=0,
        allow_unhealthy=True, max_attempts=1, **training))


def windows_per_epoch(train_windows: int, training: TrainingConfig) -> int:
    """Windows one epoch feeds the optimizer: one pass, or the step floor's repeats of it."""
    batch = min(training.batch_size, train_windows)
    steps = steps_per_epoch(train_windows, batch, training.epochs, training.min_steps)
    return max(train_windows, steps * batch)


def train_timed(cfg: Config, series: list[np.ndarray], n_features: int
                ) -> tuple[Detector | None, dict]:
    """The detector and its row; ``None`` and a row saying so where the one attempt's
    losses went non-finite (nothing to calibrate: ``train_detector`` keeps no such model)."""
    clock = EpochClock()
    t0 = time.perf_counter()
    try:
        detector = train_detector(cfg, series, [f"f{i}" for i in range(n_features)],
                                  progress=clock)
    except TrainingHealthError as exc:
        return None, {"precision": cfg.training.precision, "train_windows": None,
                      "windows_per_epoch": None, "train_windows_per_s": None,
                      "train_seconds": round(time.perf_counter() - t0, 2),
                      "losses_finite": False, "health": f"failed: {exc}"}
    total = time.perf_counter() - t0
    meta = detector.metadata
    windows = meta["training_data"]["train_windows"]
    per_epoch = windows_per_epoch(windows, cfg.training)
    health = meta["health"]
    row = {
        "precision": cfg.training.precision,
        "epochs_run": meta["epochs_run"],
        "train_windows": windows,
        "windows_per_epoch": per_epoch,
        "train_windows_per_s": round(per_epoch / clock.steady_epoch_seconds(), 1),
        "train_seconds": round(total, 2),
        "losses_finite": not any("non-finite" in issue for issue in health["issues"]),
        "health": health["status"],
    }
    return detector, row


def real_series(root: Path, names: list[str], epochs: int, precisions: list[str],
                base: Config, rows: list[dict], saved: Callable[[], object]) -> None:
    for name in names:
        matches = sorted((root / "nasa").glob(f"*/{name}"))
        if not matches:
            raise SystemExit(f"bench/gpu_precision.py: {root}/nasa/*/{name} not found")
        channel = matches[0]
        train = read_table(channel / "train.csv").values
        test = read_table(channel / "test.csv").values
        labels = read_labels(channel / "test_label.csv", rows=len(test))
        for precision in precisions:
            cfg = with_training(base, precision, epochs)
            detector, row = train_timed(cfg, [train], train.shape[1])
            row.update(series=name, auc_pr=None)
            if detector is not None:
                scores = detector.score_series(test).score
                metrics = evaluate_scores(scores, labels, detector.threshold)
                row.update(auc_pr=round(float(metrics["auc_pr"]), 4))
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            saved()


def busy_size(root: Path, epochs: int, precisions: list[str], base: Config,
              max_windows: int, rows: list[dict], saved: Callable[[], object]) -> None:
    series = [read_table(ch / "train.csv").values
              for ch in sorted((root / "nasa" / "smap").iterdir())]
    cfg = base.replace(
        model=dataclasses.replace(base.model, hidden=(128, 256), latent_dim=32),
        data=dataclasses.replace(base.data, window=128, max_train_windows=max_windows))
    for precision in precisions:
        run = with_training(cfg, precision, epochs, batch_size=1024)
        _, row = train_timed(run, series, series[0].shape[1])
        row.update(series=f"all SMAP ({len(series)} channels)")
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        saved()


def add_relative(rows: list[dict]) -> None:
    """Speed-up and AUC-PR change of each row against float32 on the same series."""
    reference = {r["series"]: r for r in rows
                 if r["precision"] == "float32" and r["train_windows_per_s"] is not None}
    for r in rows:
        ref = reference.get(r["series"])
        if ref is None or r["train_windows_per_s"] is None:
            continue
        r["speedup_vs_float32"] = round(r["train_windows_per_s"] / ref["train_windows_per_s"], 2)
        if r.get("auc_pr") is not None and ref.get("auc_pr") is not None:
            r["auc_pr_change"] = round(r["auc_pr"] - ref["auc_pr"], 4)


def summary(rows: list[dict], precisions: list[str]) -> list[str]:
    """Means per precision over the runs that trained; a run whose losses went non-finite
    is counted beside the precision, not averaged."""
    lines = [("| precision | mean train win/s | mean speed-up | mean time to train (s) | "
              "mean AUC-PR | AUC-PR change (max abs) |"), "|---|---:|---:|---:|---:|---:|"]
    for precision in precisions:
        runs = [r for r in rows if r["precision"] == precision]
        sel = [r for r in runs if r["train_windows_per_s"] is not None]
        if not runs:
            continue
        failed = len(runs) - len(sel)
        name = precision + (f" ({failed} of {len(runs)} runs non-finite)" if failed else "")
        if not sel:
            lines.append(f"| {name} | - | - | - | - | - |")
            continue
        change = max(abs(r.get("auc_pr_change", 0.0)) for r in sel)
        lines.append(
            f"| {name} | {statistics.mean(r['train_windows_per_s'] for r in sel):,.0f} | "
            f"{statistics.mean(r.get('speedup_vs_float32', 1.0) for r in sel):.2f}x | "
            f"{statistics.mean(r['train_seconds'] for r in sel):.1f} | "
            f"{statistics.mean(r['auc_pr'] for r in sel):.4f} | {change:.4f} |")
    return lines


def _cell(value: object, fmt: str, unit: str = "") -> str:
    """``value`` formatted, or ``-`` for a run that did not train (or has no float32 run
    beside it).

    >>> _cell(1234.5, ",.0f"), _cell(None, ".4f"), _cell(1.5, ".2f", "x")
    ('1,234', '-', '1.50x')
    """
    return "-" if value is None else format(value, fmt) + unit


def markdown(env: dict, args: argparse.Namespace, real: list[dict], busy: list[dict],
             precisions: list[str]) -> str:
    device = (f"Device: **{env['device']}** ({env['platform']}, {env['n_devices']} device(s)); "
              f"Keras {env['keras']} on {env['backend']}; {env['utc']}.")
    how = (f"Generated by `bench/gpu_precision.py` ({' '.join(sys.argv[1:]) or 'defaults'}): "
           "`train_detector` with the shipped default config"
           + (f" but `training.min_steps: {args.min_steps}`" if args.min_steps is not None else "")
           + f", `training.precision` per run, {args.epochs} epochs each (early stopping off). "
           "Train windows/s = the windows an epoch feeds the optimizer (one pass, or the "
           "`training.min_steps` floor's repeats of it) over the median epoch time after the "
           "first epoch; time to train = the whole "
           "`train_detector` call, compilation included.")
    md = ["# Mixed-precision training through anomaly_gan's own code", "", device, "", how, ""]
    if env["platform"] != "gpu":
        md += [CPU_NOTE, ""]
    md += ["## Real series (NASA)", ""]
    md += summary(real, precisions)
    md += ["", ("| series | precision | train win/s | speed-up | time to train (s) | AUC-PR | "
                "AUC-PR change | losses finite | health |"),
           "|---|---|---:|---:|---:|---:|---:|---|---|"]
    md += [f"| {r['series']} | {r['precision']} | {_cell(r['train_windows_per_s'], ',.0f')} | "
           f"{_cell(r.get('speedup_vs_float32'), '.2f', 'x')} | {r['train_seconds']:.1f} | "
           f"{_cell(r['auc_pr'], '.4f')} | {_cell(r.get('auc_pr_change'), '+.4f')} | "
           f"{'yes' if r['losses_finite'] else 'NO'} | {r['health']} |" for r in real]
    if busy:
        md += ["", "## Busy size: window 128, hidden (128, 256), latent 32, batch 1024", "",
               ("| data | precision | train windows | windows an epoch | train win/s | "
                "speed-up | time to train (s) | losses finite |"),
               "|---|---|---:|---:|---:|---:|---:|---|"]
        md += [f"| {r['series']} | {r['precision']} | {_cell(r['train_windows'], 'd')} | "
               f"{_cell(r['windows_per_epoch'], 'd')} | "
               f"{_cell(r['train_windows_per_s'], ',.0f')} | "
               f"{_cell(r.get('speedup_vs_float32'), '.2f', 'x')} | "
               f"{r['train_seconds']:.1f} | {'yes' if r['losses_finite'] else 'NO'} |"
               for r in busy]
    return "\n".join(md) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--series", default=",".join(DEFAULT_SERIES),
                    help="NASA channels, comma-separated")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--busy-epochs", type=int, default=5)
    ap.add_argument("--busy-max-windows", type=int, default=65_536)
    ap.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    ap.add_argument("--min-steps", type=int, default=None,
                    help="training.min_steps (default: the shipped config's)")
    ap.add_argument("--parts", nargs="+", default=["busy", "real"], choices=("busy", "real"),
                    help="what to run, busy size first (a run cut short keeps its rows)")
    ap.add_argument("--smoke", action="store_true",
                    help="one series, 2 epochs, a 20-step floor, a small busy run: checks the script on CPU")
    ap.add_argument("--out-dir", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--out-stem", default=None)
    args = ap.parse_args()
    if args.smoke:
        args.series, args.epochs, args.busy_epochs, args.busy_max_windows = "A-1", 2, 2, 2048
        args.min_steps = 20
    root = Path(args.datasets)
    if not (root / "nasa").is_dir():
        print(f"bench/gpu_precision.py: {root}/nasa not found (pass --datasets)", file=sys.stderr)
        return 2
    env = environment()
    print(json.dumps(env), file=sys.stderr, flush=True)
    base = load_config(None)
    if args.min_steps is not None:
        base = base.replace(training=dataclasses.replace(base.training, min_steps=args.min_steps))
    stem = args.out_stem or ("gpu_precision" if env["platform"] == "gpu" else "gpu_precision_cpu")
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    real: list[dict] = []
    busy: list[dict] = []

    def saved() -> str:
        """Rewrites the report with every row so far: a run cut short keeps what it measured."""
        add_relative(real)
        add_relative(busy)
        text = markdown(env, args, real, busy, args.precisions)
        write_atomic(out / f"{stem}.md", text)
        write_atomic(out / f"{stem}.json", json.dumps(
            {"environment": env, "args": vars(args), "real_series": real, "busy_size": busy},
            indent=2))
        return text

    if "busy" in args.parts:
        busy_size(root, args.busy_epochs, args.precisions, base, args.busy_max_windows, busy,
                  saved)
    if "real" in args.parts:
        real_series(root, args.series.split(","), args.epochs, args.precisions, base, real,
                    saved)
    print(saved())
    return 0


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


if __name__ == "__main__":
    sys.exit(main())
