"""anomaly_gan.retrain.run: the request and the store checked before any data is read or
TensorFlow loads (the command line's side: tests/test_cli_messages.py), and a whole retrain
in process with the topic read replaced."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from anomaly_gan.errors import DataError
from anomaly_gan.retrain.run import RetrainRequest, check_request
from tests.retrain.plant import TINY
from tests.support.files import deny_new_entries

TINY_TRAINING = TINY["training"]


def test_unreadable_inputs_are_named(tmp_path: Path) -> None:
    data = tmp_path / "a.csv"
    data.write_text("x\n1\n")
    check_request(RetrainRequest(store="s", files=(str(data),)))  # fine
    with pytest.raises(DataError, match=rf"^{tmp_path / 'b.csv'}: file not found$"):
        check_request(RetrainRequest(store="s", files=(str(data), str(tmp_path / "b.csv"))))
    with pytest.raises(DataError, match=rf"^{tmp_path}: cannot read: is a directory$"):
        check_request(RetrainRequest(store="s", files=(str(tmp_path),)))
    with pytest.raises(DataError, match=r"labels\.csv: file not found$"):
        check_request(RetrainRequest(store="s", files=(str(data),),
                                     labels=str(tmp_path / "labels.csv")))
    with pytest.raises(DataError, match=r"labels\.csv: file not found$"):
        check_request(RetrainRequest(store="s", start=0.0, end=1.0,
                                     labels=str(tmp_path / "labels.csv")))


def _fake_topic(monkeypatch, n: int, seed: int):
    """Replace the topic read: every plant entity with ``n`` rows (``rows(n, seed + i)``)
    and no alerts; returns the rows' times."""
    import numpy as np

    from anomaly_gan.retrain import run
    from anomaly_gan.retrain.source import Rows, Segment
    from tests.retrain.plant import ENTITIES, START_TS, STEP_S, rows

    ts = START_TS + STEP_S * np.arange(n)
    segments = [Segment(e, ts, rows(n, seed=seed + i)) for i, e in enumerate(ENTITIES)]
    monkeypatch.setattr(run, "read_event_range", lambda *_a, **_k: Rows(
        segments, {"kind": "kafka"}, events_read=n * len(ENTITIES), seconds=0.1))
    monkeypatch.setattr(run, "read_alerts", lambda *_a, **_k: [])
    return ts


# ---------------------------------------------------------------- before the read and training
# A retrain can run for hours; what would make it fail at the end is found at the start, and a
# failed retrain leaves the store as it was.


@pytest.fixture
def no_training(monkeypatch):
    """Training fails the test: the retrain should have stopped before it."""

    def trained(*_a, **_k):
        raise AssertionError("retrain trained a candidate before finding the problem")

    monkeypatch.setattr("anomaly_gan.train.train_detector", trained)


def _tiny_config(config_file, **sections):
    from anomaly_gan.config import load_config

    return load_config(config_file(**sections))


def test_a_damaged_history_fails_before_training_and_adds_no_version(store, tmp_path,
                                                                      config_file, no_training):
    """It was found when promoting, after training, and the candidate stayed in the store
    while the command exited 2."""
    from anomaly_gan.errors import StoreError
    from anomaly_gan.retrain.run import retrain
    from tests.retrain.conftest import snapshot, write_csvs
    from tests.retrain.plant import rows

    data = write_csvs(tmp_path, [rows(400, seed=1)])
    (store.root / "history.json").write_text("{")
    before = snapshot(store.root)
    with pytest.raises(StoreError, match=r"history\.json: promotion history is not valid JSON"):
        retrain(_tiny_config(config_file), RetrainRequest(store=str(store.root),
                                                          files=tuple(data)))
    assert snapshot(store.root) == before


def test_a_damaged_history_fails_before_training_with_no_promote_and_keep_versions(
        store, tmp_path, config_file, no_training):
    """A --no-promote retrain does not promote, but with retrain.keep_versions it prunes at
    its end, which reads history.json: a damaged one was found there, after training, as a
    `[prune] warning:` with the candidate saved and exit 0."""
    from anomaly_gan.config import load_config
    from anomaly_gan.errors import StoreError
    from anomaly_gan.retrain.run import retrain
    from tests.retrain.conftest import snapshot, write_csvs
    from tests.retrain.plant import rows

    data = write_csvs(tmp_path, [rows(400, seed=1)])
    (store.root / "history.json").write_text("{")
    before = snapshot(store.root)
    cfg = load_config(config_file(retrain={"keep_versions": 2}))
    with pytest.raises(StoreError, match=r"history\.json: promotion history is not valid JSON"):
        retrain(cfg, RetrainRequest(store=str(store.root), files=tuple(data), promote=False))
    assert snapshot(store.root) == before


def test_an_unwritable_store_fails_before_training(store, tmp_path, config_file, no_training,
                                                   monkeypatch):
    """It was found when saving the candidate, after training."""
    from anomaly_gan.errors import StoreError
    from anomaly_gan.retrain.run import retrain
    from tests.retrain.conftest import snapshot, write_csvs
    from tests.retrain.plant import rows

    data = write_csvs(tmp_path, [rows(400, seed=1)])
    deny_new_entries(monkeypatch, store.root)  # root may write anywhere
    before = snapshot(store.root)
    with pytest.raises(StoreError, match=rf"^{store.root}: cannot create a new version in "
                                         rf"{store.root}: permission denied$"):
        retrain(_tiny_config(config_file), RetrainRequest(store=str(store.root),
                                                          files=tuple(data)))
    assert snapshot(store.root) == before


def test_too_little_data_is_one_line_before_tensorflow(tmp_path):
    """It was found after TensorFlow loaded and the current version scored the rows, as 'after
    exclusions no piece ... is left' when nothing had been excluded."""
    from tests.retrain.conftest import ENV, write_csvs
    from tests.retrain.plant import TINY, rows
    from tests.support.cli import run_cli

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    data = write_csvs(tmp_path, [rows(20, seed=1)], prefix="short")
    store = tmp_path / "store"
    probe = run_cli(["retrain", "--config", str(cfg), "--store", str(store), "--data", *data],
                    env=ENV)
    assert not probe["tensorflow"]
    [(rc, err)] = probe["results"]
    assert rc == 2 and "Traceback" not in err
    assert err.splitlines()[-1] == (
        f"anomaly-gan: error: {data[0]}: 20 rows in 1 segment(s), the longest 20 rows; expected "
        f"a segment of at least 34 rows, or two of at least 32 (windows of data.window 16 to "
        f"train on, and two held out to judge the model and set its threshold)")
    assert not store.exists()


def test_retrain_says_no_fill_for_a_column_it_refuses(tmp_path, config_file, monkeypatch,
                                                      capsys, no_training):
    """As train (tests/test_cli_messages.py): under data.nan_policy ffill a column with no
    value in any row is refused, and a note that ffill had filled it (the model learns the
    cells as readings) came first; the fill of an earlier file, then refused with the
    retrain, was noted too. Now every file is filled before a fill note, as train does."""
    from anomaly_gan.cli import main

    (tmp_path / "a.csv").write_text("cpu,gone\n" + "1,5\n2,\n" * 40)  # gaps ffill fills
    (tmp_path / "b.csv").write_text("cpu,gone\n" + "1,\n2,\n" * 40)
    monkeypatch.setenv("ANOMALY_GAN__DATA__NAN_POLICY", "ffill")
    store = tmp_path / "store"
    for data in (["b.csv"], ["a.csv", "b.csv"]):
        assert main(["retrain", "--config", config_file(), "--store", str(store),
                     "--data", *(str(tmp_path / name) for name in data)]) == 2
        lines = capsys.readouterr().err.splitlines()
        assert lines[-1] == (f"anomaly-gan: error: {tmp_path / 'b.csv'}: column 'gone': no "
                             f"finite value in any row; expected the column to hold data")
        assert not [line for line in lines if "nan_policy" in line], lines
        assert not store.exists()


