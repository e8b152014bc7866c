"""An OpenTelemetry Collector end to end, as a user combines today's features: host metrics
(two gauges and a cumulative sum counter, ``data.counters``) of three hosts, sent to Kafka
as ``otlp_proto`` and written by the file exporter to a file (``format: proto``, and JSON
lines). A model trained offline on the file, ``serve`` on a real broker with
``serve.alerts.resolve_windows``, and ``score --alerts`` on the file must send the same alert
topic records for a host, through an incident, a counter reset and a restart told by the
start time alone; ``retrain --data`` on a later file keeps the counters."""

from __future__ import annotations

import csv
import json
import math
import shutil
from datetime import datetime

import numpy as np
import pytest
import yaml

from tests.support.hostmetrics import kv
from tests.support.kafka import consume_all, produce
from tests.support.otlp import framed, to_proto

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

T0 = 1767225600  # 2026-01-01T00:00:00Z
HOSTS = ("web-1", "web-2", "web-3")
CPU, MEM, REQUESTS = ("system.cpu.utilization", "system.memory.utilization{state=used}",
                      "http.server.requests")
TRAIN_STEPS, TEST_STEPS = 600, 200
INCIDENT, RESET = range(100, 104), 150  # web-2's incident, web-3's process restart (test rows)
CRASH = 60  # web-1's process restarts and its new total is past the old one (a test row)
SERVE = {"event_format": "otlp_proto", "assemble_seconds": 10.0,
         "windows": {"gap_seconds": 3600.0},
         "alerts": {"consecutive": 2, "cooldown_seconds": 300.0, "resolve_windows": 3}}
CONFIG = {"model": {"kind": "ganomaly", "backbone": "dense", "latent_dim": 8, "hidden": [16]},
          "data": {"window": 8, "stride": 2, "counters": [REQUESTS]},
          "training": {"epochs": 2, "batch_size": 64, "verbose": 0, "seed": 0, "min_steps": 0,
                       "max_attempts": 1, "allow_unhealthy": True},
          "serve": SERVE}


def host_readings(first, steps, seed, incident=False, reset=False, totals=None):
    """Per host, ``steps`` collections from collection ``first``: cpu and memory utilization
    and a running total of served requests whose rate follows the cpu (an int, as OTLP
    counters are); with ``incident`` web-2's cpu spikes and its request rate bursts at
    :data:`INCIDENT`, with ``reset`` web-3's process restarts at :data:`RESET` (its total
    starts again from 0, with a new start time) and web-1's at :data:`CRASH`, whose new
    total has passed the old one by the next collection (a new start time alone tells it:
    its increase is the whole new total)."""
    rng = np.random.default_rng(seed)
    out = {}
    for j, host in enumerate(HOSTS):
        k = np.arange(first, first + steps)
        cpu = 0.3 + 0.1 * np.sin(k / 7 + j) + rng.normal(0, 0.01, steps)
        mem = 0.5 + 0.05 * np.sin(k / 11 + j) + rng.normal(0, 0.005, steps)
        rate = np.round(1000 * (1 + cpu) + rng.normal(0, 20, steps))
        if incident and host == "web-2":
            cpu[list(INCIDENT)] = 0.98
            rate[list(INCIDENT)] *= 20
        start = 0 if totals is None else totals[host]
        total = start + np.cumsum(rate)
        starts = np.full(steps, T0 - 3600)
        if reset and host == "web-3":
            total[RESET:] = np.cumsum(rate[RESET:]) - rate[RESET]  # ~0 at the restart
            starts[RESET:] = T0 + 10 * (first + RESET)
        if reset and host == "web-1":
            starts[CRASH:] = T0 + 10 * (first + CRASH)
        out[host] = (k, cpu, mem, total.astype(np.int64), starts)
    return out


