"""``anomaly-gan serve`` as a real process: SIGKILL mid-stream loses nothing, SIGTERM drains
and commits and exits 0.

Every wait is on a condition (a log line, a metric, a committed offset), never on elapsed
time; the HTTP port is 0 and read back from the process's "starting" log line.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest

from tests.support.kafka import consume_all, produce
from tests.support.serve import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ENTITIES = [f"pump-{i}" for i in range(1, 7)]


def events(plant, rows):
    out = []
    for t in rows:
        for i, name in enumerate(ENTITIES):
            e = i % len(plant.entities)
            out.append((name, {"entity": name, "ts": float(plant.timestamps[t]),
                               "values": plant.values[e, t].tolist()}))
    return out


def committed_offsets(bootstrap, group, topic):
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        parts = c.partitions_for_topic(topic) or set()
        return {p: c.committed(TopicPartition(topic, p)) for p in sorted(parts)}
    finally:
        c.close(autocommit=False, timeout_ms=1000)


def settled_offsets(bootstrap, group, topic, proc):
    """The group's committed offsets once the scorer commits no more: unchanged over three
    of its commit intervals (it commits what changed, at most every _COMMIT_INTERVAL_S).
    Read once after the first commit, they could still move when the last batch's commit
    came after it (a loaded CI run: {0: 28, 1: 109}, then {0: 33, 1: 165})."""
    from anomaly_gan.stream.app import _COMMIT_INTERVAL_S

    last = committed_offsets(bootstrap, group, topic)
    since = started = time.monotonic()
    while time.monotonic() - since < 3 * _COMMIT_INTERVAL_S:
        if proc.proc.poll() is not None or time.monotonic() - started > 120:  # a hung test
            raise AssertionError(f"no settled commit (serve: {proc.proc.returncode}):\n"
                                 f"{proc.log()}")
        now = committed_offsets(bootstrap, group, topic)
        if now != last:
            last, since = now, time.monotonic()
        time.sleep(0.2)
    return last


def windows_scored(port):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except (urllib.error.URLError, OSError):
        return 0.0
    for line in text.decode().splitlines():
        if line.startswith("anomaly_gan_windows_scored_total "):
            return float(line.split()[1])
    return 0.0


def score_keys(bootstrap, topic, expect=None, timeout_s=20.0):
    recs = consume_all(bootstrap, topic, expect=expect, timeout_s=timeout_s)
    return [json.loads(r.value) for r in recs]


def test_sigkill_mid_stream_then_restart_scores_every_window(serve_config, serve_process,
                                                             stream_detector, plant,
                                                             kafka_bootstrap):
    det = stream_detector
    cfg = serve_config(partitions=3)
    k = cfg.serve.kafka
    first_half, second_half = events(plant, range(600, 750)), events(plant, range(750, 900))
    expected = {(name, float(plant.timestamps[t])) for name in ENTITIES
                for t in range(600 + det.window - 1, 900)}

    # Produce half, let the first process score it and commit, kill it, produce the rest.
    first = serve_process(cfg, "first")
    first.wait_ready()
    produce(kafka_bootstrap, k.input_topic, first_half)
    first_windows = len(ENTITIES) * (150 - det.window + 1)
    wait_until(lambda: windows_scored(first.port) >= first_windows, "the first half scored",
               first)
    wait_until(lambda: any(committed_offsets(kafka_bootstrap, k.group_id,
                                             k.input_topic).values()), "a commit", first)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(timeout=10)
    at_kill = committed_offsets(kafka_bootstrap, k.group_id, k.input_topic)
    produce(kafka_bootstrap, k.input_topic, second_half)

    second = serve_process(cfg, "second")
    keys: set = set()
    scored: list = []

    def all_scored():
        nonlocal keys, scored
        scored = score_keys(kafka_bootstrap, k.scores_topic)
        keys = {(s["entity"], s["window_end_ts"]) for s in scored}
        return expected <= keys

    wait_until(all_scored, "every window scored", second)
    assert keys == expected  # every window scored at least once, nothing else

    # Duplicates only in the replayed range: at or after the offset committed at the kill.
    counts = Counter((s["partition"], s["offset"]) for s in scored)
    dups = [po for po, n in counts.items() if n > 1]
    for partition, offset in dups:
        assert offset >= (at_kill.get(partition) or 0)
    assert all(n <= 2 for n in counts.values())
    second.proc.send_signal(signal.SIGTERM)
    assert second.proc.wait(timeout=60) == 0, second.log()


def test_sigterm_drains_commits_and_exits_zero(serve_config, serve_process, stream_detector, plant,
                                               kafka_bootstrap):
    det = stream_detector
    cfg = serve_config(partitions=2, overrides={"grace_seconds": 10.0})
    k = cfg.serve.kafka
    records = events(plant, range(600, 640))
    proc = serve_process(cfg)
    proc.wait_ready()
    produce(kafka_bootstrap, k.input_topic, records)
    n_windows = len(ENTITIES) * (40 - det.window + 1)
    scored = score_keys(kafka_bootstrap, k.scores_topic, expect=n_windows, timeout_s=60)
    assert len(scored) == n_windows
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(timeout=60) == 0, proc.log()
    # The drain's own account: it scored, flushed and committed everything, in order.
    log = proc.log()
    assert log.index("stopping: scoring what was read") < log.index("scorer stopped")
    assert "clean=true" in log

    # Committed: per partition, the oldest of the last W-1 events of any entity on it (what
    # a successor needs to rebuild every window), i.e. nothing unscored is skipped.
    inputs = consume_all(kafka_bootstrap, k.input_topic, expect=len(records))
    per_entity: dict[tuple[int, str], list[int]] = {}
    for r in inputs:
        per_entity.setdefault((r.partition, r.key.decode()), []).append(r.offset)
    want: dict[int, int] = {}
    for (p, _), offs in per_entity.items():
        need = sorted(offs)[-(det.window - 1)]
        want[p] = min(want.get(p, need), need)
    got = committed_offsets(kafka_bootstrap, k.group_id, k.input_topic)
    assert {p: o for p, o in got.items() if p in want} == want


def test_starts_without_a_broker_reports_it_and_stops_cleanly(serve_config, serve_process,
                                                              stream_detector):
    # A port that is bound but never listens: every connection to it is refused.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as nowhere:
        nowhere.bind(("127.0.0.1", 0))
        cfg = serve_config(partitions=1, overrides={
            "kafka.bootstrap_servers": f"127.0.0.1:{nowhere.getsockname()[1]}",
            "kafka.reconnect_backoff_max_ms": 500, "reload_interval_seconds": 0.25})
        proc = serve_process(cfg)
        base = f"http://127.0.0.1:{proc.port}"
        checks: list[float] = []

        def reported():
            try:
                text = urllib.request.urlopen(base + "/metrics", timeout=2).read().decode()
            except (urllib.error.URLError, OSError):
                return False
            found = re.search(r"^anomaly_gan_model_watch_last_check_timestamp_seconds (\S+)$",
                              text, re.MULTILINE)
            if found:
                checks.append(float(found[1]))
            return ("anomaly_gan_broker_up 0.0" in text and "broker unreachable" in proc.log()
                    and "anomaly_gan_model_watch_interval_seconds 0.25" in text
                    and len(set(checks)) >= 2)

        # The model watcher checks while the broker is awaited (it used to start only once
        # the broker answered: a long outage at start looked like a stuck watcher).
        wait_until(reported, "broker_up 0, the log line and two watcher checks", proc)
        assert checks[0] > 1e9  # set at start (it read 0 until the first check)
        assert urllib.request.urlopen(base + "/healthz", timeout=2).status == 200
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/readyz", timeout=2)
        assert err.value.code == 503
        # the model is loaded: what is missing is the broker (it said "no model loaded")
        assert b"broker unreachable" in err.value.read()
        # SIGHUP checks the model path at once; it used to end the process without a word.
        proc.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "checking the model path now" in proc.log(), "the SIGHUP check",
                   proc)
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.proc.wait(timeout=60) == 0, proc.log()
        assert "stopped before any broker answered" in proc.log()  # it ended in silence
        # Which model it runs, while "scorer started" (which names it) never came: the
        # "starting" line named the path alone, a store's and not the version it resolved to.
        starting = next(x for x in proc.log().splitlines() if " starting " in x)
        assert f"model_version={stream_detector.version}" in starting
        assert f"bundle={cfg.serve.model_path}" in starting


@pytest.mark.skipif(bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")),
                    reason="pauses its own embedded broker")
def test_a_second_sigterm_during_the_drain_stops_at_once_and_commits_nothing_more(
        serve_process, stream_bundle, stream_detector, plant):
    """A drain that cannot end (the broker hangs: its process is stopped, so the final
    commit waits) is cut short by a second SIGTERM: one line, exit 130, no "scorer stopped",
    and the group's committed offsets are those of before the stop (at least once)."""
    from anomaly_gan.config import config_from_dict
    from anomaly_gan.demo.broker import EmbeddedBroker, local_kafka
    from tests.stream.conftest import PATIENT_POLL_MS, PATIENT_STALL_S

    topics = {"events": "ev", "alerts": "al", "scores": "sc", "dlq": "dlq"}
    with EmbeddedBroker(topics={"ev": 2, "al": 1, "sc": 1, "dlq": 1}) as broker:
        bootstrap = broker.bootstrap_servers
        cfg = config_from_dict({"serve": {
            "model_path": str(stream_bundle), "grace_seconds": 600.0, "http": {"port": 0},
            "kafka": local_kafka(bootstrap, topics, "second-signal",
                                 max_poll_interval_ms=PATIENT_POLL_MS,
                                 input_stall_seconds=PATIENT_STALL_S)}}, "test serve config")
        proc = serve_process(cfg)
        proc.wait_ready()
        records = events(plant, range(600, 640))
        produce(bootstrap, "ev", records)
        n_windows = len(ENTITIES) * (40 - stream_detector.window + 1)
        assert len(score_keys(bootstrap, "sc", expect=n_windows, timeout_s=60)) == n_windows
        wait_until(lambda: any(committed_offsets(bootstrap, "second-signal", "ev").values()),
                   "a commit", proc)
        before = settled_offsets(bootstrap, "second-signal", "ev", proc)
        broker_pid = broker._proc.pid
        os.kill(broker_pid, signal.SIGSTOP)  # hung, not gone: requests wait for an answer
        try:
            proc.proc.send_signal(signal.SIGTERM)
            wait_until(lambda: "stopping: scoring what was read" in proc.log(), "the drain",
                       proc)
            proc.proc.send_signal(signal.SIGTERM)
            rc = proc.proc.wait(timeout=120)
        finally:
            os.kill(broker_pid, signal.SIGCONT)
        log = proc.log()
        assert rc == 130, log
        assert "scorer stopped" not in log  # the drain did not finish: it was cut short
        said = [line for line in log.splitlines() if "second SIGTERM while stopping" in line]
        assert len(said) == 1 and "nothing more is committed" in said[0], log
        assert committed_offsets(bootstrap, "second-signal", "ev") == before