def test_retrain_notes_a_counter_too_large_for_its_increases(tmp_path, config_file,
                                                              monkeypatch, capsys):
    """As train: a counter of data.counters past 2**53 (a ns or byte total near 1e18) is
    read as a float64, whose steps there are 128: increases of 5 to 7 per row all read 0,
    silently. The retrain goes on (serve reads it so too) with train's note, before
    TensorFlow loads."""
    from anomaly_gan.cli import main
    from anomaly_gan.retrain import run

    def stop() -> None:
        raise KeyboardInterrupt  # where TensorFlow would load: the read is done

    monkeypatch.setattr(run, "import_tensorflow_quietly", stop)
    rows = "".join(f"{i},{10**18 + 5 * i + i % 3}\n" for i in range(80))
    (tmp_path / "a.csv").write_text("cpu,bytes_total\n" + rows)
    (tmp_path / "b.csv").write_text("cpu,bytes_total\n" + "1,5\n2,9\n" * 40)
    config = config_file(data={**TINY["data"], "counters": ["bytes_total"]})
    assert main(["retrain", "--config", config, "--store", str(tmp_path / "store"),
                 "--data", str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]) == 130
    notes = [line for line in capsys.readouterr().err.splitlines() if "2**53" in line]
    assert notes == [(f"note: {tmp_path / 'a.csv'}: column 'bytes_total' of data.counters "
                      f"is past 2**53 from line 2 (up to 1e+18), where a float64 holds only "
                      f"multiples of 128: its increases are read to that step (smaller ones "
                      f"as 0), here and in serve")]


def test_a_range_retrain_notes_a_counter_too_large_for_its_increases(tiny_detector, tmp_path,
                                                                     config_file, monkeypatch):
    """As a --data retrain: a counter of data.counters past 2**53 in a topic range is read
    as a float64, whose steps there are 128. The range's retrain said nothing; it names the
    topic, the first entity past 2**53 (and how many more), the field and that event's
    time, once per field, before TensorFlow loads."""
    import copy
    import dataclasses

    from anomaly_gan.artifacts import save_bundle
    from anomaly_gan.retrain import run
    from anomaly_gan.store import ModelStore
    from anomaly_gan.stream.alerts import iso_utc
    from tests.retrain.plant import STEP_S

    def stop() -> None:
        raise KeyboardInterrupt  # where TensorFlow would load: the read is done

    det = copy.copy(tiny_detector)  # a version reading flow's increases
    det.config = det.config.replace(data=dataclasses.replace(det.config.data,
                                                             counters=("flow",)))
    save_bundle(det, tmp_path / "store" / "v1")
    store = ModelStore.open(tmp_path / "store")
    store.promote("v1", verify=False)
    ts = _fake_topic(monkeypatch, 80, seed=52)
    segments = run.read_event_range().segments
    for s, first in zip(segments, [None, 0, 40], strict=True):
        if first is not None:  # pump-2 past 2**53 from its first row, pump-3 from its 41st
            s.values[first:, 2] = 1e18 + 5.0 * np.arange(len(s) - first)
    monkeypatch.setattr(run, "import_tensorflow_quietly", stop)
    cfg = _tiny_config(config_file, data={**TINY["data"], "counters": ["flow"]})
    said: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run.retrain(cfg, RetrainRequest(store=str(store.root), start=float(ts[0]),
                                        end=float(ts[-1]) + STEP_S), progress=said.append)
    notes = [line for line in said if "2**53" in line]
    assert notes == [(f"note: topic 'anomaly-gan.events', entity 'pump-2' (and 1 more "
                      f"entity): field 'flow' of data.counters is past 2**53 from its event at "
                      f"{iso_utc(float(ts[0]))} (up to 1e+18), where a float64 holds only "
                      f"multiples of 128: its increases are read to that step (smaller ones "
                      f"as 0), here and in serve")]


@pytest.mark.parametrize("lengths", [[10], [20, 20], [31, 31]])
def test_the_rows_that_too_little_data_asks_for_are_enough(lengths):
    """20 rows at window 16 asked for 'a segment of at least 32 rows'; a file of 32 rows was
    then refused too, asking for 34. What the first line asks for now passes the check."""
    from anomaly_gan.retrain.run import _check_enough_rows
    from anomaly_gan.retrain.source import Rows, Segment

    def rows(*sizes):
        return Rows([Segment("e", np.arange(n, dtype=float), np.zeros((n, 2))) for n in sizes],
                    {"kind": "files"}, events_read=sum(sizes))

    with pytest.raises(DataError, match=rf"^d.csv: {sum(lengths)} rows in {len(lengths)} "
                                        r"segment\(s\), .*; expected a segment of at least 34 "
                                        r"rows, or two of at least 32 \("):
        _check_enough_rows(rows(*lengths), 16, 0.2, "d.csv")
    with pytest.raises(DataError, match=r"^d.csv: 32 rows is fewer than the 34 needed"):
        _check_enough_rows(rows(32), 16, 0.2, "d.csv")
    _check_enough_rows(rows(34), 16, 0.2, "d.csv")
    _check_enough_rows(rows(32, 32), 16, 0.2, "d.csv")


def test_a_store_path_that_cannot_become_a_store_fails_before_training(tmp_path, config_file,
                                                                        no_training):
    from anomaly_gan.errors import StoreError
    from anomaly_gan.retrain.run import retrain
    from tests.retrain.conftest import write_csvs
    from tests.retrain.plant import rows

    data = write_csvs(tmp_path, [rows(400, seed=1)])
    (tmp_path / "file").write_text("x")
    (tmp_path / "gone").symlink_to(tmp_path / "missing")
    for root, why in ((tmp_path / "file" / "store", f": {tmp_path / 'file'} is not a directory"),
                      (tmp_path / "gone" / "store", f": {tmp_path / 'gone'} is a broken link")):
        with pytest.raises(StoreError, match=rf"^{root}: cannot create a new version{why}$"):
            retrain(_tiny_config(config_file), RetrainRequest(store=str(root), files=tuple(data)))


def test_a_label_naming_no_entity_of_the_data_is_one_line_before_tensorflow(tmp_path):
    """It was found by the gate after training ('no events in the range to check it on'),
    and the rejected candidate stayed in the store; the name is almost always a typo."""
    from tests.retrain.conftest import ENV, write_csvs
    from tests.retrain.plant import TINY, rows
    from tests.support.cli import run_cli

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    data = write_csvs(tmp_path, [rows(100, seed=1), rows(100, seed=2)])
    labels = tmp_path / "labels.csv"
    labels.write_text("entity,start,end\nnormal-1,10,20\n\nnormal_2,30,40\nnormal3,50,60\n")
    store = tmp_path / "store"
    probe = run_cli(["retrain", "--config", str(cfg), "--store", str(store), "--data", *data,
                     "--labels", str(labels)], env=ENV)
    assert not probe["tensorflow"]
    [(rc, err)] = probe["results"]
    assert rc == 2 and "Traceback" not in err
    assert err.splitlines()[-1] == (
        f"anomaly-gan: error: {labels}: line 4: entity 'normal_2' has no rows in {data[0]}, "
        f"{data[1]}; expected one of its entities: normal-1, normal-2 (with --data, a file's "
        f"entity is its name without the extension); 1 more label(s) name an entity with no "
        f"rows")
    assert not store.exists()
    # An incident outside its entity's rows (files without timestamps: rows 0-99) could only
    # be found by the gate, after training.
    labels.write_text("entity,start,end\nnormal-1,10,20\nnormal-2,500,600\n")
    probe = run_cli(["retrain", "--config", str(cfg), "--store", str(store), "--data", *data,
                     "--labels", str(labels)], env=ENV)
    assert not probe["tensorflow"]
    [(rc, err)] = probe["results"]
    assert rc == 2 and err.splitlines()[-1].startswith(
        f"anomaly-gan: error: {labels}: line 3: the incident of 'normal-2' from "
        f"1970-01-01T00:08:20.000Z to 1970-01-01T00:10:00.000Z lies outside its rows in ")
    assert not store.exists()
    # One in a file's first window - 1 rows holds no window's end: the gate said "no events
    # in the range to check it on", after training.
    window = TINY["data"]["window"]
    labels.write_text(f"entity,start,end\nnormal-1,1,{window - 2}\n")
    probe = run_cli(["retrain", "--config", str(cfg), "--store", str(store), "--data", *data,
                     "--labels", str(labels)], env=ENV)
    assert not probe["tensorflow"]
    [(rc, err)] = probe["results"]
    assert rc == 2 and f"line 2: no window of data.window {window} rows ends inside the " \
                       f"incident of 'normal-1'" in err.splitlines()[-1]
    assert not store.exists()


