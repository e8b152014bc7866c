"""Retrain time for one week of events at the demo's rate, phase by phase.

The demo's plant: 6 pumps x 8 sensors, one row every 10 s, i.e. 362,880 events per week.
The week (the synthetic plant's test half, with its incidents) is produced to the embedded
broker with record timestamps equal to event time; the current version is trained on an
earlier normal period; then ``retrain`` runs in-process over the week with the demo's config
(the same networks as ``anomaly-gan demo``) and the progress lines are timed per phase:
read (events/s), filter (the current version scores every window), train, gate, save.

    python bench/retrain.py [--days 7] [--entities 6]

Writes bench/results/retrain.md and bench/results/retrain.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STEP_S = 10.0
PHASES = ("read", "filter", "train", "gate", "promote")


def produce_week(bootstrap: str, topic: str, plant, start_row: int, rows: int,
                 t0: float) -> float:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20,
                             batch_size=256 * 1024)
    t = time.perf_counter()
    try:
        for i in range(rows):
            ts = t0 + i * STEP_S
            for e, name in enumerate(plant.entities):
                value = json.dumps({"entity": name, "ts": ts,
                                    "values": plant.values[e, start_row + i].tolist()})
                producer.send(topic, key=name.encode(), value=value.encode(),
                              timestamp_ms=int(ts * 1000))
        producer.flush(timeout=300)
    finally:
        producer.close(timeout=10)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--entities", type=int, default=6)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="anomaly-gan-bench-retrain-") as folder:
        return run(args, Path(folder))


def run(args: argparse.Namespace, tmp: Path) -> int:
    """The bench in `tmp`, a folder removed when it ends (the store, the model)."""
    from anomaly_gan.config import config_from_dict, config_to_dict
    from anomaly_gan.data.synthetic import make_plant
    from anomaly_gan.demo.broker import EmbeddedBroker
    from anomaly_gan.demo.offline import demo_config
    from anomaly_gan.retrain import RetrainRequest, retrain
    from anomaly_gan.store import ModelStore
    from anomaly_gan.train import train_detector

    week_rows = int(args.days * 86400 / STEP_S)
    earlier = 4000  # rows per pump the current version was trained on
    plant = make_plant(n_entities=args.entities, n_steps=2 * week_rows, train_fraction=0.5,
                       seed=0, step_seconds=STEP_S)
    raw = config_to_dict(demo_config())
    topic = "bench.retrain.events"
    timings: dict[str, float] = {}
    lines: list[tuple[float, str]] = []
    with EmbeddedBroker(topics={topic: 3, f"{topic}.alerts": 1}) as broker:
        raw["serve"]["kafka"].update({"bootstrap_servers": broker.bootstrap_servers,
                                      "input_topic": topic, "alert_topic": f"{topic}.alerts",
                                      "fetch_max_wait_ms": 20, "max_poll_records": 5000})
        raw["serve"]["windows"]["gap_seconds"] = 600.0
        cfg = config_from_dict(raw, "bench retrain config")
        store = ModelStore.open(tmp / "store", create=True)
        t = time.perf_counter()
        current = train_detector(cfg, [plant.values[e, :earlier] for e in range(args.entities)],
                                 plant.feature_names)
        store.promote(store.add(current), verify=False)
        timings["current_version_train_s"] = time.perf_counter() - t
        t0 = 1_790_000_000.0
        n_events = week_rows * args.entities
        timings["produce_s"] = produce_week(broker.bootstrap_servers, topic, plant,
                                            plant.train_steps, week_rows, t0)
        print(f"produced {n_events} events in {timings['produce_s']:.1f}s", file=sys.stderr)

        def progress(msg: str) -> None:
            lines.append((time.perf_counter(), msg))
            print(msg, file=sys.stderr, flush=True)

        started = time.perf_counter()
        result = retrain(cfg, RetrainRequest(store=str(store.root), start=t0,
                                             end=t0 + week_rows * STEP_S), progress)
        total = time.perf_counter() - started
    firsts = {}
    for at, msg in lines:
        for phase in PHASES:
            if msg.startswith(f"[{phase}]") and phase not in firsts:
                firsts[phase] = at
    marks = [(p, firsts[p]) for p in PHASES if p in firsts] + [("end", started + total)]
    phase_s = {p: marks[i + 1][1] - at for i, (p, at) in enumerate(marks[:-1])}
    phase_s["read"] = phase_s.get("read", 0.0)
    lineage = result.report["lineage"]
    src, sel = lineage["source"], lineage["selection"]
    det_meta = store.info(result.version).metadata
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
                   f"{platform.python_version()}",
        "days": args.days, "entities": args.entities, "events": n_events,
        "model": {"kind": cfg.model.kind, "backbone": cfg.model.backbone,
                  "window": cfg.data.window, "epochs_max": cfg.training.epochs,
                  "epochs_run": det_meta["epochs_run"],
                  "train_windows": det_meta["training_data"]["train_windows"]},
        "read_events_per_s": src["events_per_second"],
        "phases_s": phase_s, "total_s": total,
        "selection": sel, "gate_passed": result.report["gate"]["passed"],
        "false_alarm_rate": result.report["gate"]["false_alarm_rate"],
        "exit_code": result.exit_code, **timings,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "retrain.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    md = [
        ("# Retrain: one week of events at the demo's rate" if args.days == 7
         else f"# Retrain: {args.days:g} days of events at the demo's rate"),
        "",
        (f"{results['date']}; {results['machine']}; embedded Tansu broker, kafka-python; "
         f"{args.entities} pumps x 8 sensors every {STEP_S:g} s for {args.days:g} days = "
         f"{n_events:,} events; demo config ({cfg.model.kind}/{cfg.model.backbone}, window "
         f"{cfg.data.window}, at most {cfg.training.epochs} epochs, "
         f"{results['model']['train_windows']:,} training windows)."),
        "",
        "| phase | seconds | note |",
        "|---|---:|---|",
        (f"| read | {phase_s.get('read', 0):.1f} | {src['events_per_second']:,.0f} events/s "
         f"(offsets_for_times, parse, rebuild rows) |"),
        (f"| filter | {phase_s.get('filter', 0):.1f} | current version scores "
         f"{sel['windows']:,} windows; {sum(sel['windows_excluded'].values()):,} excluded |"),
        f"| train | {phase_s.get('train', 0):.1f} | {results['model']['epochs_run']} epochs |",
        (f"| gate + save | {phase_s.get('gate', 0):.1f} | false-alarm rate "
         f"{results['false_alarm_rate']:.4f}, passed: {results['gate_passed']} |"),
        f"| promote | {phase_s.get('promote', 0):.1f} | |",
        f"| **total** | **{total:.1f}** | exit code {result.exit_code} |",
        "",
    ]
    (out / "retrain.md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