def requests(readings):
    """The Collector's requests, in the order it sends them: per collection and host the
    hostmetrics receiver's batch (cpu, memory) 2 s into the 10 s collection, then the
    application's counter a few ms later in a batch of its own."""
    docs = []
    steps = len(next(iter(readings.values()))[0])
    for i in range(steps):
        for j, host in enumerate(HOSTS):
            k, cpu, mem, total, starts = readings[host]
            ns = (T0 + 10 * int(k[i]) + 2) * 10**9 + j * 1000
            resource = {"attributes": [kv("host.name", host), kv("os.type", "linux")]}
            docs.append((host, {"resourceMetrics": [{"resource": resource, "scopeMetrics": [
                {"scope": {"name": "hostmetrics"}, "metrics": [
                    {"name": CPU, "unit": "1", "gauge": {"dataPoints": [
                        {"timeUnixNano": str(ns), "asDouble": float(cpu[i])}]}},
                    {"name": "system.memory.utilization", "unit": "1", "gauge": {
                        "dataPoints": [{"attributes": [kv("state", "used")],
                                        "timeUnixNano": str(ns),
                                        "asDouble": float(mem[i])}]}}]}]}]}))
            docs.append((host, {"resourceMetrics": [{"resource": resource, "scopeMetrics": [
                {"scope": {"name": "app"}, "metrics": [
                    {"name": REQUESTS, "unit": "{request}", "sum": {
                        "aggregationTemporality": 2, "isMonotonic": True, "dataPoints": [
                            {"startTimeUnixNano": str(int(starts[i]) * 10**9),
                             "timeUnixNano": str(ns + 4_000_000),
                             "asInt": str(int(total[i]))}]}}]}]}]}))
    return docs


def write(path, docs, kind):
    """``docs`` as the file exporter writes them: ``format: proto`` or its JSON lines."""
    if kind == "json":
        path.write_text("".join(json.dumps(doc) + "\n" for _host, doc in docs))
    else:
        path.write_bytes(framed(*(to_proto(doc) for _host, doc in docs)))
    return path


