"""``anomaly-gan demo``: the whole streaming path on one machine, no setup.

1. a synthetic plant (pumps with coupled sensors, incidents injected after the normal period);
2. a small GANomaly trained on the normal period (about a minute on two cores);
3. an embedded Kafka-protocol broker (Tansu) on a free loopback port;
4. the scorer (the same :class:`~anomaly_gan.stream.app.Scorer` as ``anomaly-gan serve``)
   on a thread, with /metrics, /healthz and /readyz on ``--http-port``;
5. a producer replaying the test period faster than real time (``--speed``);
6. live alerts as they arrive, and a RESOLVED line when an incident's entity has been normal
   for ``RESOLVE_WINDOWS`` windows in a row (``serve.alerts.resolve_windows``);
7. a summary: events, windows, alerts, precision/recall of alerts against the injected
   incidents, incidents resolved (and how long after the injected incident ended),
   throughput and event-to-score latency.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anomaly_gan.demo.common import (
    check_options,
    demo_output,
    duration_text,
    live_pipeline,
    say,
    score_text,
    training_progress,
)
from anomaly_gan.errors import ConfigError, brief
from anomaly_gan.runtime import Interrupts

__all__ = ["DemoOptions", "alert_matches", "run_demo"]

STEP_SECONDS = 10.0  # the synthetic plant's row spacing
# serve.alerts.resolve_windows: an incident is resolved after a minute of normal windows in a
# row. Windows still hold incident rows until a whole window length after it ended, so a
# resolution comes about that window plus a minute after the incident's end. Measured on
# the default plant (seed 0): 6 to 32 change no alert; with 6, every incident resolves.
RESOLVE_WINDOWS = 6
# What the summary ends with: the README's next steps, for a user who has just seen the demo.
NEXT_STEPS = """
next, with a CSV of your own (a timestamp column, one numeric column per metric):
  anomaly-gan train    --data normal.csv --out models/v1
  anomaly-gan evaluate --model models/v1 --data test.csv --labels labels.csv --plot fig.png
  your bundle on a local broker: docs/streaming.md, section "Try it on one machine"