def test_a_label_in_the_range_naming_no_entity_is_refused_and_one_outside_is_skipped(
        tmp_path, config_file, monkeypatch, no_training):
    """Incidents outside a topic range are skipped and counted whatever their entity (the
    labels file outlives the entities); one inside names an entity the range must have."""

    from anomaly_gan.retrain import run
    from anomaly_gan.store import ModelStore
    from tests.retrain.conftest import add_version, snapshot
    from tests.retrain.plant import STEP_S
    from tests.support.detectors import untrained_detector

    store = ModelStore.open(tmp_path / "store", create=True)
    store.promote(add_version(store, untrained_detector()), verify=False)  # names the features
    ts = _fake_topic(monkeypatch, 100, seed=0)
    labels = tmp_path / "labels.csv"
    labels.write_text(f"entity,start,end\nretired-pump,0,100\npump-1,{ts[10]},{ts[20]}\n"
                      f"pmup-2,{ts[30]},{ts[40]}\n")
    before = snapshot(store.root)
    with pytest.raises(DataError, match=(
            rf"^{labels}: line 4: entity 'pmup-2' has no rows in topic 'anomaly-gan\.events' "
            r"between \S+ and \S+; expected one of its entities: pump-1, pump-2, pump-3$")):
        run.retrain(_tiny_config(config_file), RetrainRequest(
            store=str(store.root), start=float(ts[0]), end=float(ts[-1]) + STEP_S,
            labels=str(labels)))
    assert snapshot(store.root) == before


def test_events_that_are_all_invalid_are_named_by_reason():
    from anomaly_gan.retrain.run import _check_enough_rows
    from anomaly_gan.retrain.source import Rows

    rows = Rows([], {}, events_read=5, invalid={"bad_json": 3, "non_finite": 2})
    with pytest.raises(DataError, match=r"^topic 't': all 5 events are invalid \(3 bad_json, "
                                        r"2 non_finite\); nothing to train on$"):
        _check_enough_rows(rows, 16, 0.2, "topic 't'")


def test_a_single_piece_too_short_for_two_held_out_windows_fails_before_training():
    """A 33-row segment at window 16 holds a training window and one held out: it used to
    pass this check and fail after TensorFlow had loaded."""
    import numpy as np

    from anomaly_gan.retrain.run import _check_enough_rows
    from anomaly_gan.retrain.source import Rows, Segment

    seg = Segment("pump-1", np.arange(33.0), np.zeros((33, 2)))
    with pytest.raises(DataError, match=r"^topic 't': 33 rows is fewer than the 34 needed"):
        _check_enough_rows(Rows([seg], {}, events_read=33), 16, 0.2, "topic 't'")
    _check_enough_rows(Rows([Segment("pump-1", np.arange(34.0), np.zeros((34, 2)))], {},
                            events_read=34), 16, 0.2, "topic 't'")


# ---------------------------------------------------------------- a whole retrain, in process


def test_labels_in_the_range_that_hold_no_window_of_its_rows_are_not_checked(
        store, tiny_detector, tmp_path, config_file, monkeypatch):
    """A labels file outlives its ranges (the CronJob's --last 7d): an incident the range's
    start cuts 30 s in (3 rows, no window's last), or one while its pump sent nothing (a
    pump down), has nothing to check a candidate on, and rejected every candidate of the
    range ('no events in the range to check it on', exit 4) for as long as it stayed in it.
    Its rows, if any, are left out of training all the same."""
    from anomaly_gan.retrain import run
    from anomaly_gan.retrain.source import Rows, Segment
    from tests.retrain.plant import ENTITIES, START_TS, STEP_S, rows

    _trained_is_the_tiny_detector(monkeypatch, tiny_detector)
    ts = START_TS + STEP_S * np.arange(600)
    segments = [Segment(e, ts, rows(600, seed=40 + i)) for i, e in enumerate(ENTITIES)]
    pump1 = segments[0]
    segments[0:1] = [Segment("pump-1", pump1.ts[:300], pump1.values[:300]),
                     Segment("pump-1", pump1.ts[320:], pump1.values[320:])]  # 200 s silent
    monkeypatch.setattr(run, "read_event_range", lambda *_a, **_k: Rows(
        segments, {"kind": "kafka"}, events_read=1780, seconds=0.1))
    monkeypatch.setattr(run, "read_alerts", lambda *_a, **_k: [])
    labels = tmp_path / "labels.csv"
    labels.write_text(f"entity,start,end\n"
                      f"pump-2,{ts[0] - 3600:.0f},{ts[0] + 30:.0f}\n"
                      f"pump-1,{ts[302]:.0f},{ts[317]:.0f}\n"
                      f"pump-3,{ts[400]:.0f},{ts[420]:.0f}\n")  # checked
    cfg = _tiny_config(config_file, retrain={"exclude_over_threshold": False})
    said: list[str] = []
    result = run.retrain(cfg, RetrainRequest(store=str(store.root), start=float(ts[0]),
                                             end=float(ts[-1]) + STEP_S, labels=str(labels),
                                             promote=False), progress=said.append)
    gate = result.report["gate"]
    assert [(i["entity"], i["windows"]) for i in gate["labelled_incidents"]] == [("pump-3", 21)]
    assert not any("pump-1" in r or "pump-2" in r for r in gate["reasons"]), gate["reasons"]
    assert gate["labelled_incidents_outside_range"] == 0
    assert gate["labelled_incidents_without_windows"] == 2
    assert ("[read] 2 of 3 labelled incident(s) hold no window's last row in the rows read "
            "(cut by the range's edge, or their entity sent nothing then): not checked") in said
    assert result.report["lineage"]["selection"]["rows_excluded"]["labelled"] == 4 + 21


def test_labels_outside_the_range_are_not_checked_and_a_rollback_meanwhile_wins(
        store, tiny_detector, tmp_path, config_file, monkeypatch):
    """A labels file outlives the ranges it is used with (the CronJob's --last 7d): an incident
    from before the range made every retrain fail the gate with 'no events in the range to
    check it on'. And a retrain promotes only over the version it started from: a rollback
    or promote by an operator while it trained wins (the candidate is kept, not promoted)."""

    from anomaly_gan.errors import StoreError
    from anomaly_gan.retrain import run
    from tests.retrain.conftest import add_version
    from tests.retrain.plant import STEP_S

    ts = _fake_topic(monkeypatch, 600, seed=30)
    labels = tmp_path / "labels.csv"
    labels.write_text("entity,start,end\npump-1,2026-10-01T00:00Z,2026-10-01T01:00Z\n")
    cfg = _tiny_config(config_file, retrain={"exclude_over_threshold": False},
                       training={**TINY_TRAINING, "epochs": 3})
    request = RetrainRequest(store=str(store.root), start=float(ts[0]),
                             end=float(ts[-1]) + STEP_S, labels=str(labels))
    started_from = store.current()
    said: list[str] = []
    result = run.retrain(cfg, request, progress=said.append)
    gate = result.report["gate"]
    assert gate["labelled_incidents"] == [] and gate["labelled_incidents_outside_range"] == 1
    assert not any("labelled incident" in r for r in gate["reasons"]), gate["reasons"]
    assert "[read] 1 of 1 labelled incident(s) lie outside the range: not checked" in said
    assert result.promoted, gate["reasons"]
    assert said[-1] == f"[promote] {result.version} is current (was {started_from})"

    meanwhile = add_version(store, tiny_detector)
    before = {v.name for v in store.versions()}

    def progress(msg: str) -> None:
        if msg.startswith("[train]"):
            store.promote(meanwhile, verify=False)  # e.g. `models promote` by an operator

    with pytest.raises(StoreError, match=f"current changed from {result.version} to "
                                         f"{meanwhile} while it was made"):
        run.retrain(cfg, request, progress=progress)
    assert store.current() == meanwhile
    assert len({v.name for v in store.versions()} - before) == 1  # kept for a manual promote


