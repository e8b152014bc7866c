"""data.counters end to end: a cumulative counter is read as its increase per row."""

import csv
import json

import numpy as np
import pytest

from anomaly_gan.cli import main
from tests.support_models import normal_series

pytestmark = pytest.mark.slow

CONFIG = ("model: {latent_dim: 8, hidden: [16, 32]}\n"
          "data: {window: 16, stride: 2%s}\n"
          "training: {epochs: 10, min_steps: 200, learning_rate: 0.001, verbose: 0}\n")


def counter_series(rows, seed, start_total, reset_at):
    """temp and rpm (normal_series) and requests_total: a running total of a request rate
    that follows the load, restarted (from 0) at row ``reset_at``."""
    x = normal_series(rows, seed)[:, :2]
    rate = 50 + 0.1 * (x[:, 1] - 1500) + np.random.default_rng(seed + 7).normal(size=rows)
    total = start_total + np.cumsum(rate)
    total[reset_at:] = np.cumsum(rate[reset_at:])  # the process restarted
    return np.column_stack([x, total])


def write(path, x, first_second=0):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "temp", "rpm", "requests_total"])
        for i, row in enumerate(x):
            w.writerow([first_second + i, *(f"{v:.6f}" for v in row)])
    return path


def flagged_share(path):
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    scored = [r for r in rows if r["is_anomaly"] != ""]
    return rows, sum(r["is_anomaly"] == "1" for r in scored) / len(scored)


@pytest.fixture(scope="module")
def counter_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("counters")
    train = counter_series(800, seed=0, start_total=1e6, reset_at=800)
    write(d / "train.csv", train)
    for name, extra in (("plain", ""), ("counting", ", counters: [requests_total]")):
        (d / f"{name}.yaml").write_text(CONFIG % extra)
        assert main(["train", "--config", str(d / f"{name}.yaml"), "--data",
                     str(d / "train.csv"), "--out", str(d / name)]) == 0
    # a later day: the total went on past every training value, and restarts once
    write(d / "next.csv", counter_series(400, seed=1, start_total=float(train[-1, 2]) + 1e5,
                                         reset_at=200), first_second=86_400)
    return d


def test_a_counter_model_does_not_alarm_on_the_continuation_of_a_growing_counter(
        counter_models, capsys):
    d = counter_models
    capsys.readouterr()
    for name in ("plain", "counting"):
        assert main(["score", "--model", str(d / name), "--data", str(d / "next.csv"),
                     "--out", str(d / f"{name}.csv")]) == 0
    err = capsys.readouterr().err
    assert "the first row starts the increases of data.counters" in err
    rows, plain = flagged_share(d / "plain.csv")
    assert plain > 0.5  # every value lies beyond the training rows
    rows, counting = flagged_share(d / "counting.csv")
    assert counting < 0.1, counting
    assert len(rows) == 400
    assert rows[0]["score"] == "" and rows[0]["is_anomaly"] == ""  # no increase yet
    assert rows[16]["score"] != ""  # the first window: rows 1..16
    flagged = [r["feature_values"] for r in rows if "requests_total" in r["feature_values"]]
    assert all("requests_total increase " in v for v in flagged)


def test_the_alarm_storm_of_an_unlisted_counter_names_data_counters_not_a_new_baseline(
        counter_models, capsys):
    """A model trained with a running total not in data.counters (train noted it) alarms on
    nearly every later window; score's alarm-storm note used to say 'if this is the new
    normal, train or retrain on a recent baseline', which a total that grows for ever
    passes again. It names data.counters instead."""
    d = counter_models
    capsys.readouterr()
    assert main(["score", "--model", str(d / "plain"), "--data", str(d / "next.csv"),
                 "--out", str(d / "plain_storm.csv"), "--quiet"]) == 0
    note = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    assert len(note) == 1 and "(PSI against it: requests_total" in note[0], note
    assert "requests_total only ever rose in the training rows" in note[0]
    assert "list it in data.counters and train again" in note[0]
    assert "recent baseline" not in note[0]


