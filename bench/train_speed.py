"""Training speed: windows/s per model family and precision policy on this machine.

Each case builds the model from the shipped default config (overriding kind/precision),
runs one warm-up epoch (graph tracing), then times ``--epochs`` epochs over ``--windows``
random windows. Writes bench/results/train_speed.{md,json}.

    python bench/train_speed.py [--windows 4096] [--epochs 2] [--features 25]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anomaly_gan.config import MODEL_KINDS, PRECISIONS, load_config
from anomaly_gan.models import build_gan, fit_gan


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=4096)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--features", type=int, default=25)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    base = load_config(None)
    w = base.data.window
    rng = np.random.default_rng(0)
    train = rng.normal(size=(args.windows, w, args.features)).astype(np.float32)
    val = train[:256]
    rows = []
    for kind in MODEL_KINDS:
        for precision in (p for p in PRECISIONS if p != "auto"):
            model = dataclasses.replace(base.model, kind=kind)
            # min_steps 0: the step floor would repeat the windows within an epoch, and
            # windows/s counts each window once per epoch.
            training = dataclasses.replace(base.training, precision=precision, verbose=0,
                                           patience=10_000, min_steps=0)
            gan = build_gan(model, training, w, args.features)
            fit_gan(gan, train[:512], val, dataclasses.replace(training, epochs=1))
            t0 = time.perf_counter()
            fit = fit_gan(gan, train, val, dataclasses.replace(training, epochs=args.epochs))
            elapsed = time.perf_counter() - t0
            finite = all(np.isfinite(v).all() for v in fit.history.values())
            rows.append({"kind": kind, "precision": precision,
                         "windows_per_second": round(args.windows * fit.epochs_run / elapsed, 1),
                         "epochs": fit.epochs_run, "finite_losses": bool(finite)})
            print(rows[-1], file=sys.stderr, flush=True)
    intro = (f"Training speed on {os.cpu_count()} CPU cores, default config (window {w}, "
             f"hidden {list(base.model.hidden)}, batch {base.training.batch_size}), "
             f"{args.features} features, {args.windows} windows x {args.epochs} epochs.")
    # epochs run: f-AnoGAN's encoder trains after its GAN, so it runs more than --epochs
    md = [intro, "",
          "| model | precision | epochs run | train windows/s | losses finite |",
          "|---|---|---|---|---|"]
    md += [f"| {r['kind']} | {r['precision']} | {r['epochs']} | {r['windows_per_second']:.0f} | "
           f"{'yes' if r['finite_losses'] else 'NO'} |" for r in rows]
    text = "\n".join(md) + "\n"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_speed.md").write_text(text)
    (out / "train_speed.json").write_text(json.dumps(rows, indent=2))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