""".rstrip("\n")
# --entities x --steps: 1000 pumps of 3000 rows are ~200 MB of sensor values; the plant is
# generated in memory, so far more would exhaust it (100,000 pumps: 18 GB) before training.
MAX_ROWS = 3_000_000


@dataclass(frozen=True)
class DemoOptions:
    entities: int = 6
    steps: int = 3000
    speed: float = 1000.0
    seed: int = 0
    http_port: int = 9108
    out: str = "out/demo"
    keep_running: bool = False
    epochs: int | None = None

    def __post_init__(self) -> None:
        check_options(self.speed, self.http_port, self.epochs, self.seed)
        if self.entities < 1 or self.steps < 1:
            raise ConfigError(f"demo: --entities and --steps must be at least 1, got "
                              f"{brief(self.entities)} and {brief(self.steps)}")
        if self.entities * self.steps > MAX_ROWS:
            raise ConfigError(f"demo: --entities x --steps must be at most {MAX_ROWS:,} rows "
                              f"(e.g. 1000 pumps of 3000), got {brief(self.entities)} x "
                              f"{brief(self.steps)}")
        least = _least_steps(self.entities, self.steps)
        if least > self.steps:
            raise ConfigError(f"demo: --steps must be at least {least} with --entities "
                              f"{self.entities} (its first half trains a model on windows of "
                              f"{_demo_data().window} rows), got {self.steps}")


def _demo_data() -> Any:
    from anomaly_gan.demo.offline import demo_config

    return demo_config().data


def _least_steps(entities: int, steps: int) -> int:
    """``steps``, or the fewest rows per pump whose normal half (make_plant's train_steps)
    the training split accepts (train.too_short): fewer failed after the plant was made,
    with a message about data.window, which the demo has no flag for."""
    from anomaly_gan.train import too_short

    data = _demo_data()
    n = max(steps, 2)  # make_plant's train_steps: at least one row
    while too_short([n // 2] * entities, data.window, data.validation_fraction) is not None:
        n += 1
    return n


def alert_matches(alert: dict[str, Any], incidents: list[dict[str, Any]],
                  timestamps: np.ndarray) -> dict[str, Any] | None:
    """The incident of the alert's entity that its window overlaps, if any."""
    for inc in incidents:
        if inc["entity"] != alert["entity"]:
            continue
        lo, hi = float(timestamps[inc["start"]]), float(timestamps[inc["end"]])
        if alert["window_start_ts"] <= hi and alert["window_end_ts"] >= lo:
            return inc
    return None


def _train(opts: DemoOptions, plant: Any, stop: Interrupts) -> Any:
    from anomaly_gan.artifacts import load_bundle, save_bundle
    from anomaly_gan.demo.offline import demo_config
    from anomaly_gan.train import train_detector

    cfg = demo_config()
    if opts.epochs is not None:
        # --epochs asks for exactly that many passes over the data (quick runs): no step floor.
        cfg = cfg.replace(training=dataclasses.replace(cfg.training, epochs=opts.epochs,
                                                       min_steps=0))
    t0 = time.monotonic()
    say(f"training {cfg.model.kind}/{cfg.model.backbone} on the normal period "
         f"({plant.train_steps} rows x {len(plant.entities)} pumps)...")
    det = train_detector(cfg, [plant.values[e, : plant.train_steps]
                               for e in range(len(plant.entities))],
                         plant.feature_names, progress=training_progress(stop))
    stop.check()  # a signal after the last progress line: no bundle
    path = save_bundle(det, Path(opts.out) / "model", overwrite=True)
    say(f"model {det.version} saved to {path} ({time.monotonic() - t0:.0f}s); "
         f"threshold {det.threshold:.3f}, window {det.window}")
    return load_bundle(path), path


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def run_demo(opts: DemoOptions) -> int:
    stop = Interrupts()
    with stop.installed(), demo_output(Path(opts.out)):
        return _run_demo(opts, stop)


def _run_demo(opts: DemoOptions, stop: Interrupts) -> int:
    from anomaly_gan.data.synthetic import make_plant
    from anomaly_gan.scoring import feature_values_text
    from anomaly_gan.stream.alerts import iso_utc
    from anomaly_gan.stream.logs import configure_logging

    configure_logging("text", "ERROR")  # the demo prints its own story
    plant = make_plant(n_entities=opts.entities, n_steps=opts.steps, seed=opts.seed)
    say(f"synthetic plant: {len(plant.entities)} pumps x {opts.steps} rows x "
         f"{len(plant.feature_names)} sensors, {len(plant.incidents)} incidents after row "
         f"{plant.train_steps}")
    det, model_path = _train(opts, plant, stop)
    w = det.window
    first_row = plant.train_steps - (w - 1)  # so the first test row already gets a score
    rows = range(first_row, opts.steps)
    n_events = len(rows) * len(plant.entities)
    n_windows = (len(rows) - w + 1) * len(plant.entities)

    topics = {"events": "demo.events", "alerts": "demo.alerts", "scores": "demo.scores",
              "dlq": "demo.dlq"}
    # Live alerts and score latencies, read back from the output topics.
    sent_at: dict[tuple[str, float], float] = {}
    latencies: list[float] = []
    alerts: list[dict[str, Any]] = []
    # Resolution records, each with the injected incident its alerts overlapped (if any).
    resolutions: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    incident_of: dict[str, dict[str, Any] | None] = {}  # alert_id -> injected incident
    scored = [0]

    def on_record(topic: str, rec: dict[str, Any], timestamp_s: float) -> None:
        if topic == topics["scores"]:
            t_sent = sent_at.get((rec["entity"], rec["window_end_ts"]))
            if t_sent is not None:
                latencies.append(timestamp_s - t_sent)
            scored[0] += 1
            return
        if rec.get("status") == "resolved":
            on_resolution(rec)
            return
        alerts.append(rec)
        inc = alert_matches(rec, plant.incidents, plant.timestamps)
        incident_of[rec["alert_id"]] = inc
        tag = (f"true positive: {inc['kind']} on {','.join(inc['features'])}"
               if inc else "no injected incident")
        say(f"ALERT {rec['entity']:<8} window {rec['window_start'][11:19]}"
            f"-{rec['window_end'][11:19]} score {score_text(rec['score'], 7)} > "
            f"{rec['threshold']:.2f}  top: "
            f"{', '.join(rec['top_features'][:3]):<28} [{tag}]")
        if rec.get("feature_values"):  # how far off, in the data's units
            say(f"{'':6}{feature_values_text(rec['feature_values'][:3])}")

    def on_resolution(rec: dict[str, Any]) -> None:
        # The incident's last alert (alert_id) says which injected incident it was.
        inc = incident_of.get(rec["alert_id"])
        resolutions.append((rec, inc))
        if inc is None:
            tag = "no injected incident"
        else:
            ended = float(plant.timestamps[inc["end"]])
            tag = (f"{inc['kind']} ended {iso_utc(ended)[11:19]}, resolved "
                   f"{duration_text(rec['resolved_at_ts'] - ended)} later")
        n = rec["alerts"]
        say(f"RESOLVED {rec['entity']:<8} since {rec['anomalous_since'][11:19]}, resolved "
            f"{rec['resolved_at'][11:19]} after {duration_text(rec['duration_seconds'])} "
            f"({n} alert{'s' if n != 1 else ''}, {rec['anomalous_windows']} anomalous "
            f"windows)  [{tag}]")

    with live_pipeline(
            stop, det, model_path=str(model_path), topics=topics,
            partitions={"events": 3, "alerts": 1, "scores": 1, "dlq": 1},
            group_id="anomaly-gan-demo",
            serve={"windows": {"gap_seconds": 600.0},
                   "batching": {"max_batch": 512, "max_latency_ms": 20},
                   "alerts": {"consecutive": 3, "cooldown_seconds": 1800.0,
                              "resolve_windows": RESOLVE_WINDOWS}},
            http_port=opts.http_port, read=["alerts", "scores"], on_record=on_record,
            linger_ms=2) as pipe:
        live, producer, bootstrap = pipe.scorer, pipe.producer, pipe.bootstrap
        say(f"streaming {n_events} events ({len(rows)} rows x {len(plant.entities)} pumps) at "
            + (f"{opts.speed:g}x real time" if opts.speed > 0 else "full speed") + " ...")
        interval = STEP_SECONDS / opts.speed if opts.speed > 0 else 0.0
        t_start = time.monotonic()
        for i, t in enumerate(rows):
            pipe.check()
            if interval:
                wait = t_start + i * interval - time.monotonic()
                if wait > 0:
                    pipe.sleep(wait)
            ts = float(plant.timestamps[t])
            now = time.time()
            for e, name in enumerate(plant.entities):
                sent_at[(name, ts)] = now
                event = {"entity": name, "ts": ts, "values": plant.values[e, t].tolist()}
                producer.send(topics["events"], key=name.encode(),
                              value=json.dumps(event).encode())
        producer.flush()
        producer.close()
        deadline = time.monotonic() + 120
        while scored[0] < n_windows and time.monotonic() < deadline:
            pipe.sleep(0.05)
        elapsed = time.monotonic() - t_start
        if not pipe.settle():  # the last alerts and resolutions
            say("(the scorer's last output was not all read within 30 s: the summary "
                "may leave out its last alerts)")

        # Summary.
        hits = [alert_matches(a, plant.incidents, plant.timestamps) for a in alerts]
        tp = sum(1 for h in hits if h is not None)
        found = {(h["entity"], h["start"]) for h in hits if h is not None}
        precision = tp / len(alerts) if alerts else float("nan")
        recall = len(found) / len(plant.incidents) if plant.incidents else float("nan")
        windows = live.value("anomaly_gan_windows_scored_total")
        # An incident is its entity's alerts with one anomalous_since; one resolved at the
        # end of the data (or not at all) is still open. Per injected incident, its last
        # resolution is the one that closed it.
        opened = {(a["entity"], a["anomalous_since_ts"]) for a in alerts}
        closed = {(r["entity"], r["anomalous_since_ts"]) for r, _ in resolutions}
        lag = {(inc["entity"], inc["start"]):
               r["resolved_at_ts"] - float(plant.timestamps[inc["end"]])
               for r, inc in resolutions if inc is not None}
        resolved_text = f"{len(resolutions)} of {len(opened)} ({len(opened - closed)} open)"
        if lag:
            resolved_text += (f", a median {duration_text(_percentile(list(lag.values()), 50))} "
                              f"after an injected incident ended "
                              f"({duration_text(w * STEP_SECONDS)} window + {RESOLVE_WINDOWS} "
                              "normal windows)")
        rows_out = [
            ("events streamed", f"{n_events}"),
            ("windows scored", f"{int(windows)} (expected {n_windows})"),
            ("alerts", f"{len(alerts)} ({tp} overlap an incident)"),
            ("precision (alerts)", f"{precision:.2f}"),
            ("recall (incidents)", f"{recall:.2f} ({len(found)}/{len(plant.incidents)})"),
            ("incidents resolved", resolved_text),
            ("throughput", f"{n_events / elapsed:,.0f} events/s over {elapsed:.1f}s"
                           + (" (paced by --speed)" if interval else "")),
            ("latency event->score", (f"p50 {1000 * _percentile(latencies, 50):.0f} ms, "
                                      f"p99 {1000 * _percentile(latencies, 99):.0f} ms")),
        ]
        say("\nsummary")
        for name, value in rows_out:
            say(f"  {name:<22} {value}")
        missed = [i for i in plant.incidents if (i["entity"], i["start"]) not in found]
        for inc in missed:
            say(f"  missed: {inc['entity']} {inc['kind']} at "
                 f"{iso_utc(float(plant.timestamps[inc['start']]))}")
        say(NEXT_STEPS)

        if opts.keep_running:
            say(f"\nkeeping the broker ({bootstrap}) and the scorer up; "
                 f"metrics on http://127.0.0.1:{live.port}/metrics; Ctrl-C to stop")
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C or SIGTERM: done
                while True:
                    stop.sleep(1.0)
    ok = windows == n_windows
    if not ok:
        print(f"demo: only {int(windows)} of {n_windows} windows were scored", file=sys.stderr)
    return 0 if ok else 1
