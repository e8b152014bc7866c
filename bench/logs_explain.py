"""Do log alerts name the right template? One incident on one known template at a time.

A synthetic service (one entity, RFC 3339 text lines: what ``anomaly-gan train --data
X.log`` with no config reads) logs 12 templates at Poisson rates from 15 to 0.05 lines per
bucket. The logs defaults (``load_logs_defaults``, ``logs.format: auto``: the path of
``train`` with no config, 60 s buckets) train on its first ``TRAIN_BUCKETS``; ``per_lines``
is the same with ``logs.bucket_lines``; the continuation gets, in
slots of ``SLOT`` buckets that never overlap, one incident each, ``INCIDENT`` buckets long:

- ``burst``: a rare template (an error or warning line, normally < 0.5 a bucket) x20 a bucket;
- ``new``: a never-seen template (two at ERROR, two at WARN), 10 a bucket;
- ``silent``: a steady template (2 to 8 a bucket) drops to 0;
- ``error_surge``: a steady INFO template's lines are logged at ERROR (counts unchanged);
- ``volume_drop``: every template at a quarter of its rate.

Scored with the product path (``score_log_events``: ``score``'s ``templates`` column and
``serve``'s alerts come from the same ``LogModel.explain``). Over the flagged buckets whose
window overlaps the incident, the share whose explanation names the incident's template
first / in the first three (``templates``: burst, new, silent), and whose ``top_features``
name the right column first / in the first three: the template's ``t<id>`` (burst,
silent), ``unseen`` (new), ``error_share`` (error surge), ``volume_drop`` or
``lines_per_second`` (volume drop). Baseline on the same buckets: the columns ranked by
``|count - training mean| / training sd`` of the flagged bucket. Last column: the share
whose ``top_features`` name, among 3, a column that held its one training value (``other``
and ``unseen`` at 0) all through the window: a name for nothing that changed.

    python bench/logs_explain.py [--configs defaults,per_lines] [--seeds 0,1,2]

Writes bench/results/logs_explain.{md,json}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anomaly_gan.config import load_config, load_logs_defaults
from anomaly_gan.demo.service_logs import _fill
from anomaly_gan.logs.model import DROP, RATE, SHARE, UNSEEN
from anomaly_gan.logs.offline import (
    count_series,
    load_log_model,
    read_for_log_model,
    read_log_files,
    resolve_layout,
    score_log_events,
    train_log_detector,
)
from anomaly_gan.runtime import import_tensorflow_quietly
from bench.explain import kind_totals

START_TS = 1_767_225_600.0  # 2026-01-01T00:00:00Z
# buckets: training, a slot, the incident's start in its slot, its length. 300 buckets: time
# buckets that train (fewer than 200 and train counts per N lines instead, without the
# volume-drop column)
TRAIN_BUCKETS, SLOT, OFFSET, INCIDENT = 300, 20, 8, 5
# config name -> its bucket_seconds and its config (None: the logs defaults, no config)
# (logs.yaml: the same keys as the defaults since 2026-12-06; before, 10 s buckets and top_k 12;
# per_lines: the defaults with logs.bucket_lines: 60, about a minute of lines, as train
# chooses where time buckets leave too few to train on: no volume-drop column)
CONFIGS = {"defaults": 60.0, "logs.yaml": 60.0, "per_lines": 60.0}
PER_LINES = 60
# (level, template with {} holes, lines per bucket)
TEMPLATES: list[tuple[str, str, float]] = [
    ("INFO", "GET /api/cart/{num} 200 in {num} ms", 15.0),
    ("INFO", "stock level for sku-{num} is {num}", 8.0),
    ("INFO", "login ok for user {num} from {ip}", 8.0),
    ("INFO", "charge {uuid} authorised amount {num} EUR", 6.0),
    ("INFO", "fraud check passed for card ending {num}", 6.0),
    ("INFO", "order {uuid} placed for user {num}", 5.0),
    ("INFO", "token refreshed for session {hex}", 4.0),
    ("INFO", "sync completed: {num} items updated", 2.0),
    ("INFO", "cache refresh took {num} ms", 1.0),
    ("WARN", "authentication rejected: bad password for account {num}", 0.4),
    ("WARN", "retrying charge {uuid} attempt {num}", 0.3),
    ("ERROR", "payment gateway timeout after {num} ms", 0.05),
]
# never-seen templates: two errors (they raise the error share too) and two warnings
NEW = [("ERROR", "NullPointerException in ChargeService.settle at line {num}"),
       ("WARN", "disk quota nearly exceeded on volume {hex} while writing"),
       ("ERROR", "TLS handshake failed with upstream {ip}"),
       ("WARN", "slow query on replica {ip} took {num} ms")]
# incident kind -> its targets (template indices; for "new", indices into NEW)
TARGETS = {"burst": [11, 10, 9, 8], "new": [0, 1, 2, 3], "silent": [1, 4, 6, 7],
           "error_surge": [1, 3, 5, 6], "volume_drop": [0, 0, 0, 0]}
KINDS = tuple(TARGETS)


def slots() -> list[tuple[str, int]]:
    """The incidents in test order: each kind's targets in turn, kinds interleaved."""
    return [(k, TARGETS[k][i]) for i in range(4) for k in KINDS]


