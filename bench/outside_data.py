"""Lay out public labelled data that is not in this repository the way bench/detect.py reads
../shared/datasets, to measure the defaults beyond the shared files.

- NASA SMAP/MSL: the 81 channels of Telemanom's release (Hundman et al., KDD 2018; its
  82 rows list P-2 twice) as ``train/<chan>.npy``, ``test/<chan>.npy`` and
  ``labeled_anomalies.csv``, e.g. the ``data/SMAP_MSL`` folder of
  github.com/imperial-qore/TranAD. Written as
  ``nasa/<smap|msl>/<chan>/{train,test,test_label}.csv``; the labels' ``[start, end]`` are
  inclusive. Channels already in ``--shared`` are checked against it and left out.
- NAB: a copy of github.com/numenta/NAB's ``data/`` and ``labels/`` folders, linked as
  ``nab/`` (``bench/detect.py --nab-sets realKnownCause,realTraffic,...`` picks the series).

    python bench/outside_data.py --smap-msl TranAD/data/SMAP_MSL [--nab NAB] --out DIR
    python bench/detect.py --datasets DIR --skip-nab --sizes full --no-health-study
    python bench/detect.py --datasets DIR --only NONE --sizes full --no-health-study \\
        --nab-sets realKnownCause,realAWSCloudwatch,realTraffic,realAdExchange
"""

from __future__ import annotations

import argparse
import ast
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write_nasa(src: Path, out: Path, shared: Path) -> int:
    written = 0
    with (src / "labeled_anomalies.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    # The release lists SMAP P-2 twice, with different sequences ([5350, 6575] and
    # [5300, 6420]): a channel's rows are merged, its labels the union of their sequences.
    sequences: dict[tuple[str, str], list] = {}
    for r in rows:
        key = (r["chan_id"], r["spacecraft"].lower())
        if key in sequences:
            print(f"{key[0]}: listed more than once; its labels are the union of the listings",
                  file=sys.stderr)
        sequences.setdefault(key, []).extend(ast.literal_eval(r["anomaly_sequences"]))
    for (chan, craft), spans in sequences.items():
        train, test = (np.load(src / part / f"{chan}.npy") for part in ("train", "test"))
        labels = np.zeros(len(test), np.int8)
        for start, end in spans:
            labels[start:end + 1] = 1
        known = shared / "nasa" / craft / chan
        if known.is_dir():  # a shared channel: the same data, or this layout is wrong
            same = (np.array_equal(np.loadtxt(known / "test_label.csv"), labels)
                    and np.allclose(np.loadtxt(known / "train.csv", delimiter=","), train))
            if not same:
                raise SystemExit(f"{chan}: differs from {known}; expected the same release")
            continue
        d = out / "nasa" / craft / chan
        d.mkdir(parents=True, exist_ok=True)
        np.savetxt(d / "train.csv", train, delimiter=",", fmt="%.10g")
        np.savetxt(d / "test.csv", test, delimiter=",", fmt="%.10g")
        np.savetxt(d / "test_label.csv", labels, fmt="%d")
        written += 1
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smap-msl", type=Path, help="folder with labeled_anomalies.csv, train/, test/")
    ap.add_argument("--nab", type=Path, help="folder with NAB's data/ and labels/")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "datasets")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if args.smap_msl:
        n = write_nasa(args.smap_msl, args.out, args.shared)
        print(f"{n} NASA channels -> {args.out / 'nasa'}", file=sys.stderr)
    if args.nab:
        (args.out / "nab").mkdir(parents=True, exist_ok=True)
        for part in ("data", "labels"):
            link = args.out / "nab" / part
            if not link.exists():
                link.symlink_to((args.nab / part).resolve())
        print(f"NAB -> {args.out / 'nab'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
