"""`anomaly-gan retrain` and `anomaly-gan models` as real processes: bad input (one line,
exit 2, store untouched), the gate rejecting a candidate (exit 4; a second case in-process),
a killed retrain, and concurrent promotes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from anomaly_gan.store import ModelStore
from tests.retrain.conftest import ENV, cli, snapshot, write_csvs
from tests.retrain.plant import rows
from tests.support.cli import run_cli

pytestmark = pytest.mark.slow


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    return _error_line(proc.returncode, proc.stderr)


def _error_line(returncode: int, stderr: str) -> str:
    assert returncode == 2, stderr
    assert "Traceback" not in stderr
    ours = [line for line in stderr.splitlines() if line.startswith("anomaly-gan")]
    assert len(ours) == 1, stderr
    return ours[0]


@pytest.mark.kafka
def test_bad_input_is_one_line_exit_2_and_the_store_is_untouched(store, tmp_path, kafka_bootstrap,
                                                                 kafka_topics, config_file):
    topics = kafka_topics(events=2, alerts=1)
    cfg = config_file(serve={"kafka": {"bootstrap_servers": kafka_bootstrap,
                                       "input_topic": topics["events"],
                                       "alert_topic": topics["alerts"]}})
    before = snapshot(store.root)
    base = ["retrain", "--config", cfg, "--store", str(store.root), "--quiet"]

    missing = cfg.replace("config.yaml", "missing.yaml")
    with open(cfg) as src, open(missing, "w") as dst:
        dst.write(src.read().replace(topics["events"], "no-such-topic"))
    # These read the store and the topic, and fail before TensorFlow loads.
    probe = run_cli([*base, "--from", "2026-11-08T00:00Z", "--to", "2026-11-01T00:00Z"],
                    [*base, "--from", "2026-11-01T00:00Z", "--to", "2026-11-08T00:00Z"],
                    ["retrain", "--config", missing, "--store", str(store.root), "--last", "7d"],
                    env=ENV)
    assert not probe["tensorflow"]
    backwards, empty, no_topic = (_error_line(rc, err) for rc, err in probe["results"])
    assert "--from 2026-11-08T00:00:00.000Z is not before --to 2026-11-01T00:00:00.000Z" in (
        backwards)
    assert f"topic {topics['events']!r}: no events between" in empty
    assert "topic 'no-such-topic': does not exist" in no_topic
    assert snapshot(store.root) == before

    not_a_store = tmp_path / "junk"
    not_a_store.mkdir()
    (not_a_store / "notes.txt").write_text("hello")
    line = one_error_line(cli("retrain", "--config", cfg, "--store", str(not_a_store), "--last", "1d"))
    assert "not a model store" in line and str(not_a_store) in line
    line = one_error_line(cli("models", "list", "--store", str(not_a_store)))
    assert "not a model store" in line
    assert [p.name for p in not_a_store.iterdir()] == ["notes.txt"]


def test_gate_rejects_a_candidate_trained_on_incidents(store, tmp_path, config_file):
    """With the threshold rule off and no alerts to read, half the file is incidents and
    only the newest two are labelled (labelled rows never enter the baseline): the
    candidate learns the others as normal, so it no longer flags the labelled ones.

    And retrain sizes TensorFlow's pools as serve does: left alone, TensorFlow sized them
    from the host's cores (64 on a 64-core node for a retraining Job allowed 2 CPUs, which
    the CFS quota then throttled). The CPUs the chart passes (ANOMALY_GAN_CPUS, the
    request) size them instead, every whole CPU to training since no scoring loop runs."""
    from anomaly_gan.inference import CPUS_ENV

    x = rows(1600, seed=7)
    blocks = [(s, s + 120) for s in range(100, 1500, 240)]
    for a, b in blocks:
        x[a:b, 1] += 2500.0
    data = write_csvs(tmp_path, [x], prefix="incidents")
    labels = tmp_path / "labels.csv"
    labelled = blocks[-2:]
    labels.write_text("entity,start,end\n" + "".join(
        f"incidents-1,{a},{b - 1}\n" for a, b in labelled))
    cfg = config_file(retrain={"exclude_over_threshold": False})
    before_current = store.current()
    out = cli("retrain", "--config", cfg, "--store", str(store.root), "--data", *data,
              "--labels", str(labels), "--quiet", **{CPUS_ENV: "1"})
    assert out.returncode == 4, out.stderr
    said = [line for line in out.stderr.splitlines() if line.startswith("[threads]")]
    assert said == [("[threads] TensorFlow pools: intra_op 1, inter_op 1 (CPU limit 1: the "
                     "cgroup quota, ANOMALY_GAN_CPUS or the CPUs this process may use)")], \
        out.stderr
    report = json.loads(out.stdout)
    # what serves now and where to look: the line said only 'rejected by the gate'
    assert out.stderr.splitlines()[-1] == (
        f"[promote] {report['version']} kept but NOT promoted: rejected by the gate (the "
        f"[gate] line says why; `anomaly-gan models show --store {store.root} "
        f"{report['version']}` has the report); current stays {before_current}")
    gate = report["gate"]
    assert not gate["passed"] and not report["promoted"]
    assert any("labelled incident incidents-1" in r for r in gate["reasons"]), gate["reasons"]
    assert len(gate["labelled_incidents"]) == len(labelled)
    assert report["lineage"]["selection"]["rows_excluded"]["labelled"] == 120 * len(labelled)
    # Kept with its reasons, never current, and refused by `models promote`.
    assert store.current() == before_current
    version = report["version"]
    listing = cli("models", "list", "--store", str(store.root), "--json")
    row = next(r for r in json.loads(listing.stdout) if r["version"] == version)
    assert row["gate"] == "rejected" and row["mark"] is None
    refused = cli("models", "promote", version, "--store", str(store.root))
    assert "rejected by the validation gate" in one_error_line(refused)
    shown = json.loads(cli("models", "show", version, "--store", str(store.root)).stdout)
    assert shown["gate"]["reasons"] == gate["reasons"]
    assert shown["lineage"]["parent"] == before_current


def test_gate_rejects_a_candidate_calibrated_on_an_incident_nobody_labelled(store, tmp_path,
                                                                             config_file,
                                                                             capsys):
    """An rpm excursion inside the rows that set the candidate's threshold, with no label,
    no alert (--data reads none) and the threshold rule off (as after a shift): the
    candidate's threshold lands far above any plain fault (10.4 where the clean one's is
    1.9), it flags no held-out normal window, and until 2026-12-05 it passed and was
    promoted, blind to the next such fault. Now it is rejected: of held-out windows with
    one feature moved by 4 standard deviations it flags under half what the current
    version flags. (In-process: what is checked is the gate's verdict, exit 4 and the
    report, not the process; the test above runs the same path as a real process.)"""
    from anomaly_gan.cli import main

    x = rows(2000, seed=2)
    x[1350:1400, 1] += 2500.0  # in the training piece's own held-out (calibration) rows
    data = write_csvs(tmp_path, [x], prefix="pump")
    cfg = config_file(retrain={"exclude_over_threshold": False})
    before_current = store.current()
    capsys.readouterr()
    code = main(["retrain", "--config", cfg, "--store", str(store.root), "--data", *data,
                 "--quiet"])
    out, err = capsys.readouterr()
    assert code == 4, err
    report = json.loads(out)
    gate = report["gate"]
    assert gate["false_alarm_rate"] <= gate["max_false_alarm_rate"]  # alone it passed
    injected = gate["injected"]
    assert injected["offset_sd"] == 4.0 and injected["windows"] > 0
    assert injected["flagged_share"] < 0.5 * injected["current_flagged_share"]
    assert gate["reasons"] == [r for r in gate["reasons"]
                               if "held-out windows with one feature moved by 4" in r]
    assert len(gate["reasons"]) == 1
    assert store.current() == before_current
    assert main(["models", "show", report["version"], "--store", str(store.root)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["gate"]["injected"] == injected


def test_a_killed_retrain_leaves_the_store_as_it_was(store, tmp_path, config_file):
    """And while it trains, a second retrain of the store is refused at once (it trained
    too and failed at its promote); the run lock the killed one leaves is taken over by the
    next retrain, its process being gone."""
    from anomaly_gan.store import RUN_LOCK, _host

    data = write_csvs(tmp_path, [rows(3000, seed=1)])
    # Nothing excluded: the tiny current version flags enough of these rows that the pieces
    # left would hold no held-out window, which retrain refuses before training.
    cfg = config_file(training={"epochs": 500, "patience": 500, "batch_size": 16, "verbose": 1},
                      retrain={"exclude_over_threshold": False})
    before = snapshot(store.root)
    proc = subprocess.Popen([sys.executable, "-m", "anomaly_gan", "retrain", "--config", cfg,
                             "--store", str(store.root), "--data", *data],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    try:
        assert proc.stderr is not None
        for raw in proc.stderr:  # wait until it is training
            if b"[train]" in raw:
                break
        else:
            pytest.fail("retrain ended before training")
        second = cli("retrain", "--config", cfg, "--store", str(store.root), "--data", *data)
        assert proc.poll() is None  # still training
        assert (f"{store.root}: another retrain is running on this store: "
                f"{proc.pid}@{_host()} since ") in one_error_line(second)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    left = snapshot(store.root)
    assert left.pop(RUN_LOCK) and left == before
    assert (store.root / RUN_LOCK).read_text().startswith(f"{proc.pid}@{_host()} ")
    with ModelStore.open(store.root).run_lock():  # what the next retrain takes
        pass
    assert snapshot(store.root) == before


def test_sigterm_stops_a_retrain_like_ctrl_c(store, tmp_path, config_file):
    """SIGTERM (a Job deleted, a node drained) ended the process at once with no word: exit
    -15, and a hidden half-written bundle left in the store when it came during the save."""
    data = write_csvs(tmp_path, [rows(3000, seed=1)])
    cfg = config_file(training={"epochs": 500, "patience": 500, "batch_size": 16},
                      retrain={"exclude_over_threshold": False})  # as above
    before = snapshot(store.root)
    proc = subprocess.Popen([sys.executable, "-m", "anomaly_gan", "retrain", "--config", cfg,
                             "--store", str(store.root), "--data", *data],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # wait until it is training
            if line.startswith("[train]"):
                break
        else:
            pytest.fail("retrain ended before training")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.splitlines()[-1] == "anomaly-gan: interrupted" and "Traceback" not in err
    assert out == ""
    assert snapshot(store.root) == before


RACE = """
import sys
from anomaly_gan.store import ModelStore
store = ModelStore.open(sys.argv[1])
for i in range(int(sys.argv[2])):
    store.promote(sys.argv[3 + i % (len(sys.argv) - 3)], verify=False)
