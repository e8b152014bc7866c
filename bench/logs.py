"""Log detection on real labelled lines: Loghub BGL_2k (BlueGene/L), against baselines
measured in the same run, plus template-mining accuracy and parsing / end-to-end speed.

Protocol (../shared/datasets/README.md): the label field is stripped before anything sees a
line. Lines become global buckets of ``bucket_lines`` consecutive lines (the sample is 2,000
lines spread over seven months: per-node or time buckets would be nearly empty); a bucket is
anomalous when it holds an alert line. drain3 mines its templates on all the lines, labels
stripped (unsupervised; the first half alone does not hold every normal template); the model
trains on the runs of normal buckets of the first half of the lines only. The second half is
scored:

- the GAN detector (the product path: anomaly_gan.logs.offline),
- PCA reconstruction error and IsolationForest (scikit-learn) on the same count windows
  (the window of buckets ending at each bucket, flattened, with the same scaler).

Metrics are point-wise over test buckets: AUC-ROC, AUC-PR, best F1. Also:

- grouping accuracy of drain3 (with the shipped masking rules) on all 2,000 lines against
  Loghub's ground-truth EventIds (a line is right when its mined group holds exactly the
  lines of its true group);
- lines per second, one process on one core: the regex parse alone, parse + mining
  (training) and parse + matching (scoring);
- lines per second end to end through the real broker (embedded Tansu): the lines,
  replayed ``--repeat`` times, consumed, parsed, matched, counted, windowed and scored by
  the same Scorer as ``anomaly-gan serve``;
- a *flood*: 8,000 lines that are each their own template (what an unmasked id does), per
  second on one core: mining them (training), classifying them against the mined templates
  (offline counting: the package's lookup, and drain3's own ``match(..., "fallback")`` scan
  in the same run, the answer it must equal), and classifying them as unseen against the
  BGL model (``serve``: each is grouped into a live template, at most
  ``logs.max_clusters``).

Writes bench/results/logs.{md,json}.   python bench/logs.py [--datasets DIR] [--repeat N]
``--flood-only`` measures the flood alone (no datasets needed) into logs_flood.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anomaly_gan.config import config_from_dict
from anomaly_gan.data import fit_scaler, sliding_windows
from anomaly_gan.evaluate import evaluate_scores
from anomaly_gan.logs.events import parser_from_config
from anomaly_gan.logs.model import fit_log_model, set_means
from anomaly_gan.logs.offline import count_rows
from anomaly_gan.logs.templates import TemplateMiner
from anomaly_gan.runtime import import_tensorflow_quietly
from anomaly_gan.train import train_detector
from bench.detect import scored_as

# After the label is stripped: epoch seconds, date, node, time, node again, type, component,
# level, content.
BGL_REGEX = (r"^(?P<ts>\d+) \S+ \S+ \S+ \S+ \S+ \S+ (?P<level>[A-Z]+) ?(?P<message>.*)$")
CONFIG = {
    "model": {"kind": "ganomaly", "backbone": "dense", "latent_dim": 8, "hidden": [32]},
    "data": {"window": 4, "stride": 1, "scaler": "minmax", "validation_fraction": 0.2},
    "training": {"epochs": 40, "batch_size": 16, "learning_rate": 1e-3, "patience": 10,
                 "seed": 0, "verbose": 0, "allow_unhealthy": True},
    "logs": {"format": "regex", "regex": BGL_REGEX, "entity": "bgl", "bucket_seconds": None,
             "bucket_lines": 10, "top_k": 20, "lines_per_second": False, "error_share": True},
}
METRICS = ("auc_roc", "auc_pr", "best_f1")
# (lines per bucket, buckets per window): the first is the headline configuration; the
# others are reported next to it, so the table shows how much the choice matters.
VARIANTS = ((10, 4), (5, 4), (20, 2))


def read_bgl(root: Path) -> tuple[list[str], np.ndarray]:
    lines, labels = [], []
    for raw in (root / "BGL_2k.log").read_text(encoding="utf-8").splitlines():
        label, _, rest = raw.partition(" ")
        lines.append(rest)
        labels.append(0 if label == "-" else 1)
    return lines, np.array(labels, dtype=np.int8)


def grouping_accuracy(structured: Path, messages: list[str], cfg) -> tuple[float, int, int]:
    """Of ``messages`` (one per line of a Loghub sample), the share whose mined group holds
    exactly the lines of their true group, the ``EventId`` column of ``structured`` (the
    sample's ``*_structured.csv``); also the number of mined and of true groups."""
    import csv

    truth = [r["EventId"] for r in csv.DictReader(structured.open(encoding="utf-8"))]
    miner = TemplateMiner(cfg.masking, cfg.similarity_threshold, cfg.tree_depth,
                          cfg.max_children)
    mined = miner.learn_all(messages)
    mined = [miner.match(m) or t for m, t in zip(messages, mined)]  # final templates
    groups_m, groups_t = defaultdict(set), defaultdict(set)
    for i, (a, b) in enumerate(zip(mined, truth)):
        groups_m[a].add(i)
        groups_t[b].add(i)
    right = sum(len(g) for g in groups_m.values() if g == groups_t[truth[next(iter(g))]])
    return right / len(messages), len(groups_m), len(groups_t)


def loghub_grouping(root: Path, cfg, out: Path) -> int:
    """Grouping accuracy of the shipped masking and drain3 settings on each Loghub sample
    under ``root``, mined from its structured file's ``Content`` column (the message after
    the sample's own header, as Loghub's parser benchmarks take it). Writes
    ``logs_grouping.md``."""
    import csv

    files = sorted(root.rglob("*_2k.log_structured.csv"))
    if not files:
        print(f"bench/logs.py: no *_2k.log_structured.csv under {root}", file=sys.stderr)
        return 2
    rows = []
    for f in files:
        messages = [r["Content"] for r in csv.DictReader(f.open(encoding="utf-8"))]
        acc, n_mined, n_true = grouping_accuracy(f, messages, cfg)
        rows.append((f.name.removesuffix("_2k.log_structured.csv"), acc, n_mined, n_true))
        print(f"{rows[-1][0]}: {acc:.3f}", file=sys.stderr, flush=True)
    mean = sum(r[1] for r in rows) / len(rows)
    md = "\n".join([
        (f"drain3 grouping accuracy on the Loghub 2k samples (shipped masking "
         f"{list(cfg.masking)}, similarity {cfg.similarity_threshold}, depth {cfg.tree_depth}), "
         f"mined from each sample's Content column; {datetime.now(UTC):%Y-%m-%d}."), "",
        "| system | grouping accuracy | mined groups | true groups |", "|---|---:|---:|---:|",
        *(f"| {name} | {acc:.3f} | {m} | {t} |" for name, acc, m, t in rows),
        f"| mean of {len(rows)} | {mean:.3f} | | |", ""])
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs_grouping.md").write_text(md)
    print(md)
    return 0


def parse_rates(lines: list[str], cfg, repeat: int) -> dict[str, float]:
    parser = parser_from_config(cfg, 65_536)
    data = [ln.encode() for ln in lines] * repeat
    out = {}
    t0 = time.process_time()
    events = [parser.parse(b) for b in data]
    out["parse"] = len(data) / (time.process_time() - t0)
    miner = TemplateMiner(cfg.masking, cfg.similarity_threshold, cfg.tree_depth,
                          cfg.max_children)
    t0 = time.process_time()
    for b in data:
        miner.learn(parser.parse(b).message)  # type: ignore[union-attr]
    out["parse_and_mine"] = len(data) / (time.process_time() - t0)
    t0 = time.process_time()
    for b in data:
        miner.match(parser.parse(b).message)  # type: ignore[union-attr]
    out["parse_and_match"] = len(data) / (time.process_time() - t0)
    assert all(hasattr(e, "message") for e in events)
    return {k: round(v) for k, v in out.items()}


def flood_rates(cfg, bgl_messages: list[str] | None, n: int = 8000, seed: int = 0) -> dict:
    """Lines per second (process time, one core) on ``n`` lines that are each their own
    template: four random lowercase words, no digits (nothing for masking to take)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lines = [" ".join("".join(rng.choice(letters, 6)) for _ in range(4)) for _ in range(n)]
    miner = TemplateMiner(cfg.masking, cfg.similarity_threshold, cfg.tree_depth,
                          cfg.max_children)
    t0 = time.process_time()
    ids = [miner.learn(x) for x in lines]
    out = {"lines": n, "templates": len(set(ids)), "mine": n / (time.process_time() - t0)}
    masked = [miner.mask(x) for x in lines]
    t0 = time.process_time()
    ours = [miner.match_masked(x) for x in masked]
    out["match"] = n / (time.process_time() - t0)
    t0 = time.process_time()
    theirs = [miner.known.match(x, full_search_strategy="fallback") for x in masked]
    out["drain3_match"] = n / (time.process_time() - t0)
    assert ours == [c.cluster_id for c in theirs], "ExactMatcher differs from drain3"
    if bgl_messages is not None:
        model, _ = fit_log_model(cfg, bgl_messages)
        model.miner.reset_new()
        t0 = time.process_time()
        for x in lines:
            model.classify(x)
        out["unseen_live"] = n / (time.process_time() - t0)
        out["live_templates_dropped"] = model.miner.dropped
    return {k: round(v) if isinstance(v, float) else v for k, v in out.items()}


def flood_rows(f: dict) -> list[str]:
    rows = [
        (f"| flood of {f['lines']:,} unique lines: mine (training), lines/s on one core | "
         f"{f['mine']:,} |"),
        (f"| flood: classify against its {f['templates']:,} templates (offline counting), "
         f"lines/s: lookup / drain3's fallback scan, same answer | {f['match']:,} / "
         f"{f['drain3_match']:,} |"),
    ]
    if "unseen_live" in f:
        rows.append(f"| flood: classify as unseen against the BGL model (serve; live "
                    f"templates capped, {f['live_templates_dropped']:,} dropped), lines/s | "
                    f"{f['unseen_live']:,} |")
    return rows


def window_baselines(train_runs, test_x, window, scaler_kind, seed):
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest

    scaler = fit_scaler(np.concatenate(train_runs), scaler_kind)

    def flat(x):
        return sliding_windows(scaler.transform(x), window, 1).reshape(len(x) - window + 1, -1)

    xtr = np.concatenate([flat(r) for r in train_runs])
    xte = flat(test_x)
    pad = np.full(window - 1, np.nan)
    pca = PCA(n_components=0.95, svd_solver="full", random_state=seed).fit(xtr)
    rec = pca.inverse_transform(pca.transform(xte))
    forest = IsolationForest(n_estimators=100, random_state=seed).fit(xtr)
    return {"pca": np.concatenate([pad, np.square(xte - rec).mean(axis=1)]),
            "iforest": np.concatenate([pad, -forest.score_samples(xte)])}


def detection(lines: list[str], labels: np.ndarray, cfg) -> dict:
    parser = parser_from_config(cfg.logs, 65_536)
    events = [parser.parse(ln) for ln in lines]
    half = len(events) // 2
    # Templates are mined on every line, labels stripped (unsupervised), as in Loghub's
    # protocol; the sample is too small for the first half to hold every normal template.
    model, _ = fit_log_model(cfg.logs, [e.message for e in events])
    model.miner.reset_new()
    train_rows = count_rows(model, events[:half], labels[:half].tolist())["bgl"]
    test_rows = count_rows(model, events[half:], labels[half:].tolist())["bgl"]
    w = cfg.data.window
    normal_runs = [run for run in _normal_runs(train_rows) if len(run) >= 2 * w]
    set_means(model, [r for run in normal_runs for r in run])
    train_x = [model.features(run) for run in normal_runs]
    t0 = time.monotonic()
    det = train_detector(cfg, train_x, model.feature_names)
    train_s = time.monotonic() - t0
    test_x = model.features(test_rows)
    y = np.array([int(r.marked) for r in test_rows], dtype=np.int8)
    res = det.score_series(test_x)
    # the same model with the reconstruction error averaged over templates
    # (scoring.reconstruction: mean): what the worst-feature component adds
    scores = {"gan": res.score, "gan_mean": scored_as(det, test_x, feature_errors=None),
              **window_baselines(train_x, test_x, w, cfg.data.scaler, cfg.training.seed)}
    out = {"bucket_lines": cfg.logs.bucket_lines, "window": w,
           "train_buckets": int(sum(len(r) for r in normal_runs)),
           "train_runs": len(normal_runs), "test_buckets": len(test_rows),
           "test_anomalous_buckets": int(y.sum()), "templates": len(model.miner.templates),
           "train_seconds": round(train_s, 1), "epochs": det.metadata["epochs_run"],
           "health": det.metadata["health"].get("status")}
    for method, s in scores.items():
        m = evaluate_scores(s, y, det.threshold if method == "gan" else None)
        out[method] = {k: round(m[k], 4) for k in METRICS}
        if method == "gan":
            out[method]["f1_at_threshold"] = round(m["f1"], 4)
            # the operator's view of the threshold: scored buckets (complete windows)
            # that alarm, among the normal ones and among those holding an alert line
            flagged, scored = res.is_anomaly[w - 1:], y[w - 1:]
            out[method]["false_alarm_rate"] = round(float(flagged[scored == 0].mean()), 4)
            out[method]["recall_at_threshold"] = round(float(flagged[scored == 1].mean()), 4)
    print(f"  {w} x {cfg.logs.bucket_lines} lines: GAN AUC-PR {out['gan']['auc_pr']:.3f} "
          f"(mean over templates {out['gan_mean']['auc_pr']:.3f}), PCA "
          f"{out['pca']['auc_pr']:.3f}, IForest {out['iforest']['auc_pr']:.3f}",
          file=sys.stderr, flush=True)
    return out


def _normal_runs(rows):
    runs, cur = [], []
    for r in rows:
        if r.marked:
            if cur:
                runs.append(cur)
            cur = []
        else:
            cur.append(r)
    if cur:
        runs.append(cur)
    return runs


def end_to_end(lines: list[str], labels: np.ndarray, cfg, repeat: int,
               timeout_s: float = 600.0) -> dict:
    """Lines/s through the broker and the Scorer: from the first record read to the last
    window scored (the records are in the topic before the scorer starts). The training
    file and the model live in a temporary folder, removed when the run ends."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-logs-") as folder:
        return _end_to_end(lines, labels, cfg, repeat, timeout_s, Path(folder))