def metric(port, name, labels=""):
    """A sample of the process's /metrics (None: not exported, or no answer)."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except (urllib.error.URLError, OSError):
        return None
    found = re.search(rf"^{re.escape(name + labels)} (\S+)$", text.decode(), re.MULTILINE)
    return float(found[1]) if found else None


OURS = re.compile(r" [A-Z]+ anomaly_gan[\w.]*: (.*)")  # a line of serve's loggers: its message
# What serve says about itself once per process, in this order (docs/streaming.md)
ONCE = ["silences loaded", "model threads", "starting", "scorer started",
        "stopping: scoring what was read, flushing, committing", "scorer stopped"]


def test_each_start_up_and_shutdown_line_is_logged_once_and_a_steady_run_logs_nothing(
        serve_config, serve_process, stream_detector, plant, kafka_bootstrap, tmp_path):
    """An operator reads serve's stderr: each fact once (a report had "silences loaded" twice
    at start), the model's threshold with its version, and no line per poll or per re-read
    while nothing changes. A SIGHUP and a silences file edited without changing a silence
    (a comment) are re-reads that change nothing: it said "silences reloaded" for the edit."""
    silences = tmp_path / "silences.yaml"
    silences.write_text("silences:\n  - entity: pump-9\n    end: 2030-01-01T00:00:00Z\n")
    cfg = serve_config(partitions=2, overrides={"alerts.silences_path": str(silences),
                                                "reload_interval_seconds": 0.25})
    k = cfg.serve.kafka
    proc = serve_process(cfg)
    proc.wait_ready()
    produce(kafka_bootstrap, k.input_topic, events(plant, range(600, 640)))
    n_windows = len(ENTITIES) * (40 - stream_detector.window + 1)
    wait_until(lambda: windows_scored(proc.port) >= n_windows, "every window scored", proc)

    silences.write_text("# reviewed by ops\n" + silences.read_text())
    proc.proc.send_signal(signal.SIGHUP)
    success = '{result="success"}'
    wait_until(lambda: metric(proc.port, "anomaly_gan_silence_reloads_total", success) == 1.0,
               "the edited silences file read", proc)
    proc.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: proc.log().count("checking the model path now") == 2,
               "the second SIGHUP's check", proc)
    steady_from = len(proc.log().splitlines())
    # a steady run: the model path checked three more times, each at a housekeeping's pace
    checks: set = set()

    def three_more_checks():
        checks.add(metric(proc.port, "anomaly_gan_model_watch_last_check_timestamp_seconds"))
        return len(checks - {None}) >= 4

    wait_until(three_more_checks, "three more model path checks", proc)
    steady_to = len(proc.log().splitlines())
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(timeout=60) == 0, proc.log()

    said = [m[1] for m in map(OURS.search, proc.log().splitlines()) if m]
    messages = [m + " " for m in said]  # a message and its fields, a space after the message
    for what in ONCE:
        assert sum(m.startswith(what + " ") for m in messages) == 1, \
            f"{what!r} not logged once:\n{proc.log()}"
    firsts = [next(i for i, m in enumerate(messages) if m.startswith(w + " ")) for w in ONCE]
    assert firsts == sorted(firsts), proc.log()
    assert not any(m.startswith("silences reloaded ") for m in messages), proc.log()
    # a transition is said again only after its opposite: no second "partitions assigned"
    # for a partition not revoked since, no "broker reachable" while it was
    held: set = set()
    up = False
    for m in messages:
        if m.startswith(("partitions assigned", "partitions revoked")):
            parts = set(json.loads(re.search(r"partitions=(\[[^\]]*\])", m)[1]))
            if m.startswith("partitions assigned"):
                assert not parts & held, proc.log()
                held |= parts
            else:
                held -= parts
        elif m.startswith("broker reachable"):
            assert not up, proc.log()
            up = True
        elif m.startswith("broker unreachable"):
            up = False
    # what the operator needs from the start-up lines
    starting = next(m for m in said if m.startswith("starting "))
    assert f"model_version={stream_detector.version}" in starting
    assert f"threshold={stream_detector.threshold!r}" in starting
    assert f'"group_id":"{k.group_id}"' in starting and k.alert_topic in starting
    # nothing logged by serve while nothing happened
    steady = [x for x in proc.log().splitlines()[steady_from:steady_to] if OURS.search(x)]
    assert steady == [], proc.log()