def generate(seed: int, step: float = 60.0) -> tuple[list[tuple[float, str, str]], list[dict]]:
    """(ts, level, message) lines of the training period and the test continuation, and
    the incidents: kind, target, the incident's template text (or None), start/end ts."""
    rng = np.random.default_rng(seed)
    train_buckets = TRAIN_BUCKETS
    plan = slots()
    incidents = []
    for n, (kind, target) in enumerate(plan):
        start = START_TS + (train_buckets + n * SLOT + OFFSET) * step
        text = (NEW[target][1] if kind == "new" else
                TEMPLATES[target][1] if kind in ("burst", "silent") else None)
        incidents.append({"kind": kind, "target": target, "template": text,
                          "start_ts": start, "end_ts": start + INCIDENT * step})
    lines: list[tuple[float, str, str]] = []
    for b in range(train_buckets + len(plan) * SLOT):
        lo = START_TS + b * step
        now = [i for i in incidents if i["start_ts"] <= lo < i["end_ts"]]
        rows = [list(t) for t in TEMPLATES]
        for inc in now:
            kind, j = inc["kind"], inc["target"]
            if kind == "burst":
                rows[j][2] = 20.0
            elif kind == "silent":
                rows[j][2] = 0.0
            elif kind == "error_surge":
                rows[j][0] = "ERROR"
            elif kind == "volume_drop":
                for r in rows:
                    r[2] /= 4.0
            elif kind == "new":
                rows.append([*NEW[j], 10.0])
        for level, template, rate in rows:
            for _ in range(int(rng.poisson(rate))):
                lines.append((lo + float(rng.uniform(0, step)), str(level),
                              _fill(rng, str(template))))
    lines.sort()
    return lines, incidents


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def write(path: Path, lines: list[tuple[float, str, str]]) -> None:
    path.write_text("".join(f"{rfc3339(ts)} {level} {msg}\n" for ts, level, msg in lines))


def words(text: str) -> list[str]:
    """A template's fixed words (placeholders, holes and tokens with digits dropped)."""
    return [w for w in text.split() if not re.search(r"[<{\d]", w)]


def right_columns(inc: dict, names: list[str], column_of: dict[str, str]) -> set[str]:
    kind = inc["kind"]
    if kind in ("burst", "silent"):
        return {column_of[" ".join(words(inc["template"]))]}
    return {"new": {UNSEEN}, "error_surge": {SHARE}, "volume_drop": {DROP, RATE}}[kind]