def _end_to_end(lines: list[str], labels: np.ndarray, cfg, repeat: int, timeout_s: float,
                tmp: Path) -> dict:
    from prometheus_client import CollectorRegistry

    from anomaly_gan.artifacts import load_bundle, save_bundle
    from anomaly_gan.demo.broker import EmbeddedBroker, local_kafka
    from anomaly_gan.logs.offline import train_log_detector
    from anomaly_gan.stream.metrics import StreamMetrics
    from anomaly_gan.stream.service import connect

    (tmp / "train.log").write_text("\n".join(ln for ln, y in zip(lines, labels) if not y))
    # Each replay shifted in time after the previous one, so the stream stays in order.
    span = int(lines[-1].split(" ", 1)[0]) - int(lines[0].split(" ", 1)[0]) + 1
    # The sample's 2,000 lines spread over seven months, with hundreds of silences longer
    # than the default logs.gap_seconds: serve's gap rule (per N lines too) would restart
    # the series at each and never score most of the windows this run waits for. A gap
    # longer than the whole sample keeps one series, as a busy source's lines are.
    fast = config_from_dict({**CONFIG, "training": {**CONFIG["training"], "epochs": 2},
                             "logs": {**CONFIG["logs"], "gap_seconds": float(span)}})
    det = load_bundle(save_bundle(train_log_detector(fast, [str(tmp / "train.log")]),
                                  tmp / "model"))
    data = [f"{int(ts) + k * span} {rest}".encode()
            for k in range(repeat) for ts, rest in (ln.split(" ", 1) for ln in lines)]
    with EmbeddedBroker(topics={"logs": 1, "alerts": 1, "dlq": 1}) as broker:
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks=1,
                                 linger_ms=20, batch_size=1 << 20)
        for b in data:
            producer.send("logs", value=b)
        producer.flush()
        producer.close()
        serve = config_from_dict({"serve": {
            "model_path": str(tmp / "model"),
            "kafka": local_kafka(broker.bootstrap_servers,
                                 {"events": "logs", "alerts": "alerts", "dlq": "dlq"},
                                 "bench-logs"),
            "alerts": {"consecutive": 3, "cooldown_seconds": 0.0}, "http": {"port": 0},
        }}).serve
        registry = CollectorRegistry()
        scorer = connect(serve, det, StreamMetrics(registry))
        thread = threading.Thread(target=scorer.run, daemon=True)
        thread.start()

        def counted():
            return (registry.get_sample_value("anomaly_gan_log_lines_total") or 0) + \
                (registry.get_sample_value("anomaly_gan_events_invalid_total",
                                           {"reason": "no_match"}) or 0)

        def windows() -> float:
            return registry.get_sample_value("anomaly_gan_windows_scored_total") or 0

        # Every bucket of N lines closes with its last line: all windows get scored.
        expected = len(data) // cfg.logs.bucket_lines - det.window + 1

        def wait(done: Callable[[], bool], timeout_s: float) -> None:
            deadline = time.monotonic() + timeout_s
            while not done():
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"end to end: after {timeout_s:.0f} s, {counted():.0f} of {len(data)} "
                        f"lines counted and {windows():.0f} of {expected} windows scored")
                time.sleep(0.005)

        try:
            wait(lambda: counted() > 0, 120)
            t0 = time.monotonic()
            # the clock starts once the first poll is counted: its lines are not timed
            before = int(counted())
            wait(lambda: counted() >= len(data) and windows() >= expected, timeout_s)
            elapsed = time.monotonic() - t0
        finally:
            scorer.request_stop()
            thread.join(timeout=20)
            scorer.io.close(timeout_s=2)
    timed = len(data) - before
    return {"lines": len(data), "lines_timed": timed, "seconds": round(elapsed, 2),
            "lines_per_second": round(timed / elapsed) if timed > 0 else None,
            "windows_scored": int(windows())}