def test_a_signal_while_the_version_is_saved_and_promoted_waits_for_both(
        store, tmp_path, config_file, monkeypatch):
    """A signal between `store.add` and the promote gave exit 130 with the version kept (or
    with `current` moved): the CLI runs that part in Interrupts.deferred, so a first signal
    lets both finish, and the retrain reports what it did."""

    from anomaly_gan.retrain import run
    from anomaly_gan.runtime import Interrupts
    from anomaly_gan.store import ModelStore
    from tests.retrain.plant import STEP_S

    ts = _fake_topic(monkeypatch, 600, seed=40)
    stop = Interrupts()
    real_add = ModelStore.add

    def add_then_signal(self, det):
        name = real_add(self, det)
        stop._handle(2, None)  # SIGINT right after the save, before the promote
        return name

    monkeypatch.setattr(ModelStore, "add", add_then_signal)
    cfg = _tiny_config(config_file, retrain={"exclude_over_threshold": False},
                       training={**TINY_TRAINING, "epochs": 3})
    request = RetrainRequest(store=str(store.root), start=float(ts[0]),
                             end=float(ts[-1]) + STEP_S)
    result = run.retrain(cfg, request, finishing=stop.deferred)
    assert stop.requested and result.promoted and store.current() == result.version


def test_the_parent_is_the_store_name_of_a_version_trained_into_a_named_directory(
        tiny_detector, tmp_path, config_file, monkeypatch):
    """docs/deployment.md fills a store with `train --out store/<version>` and `models promote`:
    the directory's name (v1) is not the version written inside the bundle. The lineage
    recorded the bundle's, so `models list` showed a PARENT that no version of the store has."""
    from anomaly_gan.artifacts import save_bundle
    from anomaly_gan.retrain import run
    from anomaly_gan.store import ModelStore
    from tests.retrain.plant import STEP_S

    save_bundle(tiny_detector, tmp_path / "store" / "v1")
    store = ModelStore.open(tmp_path / "store")
    store.promote("v1", verify=False)
    assert tiny_detector.version != "v1"
    ts = _fake_topic(monkeypatch, 600, seed=50)
    cfg = _tiny_config(config_file, retrain={"exclude_over_threshold": False},
                       training={**TINY_TRAINING, "epochs": 3})
    said: list[str] = []
    result = run.retrain(cfg, RetrainRequest(store=str(store.root), start=float(ts[0]),
                                             end=float(ts[-1]) + STEP_S), progress=said.append)
    assert result.report["lineage"]["parent"] == "v1"
    assert store.info(result.version).parent == "v1"
    assert said[-1] == f"[promote] {result.version} is current (was v1)"


def test_a_retrained_version_holds_no_secret(tiny_detector, tmp_path, config_file,
                                             monkeypatch):
    """retrain runs with the scorer's config, SASL password included (the chart's CronJob
    sets it like the scorer's): nothing it writes into the store, nor its report, holds it."""
    import json

    from anomaly_gan.artifacts import save_bundle
    from anomaly_gan.retrain import run
    from anomaly_gan.store import ModelStore
    from tests.retrain.plant import STEP_S

    save_bundle(tiny_detector, tmp_path / "store" / "v1")
    store = ModelStore.open(tmp_path / "store")
    store.promote("v1", verify=False)
    ts = _fake_topic(monkeypatch, 600, seed=51)
    monkeypatch.setenv("ANOMALY_GAN__SERVE__KAFKA__SASL_PASSWORD", "s3cret-pw")
    cfg = _tiny_config(config_file, retrain={"exclude_over_threshold": False},
                       training={**TINY_TRAINING, "epochs": 2})
    assert cfg.serve.kafka.sasl_password == "s3cret-pw"
    result = run.retrain(cfg, RetrainRequest(store=str(store.root), start=float(ts[0]),
                                             end=float(ts[-1]) + STEP_S), progress=print)
    written = [p for p in store.root.rglob("*") if p.is_file()]
    assert any(p.parent.name == result.version for p in written)
    assert not [p for p in written if b"s3cret-pw" in p.read_bytes()]
    assert "s3cret-pw" not in json.dumps(result.report, default=str)


def test_a_range_whose_newest_part_was_alerted_on_is_refused_before_training(
        store, tmp_path, config_file, monkeypatch, no_training):
    """After a lasting change the current version alerts on the new normal; every alert and
    its margin were excluded, nothing was held out, and the gate rejected the candidate
    ("no held-out windows", exit 4) after training it on the old rows alone. The README's
    advice (exclude_over_threshold: false) does not help there: the alerts exclude it."""
    from anomaly_gan.retrain import run
    from anomaly_gan.retrain.source import Alerted
    from tests.retrain.conftest import snapshot
    from tests.retrain.plant import ENTITIES, STEP_S

    ts = _fake_topic(monkeypatch, 600, seed=60)
    # The last third of every entity alerted on (one alert per cooldown of 300 s).
    alerts = [Alerted(e, t - 150.0, t) for e in ENTITIES
              for t in np.arange(ts[400], ts[-1] + STEP_S, 300.0)]
    monkeypatch.setattr(run, "read_alerts", lambda *_a, **_k: alerts)
    cfg = _tiny_config(config_file, retrain={"exclude_over_threshold": False})
    before = snapshot(store.root)
    with pytest.raises(DataError, match=r"^retrain: the newest 0\.2 of the time read \(from "
                                        r".*\) holds no window left after exclusions .*"
                                        r"--data\) with retrain\.exclude_over_threshold: false$"):
        run.retrain(cfg, RetrainRequest(store=str(store.root), start=float(ts[0]),
                                        end=float(ts[-1]) + STEP_S))
    assert snapshot(store.root) == before


def test_a_range_all_alerted_on_names_the_way_out(store, config_file, monkeypatch, no_training):
    """The current version alerted on the whole range (the new normal after a lasting change,
    the case the runbook's "baseline drift: retrain" meets): the line said that nothing was
    left to train on (2100 of 2100 rows alerted, in a run by hand) and no more, where the
    same case with rows left for training only said to retrain on files."""
    from anomaly_gan.retrain import run
    from anomaly_gan.retrain.source import Alerted
    from tests.retrain.conftest import snapshot
    from tests.retrain.plant import ENTITIES, STEP_S

    ts = _fake_topic(monkeypatch, 600, seed=60)
    alerts = [Alerted(e, t - 150.0, t) for e in ENTITIES
              for t in np.arange(ts[0], ts[-1] + 300.0, 300.0)]
    monkeypatch.setattr(run, "read_alerts", lambda *_a, **_k: alerts)
    before = snapshot(store.root)
    with pytest.raises(DataError, match=r"^retrain: after exclusions no piece of at least 32 "
                                        r"rows is left to train on \(0 of 1800 rows kept; 1800 "
                                        r"alerted, .*\); if the baseline changed for good .* "
                                        r"retrain on files of the new normal \(--data\) with "
                                        r"retrain\.exclude_over_threshold: false$"):
        run.retrain(_tiny_config(config_file), RetrainRequest(
            store=str(store.root), start=float(ts[0]), end=float(ts[-1]) + STEP_S))
    assert snapshot(store.root) == before


def test_a_range_all_labelled_names_the_labels(store, config_file, monkeypatch, tmp_path,
                                               no_training):
    """Labelled incidents covering every row of the range: the line gave every reason it
    names as 0 (``0 of 1800 rows kept; 0 alerted, 0 silenced, 0 over the current version's
    threshold, 0 in pieces too short``), the 1800 labelled rows left out of it."""
    from anomaly_gan.retrain import run
    from tests.retrain.conftest import snapshot
    from tests.retrain.plant import ENTITIES, STEP_S

    ts = _fake_topic(monkeypatch, 600, seed=61)
    labels = tmp_path / "labels.csv"
    labels.write_text("entity,start,end\n" + "".join(
        f"{e},{ts[0] - 60},{ts[-1] + 60}\n" for e in ENTITIES))
    before = snapshot(store.root)
    with pytest.raises(DataError, match=(
            r"^retrain: after exclusions no piece of at least 32 rows is left to train on "
            r"\(0 of 1800 rows kept; 0 alerted, 0 silenced, 1800 labelled, .*\); the "
            rf"incidents of {labels} cover them: read a range with normal rows beside the "
            r"incidents$")):
        run.retrain(_tiny_config(config_file), RetrainRequest(
            store=str(store.root), start=float(ts[0]), end=float(ts[-1]) + STEP_S,
            labels=str(labels)))
    assert snapshot(store.root) == before