def test_a_collectors_metrics_alert_the_same_streamed_and_offline(
        tmp_path, capsys, serve_config, start_scorer, kafka_bootstrap):
    from anomaly_gan.artifacts import load_bundle
    from anomaly_gan.cli import main

    cfg_path = tmp_path / "otel.yaml"
    cfg_path.write_text(yaml.safe_dump(CONFIG))
    train = host_readings(0, TRAIN_STEPS, seed=0)
    train_file = write(tmp_path / "train.pb", requests(train), "proto")
    assert main(["train", "--config", str(cfg_path), "--data", str(train_file), "--out",
                 str(tmp_path / "model")]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert trained["features"] == 3
    det = load_bundle(tmp_path / "model")
    assert det.feature_names == (REQUESTS, CPU, MEM)  # sorted by name
    assert det.counters == (0,)

    # the next 200 collections: web-2's incident, web-3's restart
    totals = {h: int(train[h][3][-1]) for h in HOSTS}
    test = requests(host_readings(TRAIN_STEPS, TEST_STEPS, seed=1, incident=True,
                                  reset=True, totals=totals))

    # (1) serve reads the kafka exporter's records of the same requests, keyed by host
    # (partition_metrics_by_resource_attributes), and is restarted in the middle of the
    # incident (a rollout): the replay from its commit rebuilds windows, increases, slots
    # and the open incident
    cfg = serve_config(partitions=3, overrides={
        "model_path": str(tmp_path / "model"), "event_format": "otlp_proto",
        "assemble_seconds": 10.0, "alerts.consecutive": 2, "alerts.cooldown_seconds": 300.0,
        "alerts.resolve_windows": 3})
    k = cfg.serve.kafka
    records = [(host, to_proto(doc)) for host, doc in test]
    cut = 2 * len(HOSTS) * (INCIDENT.start + 2)  # the incident's first two collections in
    run = start_scorer(cfg, det)
    produce(kafka_bootstrap, k.input_topic, records[:cut])
    # a slot is an event once its features came; the first row only starts the increases
    before = len(HOSTS) * (INCIDENT.start + 2 - det.window)
    run.wait_for(lambda: run.value("anomaly_gan_windows_scored_total") == before, 90,
                 "the first part scored")
    assert run.stop() == 0
    run = start_scorer(cfg, det)
    produce(kafka_bootstrap, k.input_topic, records[cut:])
    n_windows = len(HOSTS) * (TEST_STEPS - det.window)
    scored = {}

    def all_scored():
        for r in consume_all(kafka_bootstrap, k.scores_topic, idle_s=0.5, timeout_s=10):
            d = json.loads(r.value)
            scored[d["entity"], d["window_end_ts"]] = d["score"]
        return len(scored) >= n_windows

    run.wait_for(all_scored, 90, "every window scored")
    assert len(scored) == n_windows

    # (2) score --alerts on the file exporter's file of the same requests, per host
    offline = {}
    for kind in ("proto", "json"):
        path = write(tmp_path / f"test.{kind}", test, kind)
        for host in HOSTS:
            out, scores = (tmp_path / f"{host}.{kind}.alerts.jsonl",
                           tmp_path / f"{host}.{kind}.csv")
            assert main(["score", "--model", str(tmp_path / "model"), "--data", str(path),
                         "--entity", host, "--config", str(cfg_path), "--out", str(scores),
                         "--alerts", str(out)]) == 0
            offline[kind, host] = [json.loads(line) for line in out.read_text().splitlines()]
            with scores.open(newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if r["score"]]
            assert len(rows) == TEST_STEPS - det.window
            for r in rows:  # the scores CSV's nine digits of the streamed scores
                ts = datetime.fromisoformat(r["timestamp"]).timestamp()
                assert float(r["score"]) == pytest.approx(scored[host, ts], rel=1e-8)
    for host in HOSTS:
        assert offline["json", host] == offline["proto", host]
    want = {host: offline["proto", host] for host in HOSTS}
    n_records = sum(len(v) for v in want.values())

    # (3) the alert topic holds the same records, per host in order; a record the replay
    # sent again has the same id (at least once: consumers deduplicate by it)
    got = {}
    for r in consume_all(kafka_bootstrap, k.alert_topic, timeout_s=60):
        d = json.loads(r.value)
        assert r.key.decode() == d["entity"]
        got.setdefault(d["entity"], []).append(d)
    assert run.stop() == 0
    for host in HOSTS:
        once = {}
        for d in got.get(host, []):
            repeat = once.setdefault(d.get("resolution_id", d["alert_id"]), d)
            assert repeat == d, "a record sent again differs"
        assert list(once.values()) == want[host], host
    assert sum(len(v) for v in got.values()) >= n_records

    # the incident fired with both features and resolved; the counter's values are increases
    first = T0 + 10 * (TRAIN_STEPS + INCIDENT.start)
    incident = [d for d in want["web-2"] if d["status"] == "firing"
                and first <= d["window_end_ts"] < first + 10 * det.window]
    assert incident, want["web-2"]
    assert {CPU, REQUESTS} <= {f for d in incident for f in d["top_features"]}
    fired = [v for d in incident for v in d["feature_values"]]
    assert all(v.get("increase") is (True if v["feature"] == REQUESTS else None)
               for v in fired)
    burst = next(v for v in fired if v["feature"] == REQUESTS)
    assert burst["observed"] > 10_000  # an increase over 10 s, not the running total
    after = [d for d in want["web-2"] if d.get("resolved_at_ts", 0) > first]
    assert after and after[0]["status"] == "resolved"
    # web-3's restart: the increase is the new total (~0), no alert storm after it
    reset_end = T0 + 10 * (TRAIN_STEPS + RESET)
    assert len([d for d in want["web-3"] if d["status"] == "firing"
                and d["window_end_ts"] >= reset_end + 10 * det.window]) <= 2

    # web-1's restart past its old total: the increase is the new total (until 2026-12-06 it
    # read as one interval's requests, unseen), an alert of the counter streamed and offline
    crash_end = T0 + 10 * (TRAIN_STEPS + CRASH)
    crash = [v for d in want["web-1"] if d["status"] == "firing"
             and crash_end <= d["window_end_ts"] < crash_end + 10 * det.window
             for v in d["feature_values"] if v["feature"] == REQUESTS]
    assert crash and max(v["observed"] for v in crash) > 100_000, want["web-1"]

    # retrain --data on a later file with the same config keeps the counters and trains
    store = tmp_path / "store"
    shutil.copytree(tmp_path / "model", store / "v1")
    # trained with allow_unhealthy (a short budget: this proves plumbing, not the model)
    assert main(["models", "promote", "--store", str(store), "v1", "--allow-unhealthy"]) == 0
    later = host_readings(TRAIN_STEPS + TEST_STEPS, 300, seed=2,
                          totals={h: int(2e6) for h in HOSTS})
    later_file = write(tmp_path / "later.jsonl", requests(later), "json")
    capsys.readouterr()
    rc = main(["retrain", "--config", str(cfg_path), "--store", str(store), "--data",
               str(later_file), "--no-promote"])
    err = capsys.readouterr().err
    assert rc in (0, 4), err  # 4: the gate's verdict
    assert f"{len(HOSTS) * (300 - 1)} rows in {len(HOSTS)} segments" in err, err
    (new,) = [p for p in store.iterdir() if (p / "config.yaml").exists() and p.name != "v1"]
    assert yaml.safe_load((new / "config.yaml").read_text())["data"]["counters"] == [REQUESTS]
    assert load_bundle(new).counters == (0,)
    assert math.isfinite(load_bundle(new).threshold)