"""


def test_concurrent_promotes_do_not_corrupt_the_store(tmp_path):
    """Four processes promote as fast as they can at once; every promotion is recorded, the
    pointer and the history always parse, and `current` is the last promotion logged."""
    from tests.support.store import fake_version

    store = ModelStore.open(tmp_path / "store", create=True)
    names = [fake_version(store.root, f"v{i}", f"2026-11-0{i}T00:00:00+00:00")
             for i in range(1, 5)]
    rounds = 40
    procs = [subprocess.Popen([sys.executable, "-c", RACE, str(store.root), str(rounds),
                               *names[k:], *names[:k]], env=ENV, stderr=subprocess.PIPE)
             for k in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    log = store.history()
    assert len(log) == 4 * rounds
    assert store.current() == log[-1]["version"]
    # Each entry saw the one before it: no two promoters read the same "previous".
    assert [e["previous"] for e in log[1:]] == [e["version"] for e in log[:-1]]
    assert [p.name for p in store.root.iterdir() if p.name.startswith(".")] == [".lock"]
    assert cli("models", "list", "--store", str(store.root)).returncode == 0


def test_a_candidate_saved_but_not_promoted_on_a_full_disk_is_said_kept(store, tmp_path,
                                                                       config_file,
                                                                       monkeypatch, capsys):
    """A volume with room for the candidate but not for history.json (or `current`) failed
    the retrain at its promote with exit 2 and '<store>/history.json: cannot write: No
    space left on device; VERSION not made current (the store is unchanged)': the store
    then held the candidate, which passed the gate, and nothing said so or how to promote
    it (found by filling a 1 MiB tmpfs: 340 KiB free). The line says it is kept and names
    the `models promote` that promotes it; that command then does."""
    from anomaly_gan.cli import main
    from tests.support.store import full_disk_for_history

    data = write_csvs(tmp_path, [rows(1200, seed=1)])
    cfg = config_file(retrain={"exclude_over_threshold": False})
    before_current = store.current()
    before = {v.name for v in store.versions()}
    room_again = full_disk_for_history(monkeypatch)
    capsys.readouterr()
    code = main(["retrain", "--config", cfg, "--store", str(store.root), "--data", *data,
                 "--quiet"])
    out, err = capsys.readouterr()
    room_again()
    (kept,) = {v.name for v in store.versions()} - before
    assert code == 2 and out == "", err
    line = _error_line(code, err)
    assert line == (f"anomaly-gan: error: {store.root / 'history.json'}: cannot write: No "
                    f"space left on device; {kept} not made current; it passed the gate and "
                    f"is kept in the store (current stays {before_current}): `anomaly-gan "
                    f"models promote --store {store.root} {kept}` promotes it")
    assert store.current() == before_current
    assert main(["models", "promote", "--store", str(store.root), kept]) == 0
    assert store.current() == kept