def test_a_topic_retrain_over_a_store_with_no_promoted_version_says_how_to_promote_one(
        tmp_path, tiny_detector, config_file, no_training):
    """`train --out models/v1` makes v1 a version of the store models/, never promoted; a
    retrain from the topic then said the first version must be trained from a file, which
    the user had just done."""
    from anomaly_gan.retrain.run import retrain
    from anomaly_gan.store import ModelStore
    from tests.retrain.conftest import add_version

    store = ModelStore.open(tmp_path / "models", create=True)
    name = add_version(store, tiny_detector)
    cfg = _tiny_config(config_file)
    with pytest.raises(DataError, match=rf"no current version: it holds {name} but none was "
                                        rf"promoted; `anomaly-gan models promote --store "
                                        rf"{store.root} {name}` makes one current$"):
        retrain(cfg, RetrainRequest(store=str(store.root), start=0.0, end=3600.0))


def test_alerts_are_matched_on_the_events_times_when_records_carry_the_send_time(
        store, config_file, monkeypatch, no_training):
    """A producer that stamps records with the send time while the events are older (a
    backfill, a replayed day) gets a range of record times that the events' own times lie
    outside. The alerts, which carry the events' times, were matched against that range
    alone: none was found, and the incidents were trained on with `0 alerted`."""
    from anomaly_gan.retrain import run
    from anomaly_gan.retrain.source import Alerted
    from tests.retrain.plant import ENTITIES, STEP_S

    ts = _fake_topic(monkeypatch, 600, seed=60)
    alerts = [Alerted(e, t - 150.0, t) for e in ENTITIES
              for t in np.arange(ts[400], ts[-1] + STEP_S, 300.0)]

    def read_alerts(_k, start, end, margin, *_args):  # the topic read's own overlap rule
        return [a for a in alerts if a.end_ts >= start - margin and a.start_ts <= end + margin]

    monkeypatch.setattr(run, "read_alerts", read_alerts)
    cfg = _tiny_config(config_file, retrain={"exclude_over_threshold": False})
    sent = float(ts[-1]) + 30 * 86400.0  # the records were produced a month later
    with pytest.raises(DataError, match=r"holds no window left after exclusions"):
        run.retrain(cfg, RetrainRequest(store=str(store.root), start=sent - 3600.0, end=sent))


def test_a_held_out_part_shorter_than_a_window_is_refused_without_blaming_exclusions(
        store, config_file, monkeypatch, no_training):
    """Nothing excluded, but retrain.gate.holdout_fraction of the range holds fewer rows than
    data.window: the refusal blamed exclusions (all 0) and advised turning them off."""
    from anomaly_gan.retrain import run
    from tests.retrain.plant import STEP_S

    ts = _fake_topic(monkeypatch, 200, seed=70)  # 5% of 200 rows: 10, under a window of 16
    cfg = _tiny_config(config_file, retrain={"exclude_over_threshold": False,
                                             "gate": {"holdout_fraction": 0.05}})
    with pytest.raises(DataError) as err:
        run.retrain(cfg, RetrainRequest(store=str(store.root), start=float(ts[0]),
                                        end=float(ts[-1]) + STEP_S))
    message = str(err.value)
    assert "after exclusions" not in message and "exclude_over_threshold" not in message
    assert "data.window 16" in message and "retrain.gate.holdout_fraction" in message


def test_too_few_rows_names_the_events_and_slots_left_out():
    """With serve.assemble_seconds a range whose slots never complete has no rows: the error
    says so (before, it named invalid and late events only, and read as a range with no
    data)."""
    from anomaly_gan.retrain.run import _check_enough_rows
    from anomaly_gan.retrain.source import Rows

    rows = Rows([], {"kind": "kafka"}, events_read=40, late=2, incomplete=19)
    with pytest.raises(DataError) as info:
        _check_enough_rows(rows, 16, 0.2, "retrain: range")
    assert str(info.value) == (
        "retrain: range: 0 rows in 0 segment(s), the longest 0 rows, 2 late events left out, "
        "19 incomplete slots left out; expected a segment of at least 34 rows, or two of at "
        "least 32 (windows of data.window 16 to train on, and two held out to judge the model "
        "and set its threshold)")


# ---------------------------------------------------------------- one retrain per store at a time


def test_a_second_retrain_of_a_store_is_refused_at_once_naming_the_first(store, tmp_path):
    """Two retrains of one store (a run by hand beside the CronJob's, or from another host)
    both trained, and the second failed at its promote after minutes (exit 2, `current`
    changed). Now the second is refused before it reads or loads TensorFlow, naming the
    first; a store no longer held retrains as before."""
    from anomaly_gan.store import RUN_LOCK, _host
    from tests.retrain.conftest import ENV, snapshot, write_csvs
    from tests.retrain.plant import rows
    from tests.support.cli import run_cli
    from tests.support.store import hold_run_lock

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    data = write_csvs(tmp_path, [rows(400, seed=1)])
    before = snapshot(store.root)
    first = hold_run_lock(store)  # a retrain in another process, holding the store
    try:
        since = (store.root / RUN_LOCK).read_text().split()[1]
        probe = run_cli(["retrain", "--config", str(cfg), "--store", str(store.root),
                         "--data", *data], env=ENV)
    finally:
        first.communicate("", timeout=30)
    assert not probe["tensorflow"]
    [(rc, err)] = probe["results"]
    holder = f"{first.pid}@{_host()}"
    assert (rc, err) == (2, (
        f"anomaly-gan: error: {store.root}: another retrain is running on this store: {holder} "
        f"since {since}; wait for it to end and run again (a lock left by a process that died "
        f"is taken over: at once on its host, after 10 minutes without its refresh from another; if {holder} is gone for "
        f"good, remove {store.root / RUN_LOCK})\n"))
    assert snapshot(store.root) == before


def test_a_new_store_is_made_and_held_only_once_its_data_is_read(tmp_path, config_file,
                                                                 monkeypatch, no_training):
    """A store that does not exist yet: bad input leaves no directory behind, and the run
    lock is taken (the directory made) before TensorFlow loads."""
    from anomaly_gan.retrain import run
    from anomaly_gan.store import RUN_LOCK
    from tests.retrain.conftest import write_csvs
    from tests.retrain.plant import rows

    root = tmp_path / "new" / "store"
    held: list[bool] = []
    monkeypatch.setattr(run, "import_tensorflow_quietly",
                        lambda: held.append((root / RUN_LOCK).is_file()))
    with pytest.raises(DataError, match="rows in 1 segment"):
        run.retrain(_tiny_config(config_file), RetrainRequest(
            store=str(root), files=tuple(write_csvs(tmp_path, [rows(20, seed=1)]))))
    assert not root.exists() and held == []
    with pytest.raises(AssertionError, match="trained a candidate"):
        run.retrain(_tiny_config(config_file), RetrainRequest(
            store=str(root), files=tuple(write_csvs(tmp_path, [rows(400, seed=1)]))))
    assert held == [True] and not (root / RUN_LOCK).exists()


# ---------------------------------------------------------------- retrain.keep_versions


def _passed(store, tiny_detector, req, say, **retention):
    """Save a copy of the tiny detector as a candidate the gate passed, and promote it."""
    import copy

    from anomaly_gan.retrain.run import _save_and_promote

    det = copy.copy(tiny_detector)
    det.metadata = {**tiny_detector.metadata, "lineage": {"parent": store.current()}}
    return _save_and_promote(store, det, {"passed": True, "reasons": []}, req,
                             store.current(), say, **retention)