def end_to_end_cell(e2e: dict) -> str:
    """The end-to-end row's value: the rate over the lines read after the first poll.

    >>> end_to_end_cell({"lines": 40000, "lines_timed": 38000, "lines_per_second": 20000})
    '20,000 (40,000 lines, 38,000 timed)'
    >>> end_to_end_cell({"lines": 2000, "lines_timed": 0, "lines_per_second": None})
    'not timed: the first poll read all 2,000 lines (--repeat 2 or more)'
    """
    if e2e["lines_per_second"] is None:
        return f"not timed: the first poll read all {e2e['lines']:,} lines (--repeat 2 or more)"
    return (f"{e2e['lines_per_second']:,} ({e2e['lines']:,} lines, {e2e['lines_timed']:,} "
            f"timed)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--repeat", type=int, default=20, help="replays of the 2,000 lines for "
                    "the speed measurements (default 20)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--flood-only", action="store_true",
                    help="only the flood of unique lines (no datasets needed)")
    ap.add_argument("--loghub", metavar="DIR",
                    help="only drain3's grouping accuracy on every Loghub 2k sample under DIR "
                         "(its *_2k.log_structured.csv files, github.com/logpai/loghub)")
    args = ap.parse_args()
    cfg = config_from_dict(CONFIG, "bench/logs.py config")
    if args.loghub:
        return loghub_grouping(Path(args.loghub), cfg.logs, Path(args.out))
    if args.flood_only:  # the live row needs the BGL model, when the datasets are there
        bgl = Path(args.datasets) / "logs" / "bgl"
        messages = None
        if (bgl / "BGL_2k.log").is_file():
            parser = parser_from_config(cfg.logs, 65_536)
            messages = [parser.parse(ln).message  # type: ignore[union-attr]
                        for ln in read_bgl(bgl)[0]]
        flood = flood_rates(cfg.logs, messages)
        title = (f"Flood of unique log lines; {os.cpu_count()} CPU cores; "
                 f"{datetime.now(UTC):%Y-%m-%d}.")
        md = "\n".join([title, "", "| measure | value |", "|---|---|", *flood_rows(flood), ""])
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "logs_flood.md").write_text(md)
        print(md)
        return 0
    root = Path(args.datasets) / "logs" / "bgl"
    if not (root / "BGL_2k.log").is_file():
        print(f"bench/logs.py: {root}/BGL_2k.log not found (pass --datasets)", file=sys.stderr)
        return 2
    logging.getLogger("anomaly_gan").setLevel(logging.ERROR)  # no per-alert log lines
    import_tensorflow_quietly()  # no banner, no retracing hints between the variants
    lines, labels = read_bgl(root)
    parser = parser_from_config(cfg.logs, 65_536)
    messages = [parser.parse(ln).message for ln in lines]  # type: ignore[union-attr]
    acc, n_mined, n_true = grouping_accuracy(root / "BGL_2k.log_structured.csv", messages,
                                             cfg.logs)
    print(f"grouping accuracy {acc:.4f} ({n_mined} mined groups, {n_true} true)",
          file=sys.stderr, flush=True)
    rates = parse_rates(lines, cfg.logs, args.repeat)
    print(f"lines/s {rates}", file=sys.stderr, flush=True)
    flood = flood_rates(cfg.logs, messages)
    print(f"flood {flood}", file=sys.stderr, flush=True)
    variants = [detection(lines, labels, cfg.replace(
        logs=dataclasses.replace(cfg.logs, bucket_lines=n),
        data=dataclasses.replace(cfg.data, window=w))) for n, w in VARIANTS]
    det = variants[0]
    e2e = end_to_end(lines, labels, cfg, args.repeat)
    print(f"end to end {e2e}", file=sys.stderr, flush=True)
    result = {"date": f"{datetime.now(UTC):%Y-%m-%d}", "config": CONFIG,
              "grouping_accuracy": round(acc, 4), "mined_groups": n_mined,
              "true_groups": n_true, "lines_per_second_one_core": rates, "detection": det,
              "variants": variants, "end_to_end": e2e, "flood": flood,
              "cpu_cores": os.cpu_count()}
    d = det
    md = "\n".join([
        f"BGL_2k (Loghub), labels stripped; {os.cpu_count()} CPU cores; {result['date']}.",
        "",
        (f"Detection: buckets of {cfg.logs.bucket_lines} lines, windows of {cfg.data.window} "
        f"buckets; trained on the normal buckets of the first 1,000 lines "
        f"({d['train_buckets']} buckets in {d['train_runs']} runs), scored on the last 1,000 "
        f"({d['test_buckets']} buckets, {d['test_anomalous_buckets']} anomalous); "
        f"point-wise, no point adjustment."),
        "",
        "| method | AUC-ROC | AUC-PR | best F1 |",
        "|---|---|---|---|",
        *[f"| {name} | {d[m]['auc_roc']:.3f} | {d[m]['auc_pr']:.3f} | {d[m]['best_f1']:.3f} |"
          for m, name in (("gan", "GAN (GANomaly)"),
                          ("gan_mean", "GAN, same model, reconstruction averaged over templates"), ("pca", "PCA"),
                          ("iforest", "IsolationForest"))],
        "",
        "All variants (lines per bucket x buckets per window), AUC-PR:",
        "",
        ("| bucket lines | window | GAN | GAN mean over templates | PCA | IsolationForest "
         "| GAN health | GAN at its threshold: normal buckets alarming / alert buckets caught |"),
        "|---|---|---|---|---|---|---|---|",
        *[f"| {v['bucket_lines']} | {v['window']} | {v['gan']['auc_pr']:.3f} | "
          f"{v['gan_mean']['auc_pr']:.3f} | "
          f"{v['pca']['auc_pr']:.3f} | {v['iforest']['auc_pr']:.3f} | {v['health']} | "
          f"{v['gan']['false_alarm_rate']:.1%} / {v['gan']['recall_at_threshold']:.1%} |"
          for v in variants],
        "",
        "| measure | value |",
        "|---|---|",
        (f"| grouping accuracy (drain3, all 2,000 lines) | {acc:.3f} ({n_mined} groups vs "
        f"{n_true} true) |"),
        f"| parse (regex), lines/s on one core | {rates['parse']:,} |",
        f"| parse + mine (training), lines/s on one core | {rates['parse_and_mine']:,} |",
        f"| parse + match (scoring), lines/s on one core | {rates['parse_and_match']:,} |",
        (f"| end to end through the broker (consume, parse, match, count, score), lines/s | "
        f"{end_to_end_cell(e2e)} |"),
        *flood_rows(flood),
        "",
    ])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs.md").write_text(md)
    (out / "logs.json").write_text(json.dumps(result, indent=2) + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