def run_seed(seed: int, work: Path, config: str = "defaults") -> dict:
    step = CONFIGS[config]
    lines, incidents = generate(seed, step)
    split = START_TS + TRAIN_BUCKETS * step
    train_path, test_path = work / f"train{seed}.log", work / f"test{seed}.log"
    write(train_path, [x for x in lines if x[0] < split])
    write(test_path, [x for x in lines if x[0] >= split])
    t0 = time.monotonic()
    base_cfg = (load_config(ROOT / "configs" / config, env={}) if config == "logs.yaml"
                else load_logs_defaults(env={}))
    cfg = resolve_layout(base_cfg, [str(train_path)], lambda _m: None)
    if config == "per_lines":
        assert cfg.logs is not None
        cfg = cfg.replace(logs=dataclasses.replace(cfg.logs, bucket_seconds=None,
                                                   bucket_lines=PER_LINES))
    cfg = cfg.replace(training=dataclasses.replace(cfg.training, verbose=0))
    train_events = read_log_files(cfg, [str(train_path)])
    det = train_log_detector(cfg, [str(train_path)], events_by_file=train_events)
    model = load_log_model(det)
    names = list(model.feature_names)
    column_of = {" ".join(words(model.miner.template(t))): f"t{t}" for t in model.template_ids}

    def raw(rows: list) -> np.ndarray:  # counts (+ rate, share) and the volume-drop column
        x = np.stack([r.values for r in rows])
        return np.column_stack([x, model.features(rows)[:, -1]]) if model.volume_drop else x

    train_rows = [r for series in count_series(model, train_events[0]).values()
                  for run in series for r in run]
    base = raw(train_rows)
    mean, sd = base.mean(axis=0), base.std(axis=0)
    constant = sd == 0  # one value in every training bucket ('other', 'unseen': 0)
    sd = np.where(sd > 0, sd, 1.0)
    events, _ = read_for_log_model(det.config, str(test_path))
    results = score_log_events(det, model, events)
    w = det.window
    assert det.config.logs is not None
    assert det.config.logs.bucket_seconds == (None if config == "per_lines" else step), config
    out: dict = {"train_s": round(time.monotonic() - t0, 1), "features": names, "kinds": {}}
    for inc in incidents:
        right = right_columns(inc, names, column_of)
        want = words(inc["template"]) if inc["template"] else None
        k = out["kinds"].setdefault(inc["kind"], defaultdict(int))
        k["events"] += 1
        hit = False
        for run in results:
            if run.scores is None:
                continue
            x = raw(run.rows)
            for i, row in enumerate(run.rows):
                # the window of buckets ending here overlaps the incident
                first = run.rows[max(i - w + 1, 0)]
                if not (run.scores.is_anomaly[i] and row.end_ts > inc["start_ts"]
                        and first.start_ts < inc["end_ts"]):
                    continue
                hit = True
                k["windows"] += 1
                top = run.scores.top_features[i]
                z = np.argsort(-np.abs((x[i] - mean) / sd), kind="stable")[:3]
                zn = [names[j] for j in z]
                k["model_top1"] += int(top[0] in right)
                k["model_top3"] += int(bool(right & set(top[:3])))
                k["z_top1"] += int(zn[0] in right)
                k["z_top3"] += int(bool(right & set(zn)))
                # a column named among 3 that held its one training value all the window
                held = constant & (x[max(i - w + 1, 0):i + 1] == mean).all(axis=0)
                k["idle_top3"] += int(any(held[names.index(f)] for f in top[:3]))
                if want is not None:
                    texts = [words(e["template"]) for e in run.explanations[i]]
                    k["templates_top1"] += int(bool(texts) and texts[0] == want)
                    k["templates_top3"] += int(want in texts[:3])
        k["detected"] += int(hit)
    out["kinds"] = {kind: dict(v) for kind, v in out["kinds"].items()}
    return out


FIELDS = ("templates_top1", "templates_top3", "model_top1", "model_top3", "z_top1", "z_top3",
          "idle_top3")


def table(results: dict, names: list[str]) -> list[str]:
    lines = [("| incident | right column | events (detected) | windows | templates top-1 "
              "| templates top-3 | top_features top-1 | top_features top-3 "
              "| z baseline top-1 | z baseline top-3 | top_features name an unchanged column |"),
             "|---" * 11 + "|"]
    column = {"burst": "its t<id>", "new": "unseen", "silent": "its t<id>",
              "error_surge": "error_share", "volume_drop": "volume_drop or lines_per_second"}
    for kind in KINDS:
        tot = kind_totals(results, names, kind)
        n = tot["windows"]
        cells = [("-" if not n or (f.startswith("templates")
                                   and kind in ("error_surge", "volume_drop"))
                  else f"{tot[f] / n:.3f}") for f in FIELDS]
        lines.append(f"| {kind} | {column[kind]} | {tot['events']} ({tot['detected']}) | "
                     f"{tot['windows']} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="defaults,per_lines")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    import_tensorflow_quietly()
    names = args.configs.split(",")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for config in names:
            for seed in (int(s) for s in args.seeds.split(",")):
                results[f"{config}/{seed}"] = res = run_seed(seed, Path(tmp), config)
                print(f"{config} seed {seed}: {res['train_s']} s", flush=True)
    md = ["# Log explanations: is the incident's template named?", "",
          (f"Seeds {args.seeds}. Shares of the flagged buckets whose window overlaps an "
           "incident (see bench/logs_explain.py)."), ""]
    for name in names:
        what = {"defaults": "the logs defaults (train with no config: 60 s buckets)",
                "per_lines": f"the logs defaults per {PER_LINES} lines (logs.bucket_lines)",
                }.get(name, f"configs/{name} ({CONFIGS[name]:g} s buckets)")
        md += [f"## {what}", "", *table(results, [name]), ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "logs_explain.md").write_text("\n".join(md))
    (args.out / "logs_explain.json").write_text(json.dumps(results, indent=1))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