def test_keep_versions_prunes_after_a_promote_and_keeps_the_shadow_version(
        store, tiny_detector, tmp_path):
    """Every retrain adds a version (megabytes) and nothing pruned: a nightly CronJob filled
    the store's volume in months. retrain.keep_versions prunes after the promote as `models
    prune --keep` does, and keeps the version serve.shadow_model_path names too."""
    from tests.retrain.conftest import add_version

    old = [add_version(store, tiny_detector) for _ in range(4)]
    shadow = old[0]
    req = RetrainRequest(store=str(store.root), files=("x.csv",))
    said: list[str] = []
    first = store.current()
    off = _passed(store, tiny_detector, req, said.append)  # 0, the default: keeps all
    assert "pruned" not in off.report and len(store.versions()) == 6
    said.clear()
    result = _passed(store, tiny_detector, req, said.append, keep=2,
                     shadow=str(store.root / shadow))
    assert result.exit_code == 0 and result.promoted
    # current (the candidate) and one more newest kept, its predecessor (off) and the shadow
    doomed = [first, *old[1:]]
    assert sorted(result.report["pruned"]) == sorted(doomed)
    assert {v.name for v in store.versions()} == {shadow, off.version, result.version}
    assert said[-1] == (f"[prune] deleted 4 version(s) (retrain.keep_versions 2; current, "
                        f"its predecessor, shadow {shadow} kept): "
                        f"{', '.join(result.report['pruned'])}")
    assert store.rollback(verify=False) == (result.version, off.version)
    # --no-promote prunes too (rejections: below), and keeps the candidate whatever its
    # age: this one took the name of the pruned first version, the oldest of equal times
    kept = _passed(store, tiny_detector, RetrainRequest(store=str(store.root), files=("x",),
                                                        promote=False), said.append, keep=1)
    assert not kept.promoted and kept.version == first
    assert kept.report["pruned"] == [shadow]  # not this config's shadow
    assert {v.name for v in store.versions()} == {off.version, result.version, kept.version}
    assert said[-1] == (f"[prune] deleted 1 version(s) (retrain.keep_versions 1; current, its "
                        f"predecessor, candidate {kept.version} kept): {shadow}")


def test_keep_versions_keeps_a_version_that_serve_model_path_pins(
        store, tiny_detector, tmp_path, monkeypatch):
    """A scorer whose serve.model_path names a version of the store (pinned by hand, not
    following current) lost it to the prune after a few promotes, and its next start failed:
    model path does not exist. Named by a relative path or through a link too."""
    from tests.retrain.conftest import add_version

    pinned = add_version(store, tiny_detector)
    spare = add_version(store, tiny_detector)
    (tmp_path / "pin").symlink_to(store.root / pinned)
    monkeypatch.chdir(store.root)
    said: list[str] = []
    req = RetrainRequest(store=str(store.root), files=("x",))
    first = store.current()
    one = _passed(store, tiny_detector, req, said.append, keep=1, served=pinned)  # relative
    assert one.exit_code == 0 and one.report["pruned"] == [spare]
    assert {v.name for v in store.versions()} == {first, pinned, one.version}
    assert said[-1].startswith(f"[prune] deleted 1 version(s) (retrain.keep_versions 1; "
                               f"current, its predecessor, served {pinned} kept)")
    two = _passed(store, tiny_detector, req, said.append, keep=1, served=str(tmp_path / "pin"))
    assert two.report["pruned"] == [first]
    assert {v.name for v in store.versions()} == {pinned, one.version, two.version}


def test_a_failed_prune_after_a_promote_is_a_warning_not_a_failed_retrain(
        store, tiny_detector, monkeypatch):
    from anomaly_gan.errors import StoreError
    from anomaly_gan.store import ModelStore

    def locked(self, keep, keep_versions=()):
        raise StoreError(f"{self.root}: locked by another process for 60s; try again")

    monkeypatch.setattr(ModelStore, "prune", locked)
    why = f"{store.root}: locked by another process for 60s; try again"
    assert _promoted_despite_a_failed_prune(store, tiny_detector, why) == (
        f"[prune] warning: retrain.keep_versions 1: pruning the store failed ({why}); the "
        f"promote stands. `anomaly-gan models prune --store {store.root} --keep 1` prunes it")


def _promoted_despite_a_failed_prune(store, tiny_detector, why: str) -> str:
    """A passed retrain with ``keep_versions`` 1 whose prune fails with ``why``: promoted,
    exit 0, the failure in its report; the warning line it ends with."""
    said: list[str] = []
    result = _passed(store, tiny_detector, RetrainRequest(store=str(store.root), files=("x",)),
                     said.append, keep=1)
    assert result.exit_code == 0 and result.promoted and store.current() == result.version
    assert result.report["pruned"] == [] and result.report["prune_error"] == why
    return said[-1]


def test_a_version_that_cannot_be_read_fails_the_prune_not_the_promoted_retrain(
        store, tiny_detector, monkeypatch):
    """A version directory the retrain may not search (another user's, under umask 077)
    stopped it after its promote with exit 2 and no report: the versions the gate's
    references name were looked up before the prune, outside its warning. It is the prune's
    warning now, as any failed prune is, and the retrain exits 0 with its report."""
    from tests.retrain.conftest import add_version
    from tests.support.store import deny_search

    other = add_version(store, tiny_detector)
    deny_search(monkeypatch, store.root / other)
    why = f"{store.root / other}: cannot read: Permission denied"
    assert _promoted_despite_a_failed_prune(store, tiny_detector, why).startswith(
        f"[prune] warning: retrain.keep_versions 1: pruning the store failed ({why}); the "
        f"promote stands.")


def test_a_failed_prune_names_the_versions_to_keep_in_the_command_it_suggests(
        store, tiny_detector, monkeypatch):
    """The warning's `models prune` command is what an operator runs next: without the
    shadow's and the pinned version as --keep-version it deleted them."""
    from anomaly_gan.errors import StoreError
    from anomaly_gan.store import ModelStore
    from tests.retrain.conftest import add_version

    shadow = add_version(store, tiny_detector)
    pinned = add_version(store, tiny_detector)

    def locked(self, keep, keep_versions=()):
        raise StoreError("locked")

    monkeypatch.setattr(ModelStore, "prune", locked)
    said: list[str] = []
    _passed(store, tiny_detector, RetrainRequest(store=str(store.root), files=("x",)),
            said.append, keep=1, shadow=str(store.root / shadow),
            served=str(store.root / pinned))
    assert said[-1].endswith(f"`anomaly-gan models prune --store {store.root} --keep 1 "
                             f"--keep-version {shadow} --keep-version {pinned}` prunes it")


def test_keep_versions_prunes_after_rejected_retrains_too(store, tiny_detector, tmp_path,
                                                         config_file, monkeypatch):
    """retrain.keep_versions pruned only after a promote: a scheduled retrain whose
    candidates the gate kept rejecting (a new normal that the false-alarm budget calls
    anomalous) added a version every run, and the store grew without bound where nobody
    watched. Now each rejection prunes too, never current, its predecessor, the shadow's
    version or the candidate just rejected (its report is what the operator reads next)."""
    import copy

    from anomaly_gan.retrain.run import EXIT_REJECTED, retrain
    from tests.retrain.conftest import add_version, write_csvs
    from tests.retrain.plant import rows

    made: list[str] = []

    def trained(*_a, **_k):  # the current version again, which flags the new normal
        det = copy.copy(tiny_detector)
        # created after every version before it, as a real training's candidate is
        det.metadata = {**tiny_detector.metadata,
                        "created": f"2999-01-01T00:00:{len(made):02d}+00:00",
                        # (two epochs: it may be unhealthy, a reason of its own)
                        "health": {"status": "healthy", "issues": []}}
        return det

    monkeypatch.setattr("anomaly_gan.train.train_detector", trained)
    first = store.current()
    second = add_version(store, tiny_detector)
    store.promote(second, verify=False)
    shadow = add_version(store, tiny_detector)
    data = tuple(write_csvs(tmp_path, [rows(400, seed=1, shifted=True)]))
    cfg = _tiny_config(config_file, retrain={"exclude_over_threshold": False,
                                             "keep_versions": 2},
                       serve={"shadow_model_path": str(store.root / shadow)})
    for _ in range(4):
        said: list[str] = []
        result = retrain(cfg, RetrainRequest(store=str(store.root), files=data),
                         progress=said.append)
        assert result.exit_code == EXIT_REJECTED and not result.promoted
        assert [r.split(" on ")[0] for r in result.report["gate"]["reasons"]] == [
            f"false-alarm rate {result.report['gate']['false_alarm_rate']:.4f}"]
        made.append(result.version)
        # the 2 newest (the candidates), and current, its predecessor, the shadow's version
        assert {v.name for v in store.versions()} == {first, second, shadow, *made[-2:]}
    assert store.current() == second
    assert result.report["pruned"] == [made[-3]]
    assert said[-1] == (f"[prune] deleted 1 version(s) (retrain.keep_versions 2; current, "
                        f"its predecessor, candidate {made[-1]}, shadow {shadow} kept): "
                        f"{made[-3]}")