def test_the_bundle_records_its_counters_and_evaluate_drops_the_first_label(
        counter_models, capsys, tmp_path):
    d = counter_models
    import yaml

    saved = yaml.safe_load((d / "counting" / "config.yaml").read_text())
    assert saved["data"]["counters"] == ["requests_total"]
    assert yaml.safe_load((d / "plain" / "config.yaml").read_text())["data"]["counters"] == []
    # The first row only starts the increases: it was dropped with its label, and the output
    # said "rows 399" for 400 rows and 400 labels with no word of why.
    labels = tmp_path / "labels.csv"
    marks = np.zeros(400)
    marks[[0, 300]] = 1
    np.savetxt(labels, marks, fmt="%d")
    evaluate = ["evaluate", "--model", str(d / "counting"), "--data", str(d / "next.csv"),
                "--labels", str(labels)]
    capsys.readouterr()
    assert main([*evaluate, "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert (metrics["rows"], metrics["anomalous_rows"]) == (399, 1)
    assert metrics["counters_first_row"] == {"where": "line 2", "label": 1}
    assert main(evaluate) == 0
    assert ("(not in rows: the first row, line 2, only starts the increases of data.counters "
            "and is not scored; its label 1 (anomalous) is not counted)"
            in capsys.readouterr().out.splitlines())
    np.savetxt(labels, np.zeros(400), fmt="%d")
    assert main(evaluate) == 0
    assert ("(not in rows: the first row, line 2, only starts the increases of data.counters "
            "and is not scored)" in capsys.readouterr().out.splitlines())


def test_an_unknown_counter_is_refused_naming_the_config_and_the_files_columns(tmp_path, capsys):
    write(tmp_path / "train.csv", counter_series(100, 0, 0.0, 100))
    (tmp_path / "c.yaml").write_text(CONFIG % ", counters: [request_total]")
    rc = main(["train", "--config", str(tmp_path / "c.yaml"), "--data",
               str(tmp_path / "train.csv"), "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert err == (f"anomaly-gan: error: {tmp_path / 'c.yaml'}: data.counters: "
                   f"'request_total' is not a feature (did you mean 'requests_total'?); "
                   f"expected one of the columns of {tmp_path / 'train.csv'}: temp, rpm, "
                   f"requests_total")
    assert not (tmp_path / "m").exists()


def test_retrain_reads_increases_and_keeps_the_current_versions_counters(counter_models,
                                                                         tmp_path, capsys):
    import shutil

    import yaml

    d = counter_models
    store = tmp_path / "store"
    shutil.copytree(d / "counting", store / "v1")
    assert main(["models", "promote", "--store", str(store), "v1"]) == 0
    # a config without the key would train a model serve reads differently: refused
    rc = main(["retrain", "--config", str(d / "plain.yaml"), "--store", str(store),
               "--data", str(d / "next.csv"), "--no-promote"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert rc == 2 and err.endswith(
        f"{d / 'plain.yaml'}: data.counters: [] differ from the current version v1's "
        f"['requests_total']; serve could not hot-reload it: a retrain keeps it (to change "
        f"it, train a new version with `anomaly-gan train`, promote it and restart serve)")
    rc = main(["retrain", "--config", str(d / "counting.yaml"), "--store", str(store),
               "--data", str(d / "next.csv"), "--no-promote"])
    out = capsys.readouterr()
    assert rc in (0, 4), out.err  # 4: the gate's verdict, not this test's concern
    assert "399 rows in 1 segments" in out.err  # the file's first row starts the increases
    (new,) = [p for p in store.iterdir() if (p / "config.yaml").exists() and p.name != "v1"]
    assert yaml.safe_load((new / "config.yaml").read_text())["data"]["counters"] == [
        "requests_total"]
