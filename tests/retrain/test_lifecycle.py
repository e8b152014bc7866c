"""The retrain lifecycle with a real broker and real processes: a model trained on a normal
period alerts on a shifted new normal; `retrain` over that range leaves the incident out,
passes the gate and promotes; the running `serve` switches without a restart, skips no
window and alerts less; `models rollback` brings the old version back in the running
service."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import numpy as np
import pytest

from anomaly_gan.demo.broker import free_port, local_kafka
from tests.retrain.conftest import cli, produce_timestamped, write_csvs
from tests.retrain.plant import ENTITIES, START_TS, STEP_S, events, incident, rows
from tests.stream.conftest import PATIENT_POLL_MS
from tests.support.kafka import consume_all
from tests.support.serve import ServeProcess

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

WINDOW = 16
# The new normal: temperature +0.4, flow +0.1. Measured offline with the tiny config (no step
# floor), v1 flags 11% of the shifted windows and 0.7% of unshifted ones (24% and 0.5% with
# the default 2,000-step floor).
SHIFT = 0.4
N_C = 1500  # new-normal rows per pump before the retrain
N_D = 400  # after it
INCIDENT = ("pump-2", 250, 40)  # entity, first row, rows


def metric(port: int, name: str) -> list[tuple[dict[str, str], float]]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = []
    for line in text.splitlines():
        m = re.match(rf"^{name}(?:{{(.*)}})? (\S+)$", line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
            out.append((labels, float(m.group(2))))
    return out


def wait_for(what: str, check, timeout_s: float = 120.0, log=lambda: ""):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}\n{log()}")


def served_version(port: int) -> str | None:
    found = [lab["version"] for lab, v in metric(port, "anomaly_gan_model_info") if v == 1]
    return found[0] if found else None


def windows_scored(port: int) -> float:
    got = metric(port, "anomaly_gan_windows_scored_total")
    return got[0][1] if got else 0.0


def new_normal() -> dict[str, np.ndarray]:
    series = {}
    for i, e in enumerate(ENTITIES):
        x = rows(N_C + N_D, seed=100 + i)
        x[:, 0] += SHIFT
        x[:, 2] += SHIFT / 4
        series[e] = x
    ent, start, length = INCIDENT
    series[ent] = incident(series[ent], start, length)
    return series


def test_retrain_lifecycle_switches_serve_and_rolls_back(tmp_path, config_file, kafka_bootstrap,
                                                         kafka_topics):
    topics = kafka_topics(events=3, alerts=1, scores=1, dlq=1)
    port = free_port()
    store = tmp_path / "store"
    serve = {
        "model_path": str(store), "reload_interval_seconds": 0.5, "grace_seconds": 5.0,
        # a patient poll deadline (tests/stream/conftest.py): with FAST_GROUP's 3 s a loaded
        # machine's scorer left its group and replayed (a window alerted twice)
        "kafka": local_kafka(kafka_bootstrap, topics, f"g-{topics['events']}",
                             max_poll_interval_ms=PATIENT_POLL_MS),
        "windows": {"gap_seconds": 60.0},
        "alerts": {"consecutive": 3, "cooldown_seconds": 300.0},
        "http": {"port": port},
    }
    cfg_path = config_file(serve=serve, retrain={"alert_margin_seconds": 60.0})

    # v1: the first version, from files of the normal period.
    files = write_csvs(tmp_path, [rows(900, seed=s) for s in range(3)])
    first = cli("retrain", "--config", cfg_path, "--store", str(store), "--data", *files, "--quiet")
    assert first.returncode == 0, first.stderr
    v1 = json.loads(first.stdout)["version"]

    from anomaly_gan.config import load_config

    proc = ServeProcess(load_config(cfg_path), tmp_path, "serve")
    try:
        proc.wait_ready()
        assert served_version(port) == v1

        # The new normal with an incident, stamped with event time.
        series = new_normal()
        c_end = START_TS + N_C * STEP_S
        produce_timestamped(kafka_bootstrap, topics["events"],
                            events({e: x[:N_C] for e, x in series.items()}, START_TS))
        expect_c = len(ENTITIES) * (N_C - WINDOW + 1)
        wait_for("v1 to score the new normal", lambda: windows_scored(port) >= expect_c,
                 log=proc.log)

        # retrain over the shifted range: the incident is left out, the gate passes, promoted.
        out = cli("retrain", "--config", cfg_path, "--store", str(store), "--from",
                  str(START_TS), "--to", str(c_end), "--quiet")
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        assert "[read]" in out.stderr and "[filter]" in out.stderr and "[gate]" in out.stderr
        assert re.search(r"\(\d[\d,]* events/s\)", out.stderr)
        v2 = report["version"]
        assert report["promoted"] and report["gate"]["passed"], report["gate"]
        lineage = report["lineage"]
        assert lineage["parent"] == v1
        assert lineage["source"]["events"] == len(ENTITIES) * N_C
        sel = lineage["selection"]
        # The incident's windows were alerted on (+- 60 s) or over v1's threshold: left out.
        ent, start, length = INCIDENT
        assert sel["windows_excluded"]["alerted"] > 0
        assert sum(sel["windows_excluded"].values()) >= length
        assert sel["rows_kept"] < sel["rows"] - length

        # serve switches within seconds, without a restart.
        wait_for(f"serve to load {v2}", lambda: served_version(port) == v2, 30, proc.log)
        assert proc.proc.poll() is None
        produce_timestamped(kafka_bootstrap, topics["events"],
                            events({e: x[N_C:] for e, x in series.items()}, c_end))
        expect_all = len(ENTITIES) * (N_C + N_D - WINDOW + 1)
        wait_for("v2 to score the rest", lambda: windows_scored(port) >= expect_all,
                 log=proc.log)

        # No window skipped across the switch: every window end of every pump was scored.
        # Read until the topic holds them all: windows_scored counts a window scored again
        # after a replay (delivery is at least once), and reading as many records as it
        # counted stopped short of the last windows on a loaded machine.
        want = {round(START_TS + i * STEP_S) for i in range(WINDOW - 1, N_C + N_D)}
        deadline = time.monotonic() + 120
        while True:
            scores = [json.loads(r.value) for r in
                      consume_all(kafka_bootstrap, topics["scores"], timeout_s=60)]
            ends = {e: {round(s["window_end_ts"]) for s in scores if s["entity"] == e}
                    for e in ENTITIES}
            if all(want <= ends[e] for e in ENTITIES) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        for e in ENTITIES:
            assert ends[e] == want, f"{e}: missing {sorted(want - ends[e])[:5]}"
        by_version = {v: [s for s in scores if s["model_version"] == v] for v in (v1, v2)}
        assert by_version[v1] and by_version[v2]
        incident_ts = (START_TS + (start - 2 * WINDOW) * STEP_S,
                       START_TS + (start + length + 2 * WINDOW) * STEP_S)

        def rate(recs):
            normal = [s for s in recs if not (s["entity"] == ent
                                              and incident_ts[0] <= s["window_end_ts"] <= incident_ts[1])]
            return sum(s["is_anomaly"] for s in normal) / len(normal)

        assert rate(by_version[v2]) < rate(by_version[v1]) / 2, (rate(by_version[v1]),
                                                                 rate(by_version[v2]))
        alerts = [json.loads(r.value) for r in consume_all(kafka_bootstrap, topics["alerts"])]
        assert {a["model_version"] for a in alerts} <= {v1, v2}
        windows_alerted = [(a["entity"], a["window_end_ts"]) for a in alerts]
        assert len(windows_alerted) == len(set(windows_alerted)), "a window alerted twice"
        assert any(a["entity"] == ent and a["model_version"] == v1 for a in alerts)

        # rollback: the running service goes back to v1.
        back = cli("models", "rollback", "--store", str(store))
        assert back.returncode == 0, back.stderr
        wait_for(f"serve to load {v1} again", lambda: served_version(port) == v1, 30, proc.log)
        listing = cli("models", "list", "--store", str(store))
        assert listing.returncode == 0
        cur_line = next(line for line in listing.stdout.splitlines() if line.startswith("*"))
        assert v1 in cur_line and "passed" in cur_line
    finally:
        proc.kill()