@pytest.mark.slow
def test_a_retrain_applies_keep_versions_from_its_config(store, tiny_detector, tmp_path,
                                                         config_file, monkeypatch):
    from anomaly_gan.retrain import run
    from tests.retrain.conftest import add_version
    from tests.retrain.plant import STEP_S

    shadow = add_version(store, tiny_detector)
    spare = add_version(store, tiny_detector)
    ts = _fake_topic(monkeypatch, 600, seed=52)
    cfg = _tiny_config(config_file, retrain={"exclude_over_threshold": False,
                                             "keep_versions": 1},
                       serve={"shadow_model_path": str(store.root / shadow)},
                       training={**TINY_TRAINING, "epochs": 2})
    started_from = store.current()
    result = run.retrain(cfg, RetrainRequest(store=str(store.root), start=float(ts[0]),
                                             end=float(ts[-1]) + STEP_S))
    assert result.promoted and result.report["pruned"] == [spare]
    assert {v.name for v in store.versions()} == {started_from, shadow, result.version}


def test_a_changed_window_names_the_config_file_the_version_and_what_to_do(
        store, tmp_path, config_file, no_training):
    """It said 'retrain: data.window 20 differs from the current version's 16; serve could
    not hot-reload it': no file, no version, and nothing on how to change it after all."""
    from anomaly_gan.retrain.run import retrain
    from tests.retrain.conftest import snapshot, write_csvs
    from tests.retrain.plant import rows

    data = write_csvs(tmp_path, [rows(400, seed=1)])
    path = config_file(data={"window": 20, "stride": 1})
    current = store.current()
    before = snapshot(store.root)
    with pytest.raises(DataError) as caught:
        retrain(_tiny_config(config_file, data={"window": 20, "stride": 1}),
                RetrainRequest(store=str(store.root), files=tuple(data), config_source=path))
    assert str(caught.value) == (
        f"{path}: data.window: 20 differs from the current version {current}'s 16; serve "
        f"could not hot-reload it: a retrain keeps it (to change it, train a new version "
        f"with `anomaly-gan train`, promote it and restart serve)")
    assert snapshot(store.root) == before


def test_a_retrain_from_timed_files_records_the_time_they_cover(store, tmp_path, config_file,
                                                                tiny_detector, monkeypatch):
    """`models list` showed a retrain from files as DATA RANGE 'normal-1.csv', while the
    version `train` made from the same kind of file showed its times: which week a candidate
    learned could not be compared with its parent's."""
    import copy

    from anomaly_gan.retrain.run import retrain
    from tests.retrain.plant import FEATURES, rows

    def trained(*_a, **_k):  # what was trained is not this test's concern
        det = copy.copy(tiny_detector)
        det.metadata = dict(tiny_detector.metadata)
        return det

    monkeypatch.setattr("anomaly_gan.train.train_detector", trained)
    data = tmp_path / "pump-1.csv"
    stamps = [f"2026-11-06T{h:02d}:{m:02d}:{s:02d}Z" for h in range(21, 23)
              for m in range(60) for s in range(0, 60, 10)][:400]
    data.write_text("timestamp," + ",".join(FEATURES) + "\n" + "".join(
        f"{t}," + ",".join(f"{v:.3f}" for v in r) + "\n" for t, r in zip(stamps, rows(400, 1))))
    result = retrain(_tiny_config(config_file),
                     RetrainRequest(store=str(store.root), files=(str(data),), promote=False))
    assert result.report["lineage"]["source"]["files"] == [str(data)]
    assert store.info(result.version).data_range == (
        "2026-11-06T21:00:00.000Z .. 2026-11-06T22:06:30.000Z")


def test_the_gates_reference_version_is_loaded_and_kept_by_keep_versions(
        store, tiny_detector, tmp_path):
    """The sensitivity check compares a candidate with the store's reference version (the
    most sensitive so far) too: the version the current one names is loaded for the next
    gate, and retrain.keep_versions keeps it where it pruned it with the rest."""
    import copy

    from anomaly_gan.retrain.run import _reference, _save_and_promote
    from tests.retrain.conftest import add_version

    reference = store.current()
    [add_version(store, tiny_detector) for _ in range(3)]
    det = copy.copy(tiny_detector)
    det.metadata = {**tiny_detector.metadata, "lineage": {"parent": reference},
                    "gate": {"passed": True, "reasons": [],
                             "injected": {"reference_version": reference}}}
    result = _save_and_promote(store, det, {"passed": True, "reasons": []},
                               RetrainRequest(store=str(store.root), files=("x",)),
                               reference, lambda _m: None, keep=1)
    assert result.promoted
    assert reference in {v.name for v in store.versions()}  # its predecessor, and named
    said: list[str] = []
    again = _save_and_promote(store, copy.copy(det), {"passed": True, "reasons": []},
                              RetrainRequest(store=str(store.root), files=("x",)),
                              result.version, said.append, keep=1)
    # neither current (again) nor its predecessor (result): kept as the reference, and the
    # [prune] line, which names what it kept, says so (it named current and its
    # predecessor alone, and a version it did not delete was left unexplained)
    assert {v.name for v in store.versions()} == {reference, result.version, again.version}
    assert said[-1] == (f"[prune] deleted 0 version(s) (retrain.keep_versions 1; current, its "
                        f"predecessor, reference {reference} kept)")
    name, loaded = _reference(store, det, again.version)
    assert name == reference and loaded is not None
    assert loaded.feature_names == tiny_detector.feature_names
    store.prune(0)  # an operator's prune does not know it: the next gate says so
    assert _reference(store, det, again.version) == (reference, None)


def test_a_signal_once_the_version_is_promoted_does_not_report_interrupted(
        tmp_path, config_file, monkeypatch, capsys):
    """A SIGTERM that came after the save and promote, while retrain released its run lock,
    ended it with 'anomaly-gan: interrupted' (exit 130) and no report, the candidate
    promoted all the same (1 of 2 SIGTERMs sent on seeing the [promote] line). The command
    now ends as it would have: exit 0 and its report."""
    import os
    import signal

    from anomaly_gan.cli import main
    from anomaly_gan.retrain import run
    from tests.retrain.conftest import write_csvs
    from tests.retrain.plant import rows

    def promoted_then_signalled(_cfg, _req, _store, _say, finishing, *_a, **_k):
        with finishing():
            pass  # the save and the promote
        os.kill(os.getpid(), signal.SIGTERM)
        sum(range(100_000))  # the handler runs here, outside the block
        return run.RetrainResult(0, "v2", True, {"version": "v2", "promoted": True})

    monkeypatch.setattr(run, "_retrain", promoted_then_signalled)
    data = write_csvs(tmp_path, [rows(200, seed=1)])
    code = main(["retrain", "--config", config_file(), "--store", str(tmp_path / "store"),
                 "--data", *data, "--quiet"])
    out, err = capsys.readouterr()
    assert (code, json.loads(out)["promoted"]) == (0, True), err
    assert "interrupted" not in err
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # restored


def _trained_is_the_tiny_detector(monkeypatch, tiny_detector) -> None:
    """``retrain`` trains a copy of the shared tiny detector: what was trained is not the
    concern of the tests of its progress lines."""
    import copy

    def trained(*_a, **_k):
        det = copy.copy(tiny_detector)
        det.metadata = dict(tiny_detector.metadata)
        return det

    monkeypatch.setattr("anomaly_gan.train.train_detector", trained)


def test_the_filter_phase_says_how_far_scoring_the_rows_has_got(store, tmp_path, config_file,
                                                                tiny_detector, monkeypatch,
                                                                capsys):
    """`[filter] scoring N rows with the current version` was the last line for as long as
    that scoring took (a week of 100 entities' rows: over a minute), where `score` says how far the
    same work has got every PROGRESS_SECONDS: `retrain: scored N of M windows (P%) in Ts`
    now comes the same way, over every file's windows (not a phase line: --quiet drops it)."""
    from anomaly_gan import cli
    from tests.retrain.conftest import write_csvs
    from tests.retrain.plant import rows

    _trained_is_the_tiny_detector(monkeypatch, tiny_detector)
    monkeypatch.setattr(cli, "PROGRESS_SECONDS", 1e-9)  # every chance to say it
    data = write_csvs(tmp_path, [rows(300, seed=1), rows(200, seed=2)])
    argv = ["retrain", "--config", config_file(), "--store", str(store.root), "--data", *data,
            "--no-promote"]
    assert cli.main(argv) in (0, 4)
    lines = capsys.readouterr().err.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("[filter] scoring"))
    gate = next(i for i, line in enumerate(lines) if line.startswith("[gate] scoring"))
    scored = [line for line in lines[:gate] if line.startswith("retrain: scored ")]
    windows = (300 - 15) + (200 - 15)
    assert scored and scored[-1].startswith(
        f"retrain: scored {windows} of {windows} windows (100%) in "), lines
    assert lines.index(scored[0]) > at
    assert cli.main([*argv, "--quiet"]) in (0, 4)
    assert not [line for line in capsys.readouterr().err.splitlines()
                if line.startswith("retrain: scored ")]


def test_the_gate_phase_says_how_far_scoring_has_got(store, tmp_path, config_file,
                                                      tiny_detector, monkeypatch, capsys):
    """`[gate] scoring the candidate on N held-out rows` was the last line for as long as
    the gate scored (the held-out rows, each segment holding a labelled incident or an
    alerted period, and the moved windows, with the candidate and the current version):
    `retrain: scored N of M windows (P%) in Ts` now comes the same way as the filter's,
    over every window the gate scores with either model (not a phase line: --quiet drops
    it)."""
    from anomaly_gan import cli
    from anomaly_gan.retrain.gate import MIN_INJECTED
    from tests.retrain.conftest import write_csvs
    from tests.retrain.plant import rows

    _trained_is_the_tiny_detector(monkeypatch, tiny_detector)
    monkeypatch.setattr(cli, "PROGRESS_SECONDS", 1e-9)  # every chance to say it
    data = write_csvs(tmp_path, [rows(300, seed=1), rows(200, seed=2)])
    labels = tmp_path / "labels.csv"
    labels.write_text("entity,start,end\nnormal-1,100,120\n")  # a row's time is its index
    argv = ["retrain", "--config", config_file(), "--store", str(store.root), "--data", *data,
            "--labels", str(labels), "--no-promote"]
    assert cli.main(argv) in (0, 4)
    captured = capsys.readouterr()
    gate = json.loads(captured.out)["gate"]
    lines = captured.err.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("[gate] scoring"))
    scored = [line for line in lines[at:] if line.startswith("retrain: scored ")]
    # the candidate: held-out windows, and every window of the labelled file; the current
    # version: the unmoved windows, then both models the moved ones it finds normal, and
    # the candidate their unmoved ones (no credit for a moved window it flags unmoved)
    windows = (gate["holdout_windows"] + (300 - 15) + MIN_INJECTED
               + 3 * gate["injected"]["windows"])
    assert scored and scored[-1].startswith(
        f"retrain: scored {windows} of {windows} windows (100%) in "), lines
    assert all(f" of {windows} windows " in line for line in scored), scored
    assert cli.main([*argv, "--quiet"]) in (0, 4)
    assert not [line for line in capsys.readouterr().err.splitlines()
                if line.startswith("retrain: scored ")]


@pytest.mark.slow
def test_a_baseline_whose_sensors_never_moved_is_rejected_and_not_promoted(store, tmp_path,
                                                                           config_file,
                                                                           capsys):
    """Files of a week when every sensor was dead (constant at its normal level), read with
    exclude_over_threshold: false (the current version flags them all): the candidate
    trained with a note that its features never change, passed the gate and was promoted,
    then flagged every window of normal data. It is rejected now (exit 4, kept, current
    unchanged), naming the features; `models promote --over-gate` still promotes it."""
    from anomaly_gan import cli
    from tests.retrain.conftest import write_csvs
    from tests.retrain.plant import FEATURES, rows

    before = store.current()
    level = rows(300, seed=1).mean(axis=0)
    data = write_csvs(tmp_path, [np.tile(level, (300, 1)), np.tile(level, (200, 1))])
    config = config_file(retrain={"exclude_over_threshold": False})
    code = cli.main(["retrain", "--config", config, "--store", str(store.root),
                     "--data", *data])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert (code, report["promoted"], store.current()) == (4, False, before), captured.err
    assert report["gate"]["stopped_features"] == list(FEATURES)
    reason = (f"{len(FEATURES)} feature(s) that moved in the current version's training rows "
              f"never move in the candidate's, so it flags every window in which they move: "
              f"{', '.join(FEATURES)} (sensors dead or stuck while the baseline was recorded?)")
    assert report["gate"]["reasons"] == [reason]
    gate = [line for line in captured.err.splitlines() if line.startswith("[gate] REJECTED")]
    assert gate and gate[0].endswith(f"; {reason}"), captured.err
    # the operator's override stands: sensors that really are gone for good
    assert cli.main(["models", "promote", report["version"], "--over-gate", "--store",
                     str(store.root)]) == 0
    assert store.current() == report["version"]


def test_rows_left_at_the_held_out_split_are_counted_as_too_short(tmp_path, config_file,
                                                                   no_training):
    """A file whose rows straddle the held-out split keeps only the side long enough for its
    part (two windows to train on, one held out): the other side was dropped and counted
    nowhere, so the [filter] line and lineage.selection did not add up (0 of 660 rows
    excluded, 480 train and 160 held out: 20 rows gone without a word)."""
    from anomaly_gan.retrain.run import retrain
    from tests.retrain.plant import FEATURES, START_TS, STEP_S, rows

    def timed(name: str, first: int, n: int) -> str:
        path = tmp_path / name
        values = rows(first + n, seed=1)[first:]
        path.write_text("timestamp," + ",".join(FEATURES) + "\n" + "".join(
            f"{START_TS + (first + i) * STEP_S:.0f}," + ",".join(f"{v:.3f}" for v in r) + "\n"
            for i, r in enumerate(values)))
        return str(path)

    # the newest 20% of 600 steps is held out from row 480: the second file has 20 rows
    # before it (fewer than the 32 a piece trains on) and 40 after
    files = (timed("pump-1.csv", 0, 600), timed("pump-2.csv", 460, 60))
    said: list[str] = []
    with pytest.raises(AssertionError, match="trained a candidate"):
        retrain(_tiny_config(config_file), RetrainRequest(store=str(tmp_path / "s"),
                                                          files=files), progress=said.append)
    line = next(s for s in said if s.startswith("[filter]"))
    assert line.endswith("and 20 of 660 rows (0 alerted +-600s, 0 labelled, 0 over threshold, "
                         "20 in pieces too short); 480 rows train, 160 held out"), line


@pytest.mark.parametrize("passed", [True, False])
def test_keep_versions_in_a_store_with_no_current_version_is_no_failed_prune(
        tmp_path, tiny_detector, passed):
    """A store's first retrain that the gate rejected, or kept with --no-promote, leaves no
    version current, so `models prune` refuses the store (nothing is protected there).
    retrain.keep_versions reported that as a failed prune: a `[prune] warning:`, a
    `prune_error` in the report and a `models prune` to run that fails the same way. It
    says instead that nothing is pruned until a version is current."""
    import copy

    from anomaly_gan.retrain.run import _save_and_promote
    from anomaly_gan.store import ModelStore

    store = ModelStore.open(tmp_path / "s", create=True)
    det = copy.copy(tiny_detector)
    det.metadata = {**tiny_detector.metadata, "lineage": {"parent": None}}
    said: list[str] = []
    result = _save_and_promote(store, det, {"passed": passed, "reasons": []},
                               RetrainRequest(store=str(store.root), files=("x",),
                                              promote=False), None, said.append, keep=1)
    assert result.exit_code == (0 if passed else 4) and store.current() is None
    assert result.report["pruned"] == [] and "prune_error" not in result.report
    assert said[-1] == ("[prune] nothing pruned (retrain.keep_versions 1): no version of the "
                        "store is current yet, so none is protected from deletion; pruning "
                        "starts once one is promoted")
