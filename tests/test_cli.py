"""The command line end to end on small generated files (in-process, plus one real process)."""

import csv
import json
import os
import signal
import stat
import subprocess
import sys

import numpy as np
import pytest

from anomaly_gan.cli import main
from tests.support.stream_fakes import alert_topic_of
from tests.support_models import normal_series, with_anomalies

pytestmark = pytest.mark.slow


def write_csv(path, x, header=True, timestamps=False):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        if header:
            w.writerow((["timestamp"] if timestamps else []) + ["temp", "rpm", "flow"])
        for i, row in enumerate(x):
            w.writerow(([f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z"] if timestamps else []) + [f"{v:.6f}" for v in row])
    return path


@pytest.fixture(scope="module")
def trained_cli(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    cfg = d / "tiny.yaml"
    cfg.write_text("model: {latent_dim: 8, hidden: [16, 32]}\ndata: {window: 16, stride: 2}\n"
                   "training: {epochs: 10, min_steps: 200, learning_rate: 0.001, verbose: 0}\n")
    train = write_csv(d / "train.csv", normal_series(800), timestamps=True)
    assert main(["train", "--config", str(cfg), "--data", str(train), "--out", str(d / "model")]) == 0
    return d


def test_train_records_its_files_and_their_time_for_models_list(trained_cli, tmp_path, capsys):
    """`models list` showed DATA RANGE '-' for every version `train` wrote: the bundle kept
    the data's hash and row count, not which files or which time it was trained on."""
    import shutil

    meta = json.loads((trained_cli / "model" / "metadata.json").read_text())
    assert meta["training_data"]["files"] == [str(trained_cli / "train.csv")]
    assert (meta["training_data"]["from"], meta["training_data"]["to"]) == (
        "2026-01-01T00:00:00.000Z", "2026-01-01T00:13:19.000Z")  # 800 rows a second apart
    shutil.copytree(trained_cli / "model", tmp_path / "store" / "v1")
    assert main(["models", "promote", "--store", str(tmp_path / "store"), "v1"]) == 0
    capsys.readouterr()
    assert main(["models", "list", "--store", str(tmp_path / "store")]) == 0
    assert "2026-01-01T00:00:00.000Z .. 2026-01-01T00:13:19.000Z" in capsys.readouterr().out


def test_train_score_evaluate_plot(trained_cli, tmp_path, capsys):
    d = trained_cli
    x, labels = with_anomalies(300)
    data = write_csv(tmp_path / "test.csv", x, timestamps=True)
    np.savetxt(tmp_path / "labels.csv", labels, fmt="%d")
    out = tmp_path / "scores.csv"
    old = os.umask(0o022)
    try:
        assert main(["score", "--model", str(d / "model"), "--data", str(data), "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # readable by others, as the umask says
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 300
    assert list(rows[0]) == ["timestamp", "score", "threshold", "is_anomaly", "severity",
                             "reconstruction", "discriminator", "latent", "knn", "quiet",
                             "top_features", "feature_values"]
    assert rows[0]["score"] == "" and rows[14]["score"] == "" and rows[15]["score"] != ""
    assert rows[15]["timestamp"] == "2026-01-01T00:00:15Z"
    assert len(rows[15]["top_features"].split(";")) == 3
    # A flagged row says how far off its top features are, as serve's alert for the window
    # ending there would (the same function); other rows leave the column empty.
    from anomaly_gan.artifacts import load_bundle
    from anomaly_gan.scoring import feature_values_text

    det = load_bundle(d / "model")
    flagged = [i for i, r in enumerate(rows) if r["is_anomaly"] == "1"]
    assert flagged and all(r["feature_values"] == "" for r in rows if r["is_anomaly"] != "1")
    for i in flagged[:3]:
        (values,) = det.feature_values(x[None, i - det.window + 1:i + 1],
                                       [rows[i]["top_features"].split(";")])
        assert rows[i]["feature_values"] == feature_values_text(values)
        assert rows[i]["feature_values"].startswith(rows[i]["top_features"].split(";")[0] + " ")
    capsys.readouterr()
    assert main(["evaluate", "--model", str(d / "model"), "--data", str(data), "--labels",
                 str(tmp_path / "labels.csv"), "--json", "--plot", str(tmp_path / "fig.png")]) == 0
    captured = capsys.readouterr()
    m = json.loads(captured.out)  # the figure's line goes to stderr: stdout stays JSON
    assert captured.err.strip().endswith(f"wrote {tmp_path / 'fig.png'}")
    assert {"auc_roc", "auc_pr", "best_f1", "f1", "precision", "recall", "point_adjusted_f1"} <= set(m)
    assert (tmp_path / "fig.png").stat().st_size > 10_000
    assert main(["plot", "--model", str(d / "model"), "--data", str(data), "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_and_plot_refuse_labels_stamped_for_other_rows(trained_cli, tmp_path, capsys):
    """A `timestamp,label` file of another day was taken row by row: evaluate printed its
    AUC and F1, and plot drew its spans, as if the labels were the data's."""
    x, labels = with_anomalies(100)
    data = write_csv(tmp_path / "test.csv", x, timestamps=True)
    lab = tmp_path / "labels.csv"
    lab.write_text("timestamp,label\n" + "".join(
        f"2026-01-02T00:{i // 60:02d}:{i % 60:02d}Z,{v}\n" for i, v in enumerate(labels)))
    model = str(trained_cli / "model")
    for argv in (["evaluate", "--model", model, "--data", str(data), "--labels", str(lab)],
                 ["plot", "--model", model, "--data", str(data), "--labels", str(lab),
                  "--out", str(tmp_path / "p.png")]):
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err == (
            f"anomaly-gan: error: {lab}: line 2: timestamp '2026-01-02T00:00:00Z' is not that of "
            f"the data row it labels ('2026-01-01T00:00:00Z', line 2 of {data}); expected one "
            f"label per data row, in the data's order\n")
    assert not (tmp_path / "p.png").exists()


@pytest.mark.parametrize("content, expected", [
    ("temp,rpm,flow\n1,2,x\n", "line 2, column 'flow': not a number: 'x'"),
    ("temp,rpm\n1,2\n", "missing columns flow"),
    ("", "file is empty"),
    ("temp,rpm,flow\n1,2,3\n", "need at least one window of 16 rows, got 1 rows"),
    ("temp,rpm,flow\n1,2,\n1,2,3\n", "line 2, column 'flow': missing or non-finite value"),
    ("temp,rpm,flow\n1,2,\n", "column 'flow': no finite value in any row"),  # no fill helps
])
def test_bad_input_is_one_line_exit_2(trained_cli, tmp_path, capsys, content, expected):
    data = tmp_path / "bad.csv"
    data.write_text(content)
    rc = main(["score", "--model", str(trained_cli / "model"), "--data", str(data), "--out", str(tmp_path / "s.csv")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and expected in err and str(data) in err and "\n" not in err
    assert not (tmp_path / "s.csv").exists()


def test_score_out_never_replaces_a_symlink_or_fifo(trained_cli, tmp_path, capsys):
    data = write_csv(tmp_path / "test.csv", normal_series(40), timestamps=True)
    target = tmp_path / "precious.csv"
    target.write_text("keep")
    (tmp_path / "link.csv").symlink_to(target)
    os.mkfifo(tmp_path / "pipe")
    for out in ("link.csv", "pipe"):
        rc = main(["score", "--model", str(trained_cli / "model"), "--data", str(data),
                   "--out", str(tmp_path / out)])
        assert rc == 2 and "expected a regular file path" in capsys.readouterr().err
    assert (tmp_path / "link.csv").is_symlink() and target.read_text() == "keep"
    assert (tmp_path / "pipe").is_fifo()


def test_outputs_never_overwrite_the_data_or_the_bundle(trained_cli, tmp_path, monkeypatch,
                                                       capsys):
    """`score --out` equal to --data, or inside the bundle, ran to the end and replaced the
    data or broke the bundle's checksums; `plot --out p4` wrote p4.png and said p4."""
    monkeypatch.chdir(tmp_path)
    model = trained_cli / "model"
    data = write_csv(tmp_path / "test.csv", normal_series(40), timestamps=True)
    files = {p: p.read_bytes() for p in [data, *model.rglob("*")] if p.is_file()}
    for command, out, expected in [
        ("score", "./test.csv", "./test.csv: is the same file as the --data input test.csv"),
        ("score", f"{model}/calibration.json", f"is inside the --model directory {model},"),
        ("plot", f"{model}/fig.png", f"is inside the --model directory {model},"),
        ("plot", "p4", "p4: no file extension to choose the figure format"),
    ]:
        rc = main([command, "--model", str(model), "--data", "test.csv", "--out", out])
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith("anomaly-gan: error: ") and expected in err, err
        assert err.count("\n") == 1, err
    assert {p: p.read_bytes() for p in [data, *model.rglob("*")] if p.is_file()} == files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.csv"]
    assert main(["plot", "--model", str(model), "--data", "test.csv", "--out", "p4.PNG"]) == 0
    assert capsys.readouterr().err.strip().endswith("wrote p4.PNG")
    assert (tmp_path / "p4.PNG").read_bytes()[:4] == b"\x89PNG"  # the printed path, as given


def test_train_refuses_existing_bundle_and_short_data(trained_cli, tmp_path, capsys):
    short = write_csv(tmp_path / "short.csv", normal_series(20))
    assert main(["train", "--data", str(short), "--out", str(trained_cli / "model")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["train", "--data", str(short), "--out", str(tmp_path / "m")]) == 2
    # one minimum for one series, however short it is (it said 64 here and 66 at 64 rows)
    assert "20 rows is fewer than the 66 needed" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
    # 64 rows would be one training and one held-out window: the model could only be judged
    # on the window it fitted (it was called healthy, and 26% of normal rows then alarmed).
    short = write_csv(tmp_path / "short.csv", normal_series(64))
    assert main(["train", "--data", str(short), "--out", str(tmp_path / "m")]) == 2
    assert "64 rows is fewer than the 66 needed" in capsys.readouterr().err


def test_train_leaves_out_a_file_too_short_among_several_as_retrain_does(tmp_path, capsys):
    """--data of several files, one of them too short to train on, refused the whole
    training, where retrain --data of the same files left it out: left out with a note, as
    an entity of a metric file is; a single file too short is still refused (above)."""
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("model: {latent_dim: 8, hidden: [16]}\ndata: {window: 8, stride: 2}\n"
                   "training: {epochs: 2, min_steps: 0, max_attempts: 1, verbose: 0, "
                   "allow_unhealthy: true}\n")
    a = write_csv(tmp_path / "a.csv", normal_series(200, seed=1))
    short = write_csv(tmp_path / "short.csv", normal_series(10, seed=2))
    b = write_csv(tmp_path / "b.csv", normal_series(200, seed=3))
    assert main(["train", "--config", str(cfg), "--data", str(a), str(short), str(b),
                 "--out", str(tmp_path / "m"), "--quiet"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "left out" in line]
    assert notes == [(f"note: left out 1 of 3 series (one per entity of each file) with fewer "
                     f"than the 16 rows one needs to train on (2 x data.window 8: a training "
                     f"and a held-out window, the rule by which retrain leaves out pieces too "
                     f"short): {short} (10 rows); serve scores them as any other entity")]
    # the bundle lists the files it was trained on (it listed the one left out too)
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert meta["training_data"]["files"] == [str(a), str(b)]
    shorter = write_csv(tmp_path / "shorter.csv", normal_series(6, seed=4))
    assert main(["train", "--config", str(cfg), "--data", str(shorter), str(short),
                 "--out", str(tmp_path / "m2")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and (f"error: {short}: 10 rows, the longest of 2 series, is "
                                     f"fewer than the 16 needed ") in err


def test_a_reading_past_float32_in_training_data_is_named_exit_2(tmp_path, capsys):
    """A sentinel such as -9.99e36 in the training file used to end `train` with "windows
    contain NaN or infinite values" (no file, line or column) and a numpy warning."""
    x = normal_series(300)
    x[200, 1] = -9.99e36
    data = write_csv(tmp_path / "sentinel.csv", x)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"{data}: line 202, column 'rpm': -9.99e+36 lies" in err
    assert "overflows beyond 1e+18" in err
    assert not (tmp_path / "m").exists()


def test_real_process_validate_config_and_headerless_default_train(tmp_path):
    """`train` with no --config on a headerless numeric CSV (how other harnesses call it)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  epochs: -3\n")
    # Short training through the documented env overrides (two epochs, no step floor, one
    # attempt); allow_unhealthy because they prove the plumbing, not the model.
    # training.verbose stays at its default (1): the CLI must keep Keras' bar off stdout.
    env = {**os.environ, "ANOMALY_GAN__TRAINING__EPOCHS": "2",
           "ANOMALY_GAN__TRAINING__MIN_STEPS": "0", "ANOMALY_GAN__TRAINING__MAX_ATTEMPTS": "1",
           "ANOMALY_GAN__TRAINING__ALLOW_UNHEALTHY": "true"}
    r = subprocess.run([sys.executable, "-m", "anomaly_gan", "validate-config", str(bad)],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{bad}: training.epochs: expected an integer >= 1" in r.stderr
    x = normal_series(400)
    np.savetxt(tmp_path / "train.csv", x, delimiter=",")
    np.savetxt(tmp_path / "test.csv", with_anomalies(200)[0], delimiter=",")
    r = subprocess.run([sys.executable, "-m", "anomaly_gan", "train", "--data", str(tmp_path / "train.csv"),
                        "--out", str(tmp_path / "m")], capture_output=True, text=True, env=env, check=False)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)  # stdout is the result and nothing else
    assert result["bundle"] == str(tmp_path / "m") and result["epochs"] == 2
    # 80 held-out rows are 49 windows, too few for a 0.995 quantile: taken from the tail.
    assert result["threshold_method"] == "quantile" and result["threshold_extrapolated"] is True
    progress = r.stderr.splitlines()
    assert [line.split(":")[0] for line in progress if " epoch " in line] == [
        "ganomaly epoch 1/2", "ganomaly epoch 2/2"]
    # No TensorFlow start-up banner (absl / oneDNN / CUDA notices) on the user's screen.
    assert not any("absl" in line or "oneDNN" in line or "cuda" in line for line in progress), r.stderr
    # The bundle the child wrote scores in this process (score as a real process, its stdout
    # closed by a reader: test_score_to_standard_output_and_an_empty_out); a second child
    # would only import TensorFlow again (~4 s of CPU).
    assert main(["score", "--model", str(tmp_path / "m"), "--data", str(tmp_path / "test.csv"),
                 "--out", str(tmp_path / "s.csv")]) == 0
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert len(rows) == 200 and rows[0]["index"] == "0" and rows[-1]["score"] != ""


def test_unhealthy_training_exits_3_without_bundle(tmp_path, capsys):
    """One epoch at a tiny learning rate leaves a generator that outputs the same window for
    every input: mode collapse. Each retry is logged, the attempts are kept in the metadata,
    and only after the last one: exit 3, nothing written unless allowed."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {latent_dim: 8, hidden: [16, 32]}\ndata: {window: 16, stride: 2}\n"
                   "training: {epochs: 1, min_steps: 0, max_attempts: 2, learning_rate: 0.00001,"
                   " verbose: 0}\n")
    train = write_csv(tmp_path / "train.csv", normal_series(600))
    args = ["train", "--config", str(cfg), "--data", str(train), "--out", str(tmp_path / "m")]
    assert main(args) == 3
    err = capsys.readouterr().err
    assert "training ended unhealthy: mode collapse" in err and "bundle NOT written" in err
    assert "attempt 1/2 unhealthy: mode collapse" in err and "retrying with seed 1" in err
    assert "attempt 2/2 unhealthy" in err and "no attempts left" in err
    assert not (tmp_path / "m").exists()
    assert main([*args, "--allow-unhealthy"]) == 0
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert meta["health"]["status"] == "unhealthy"
    assert [a["attempt"] for a in meta["attempts"]] == [1, 2]
    assert [a["learning_rate"] for a in meta["attempts"]] == [1e-5, 5e-6]
    assert all(a["status"] == "unhealthy" for a in meta["attempts"])


FAST = ("training: {epochs: 3, min_steps: 100, verbose: 0}\n")


def test_one_glitch_in_the_baseline_trains_and_is_named(tmp_path, capsys):
    """One reading of 1e12 on a sensor of unit spread made every attempt's losses
    non-finite on the default network, and `train` then died in calibration with a
    traceback. Training now sees it clipped (a note names it); scoring still flags it."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(FAST)
    clean = tmp_path / "clean"
    assert main(["train", "--quiet", "--config", str(cfg), "--out", str(clean), "--data",
                 str(write_csv(tmp_path / "clean.csv", normal_series(600)))]) == 0
    capsys.readouterr()
    # in the training part (row 300), and in the held-out part (row 560), which sets the
    # threshold: there it put the threshold at 170 (1.7 without it), and nothing alarmed
    for at in (300, 560):
        x = normal_series(600)
        x[at, 1] = 1e12
        data = write_csv(tmp_path / f"glitch{at}.csv", x)
        out = tmp_path / f"m{at}"
        assert main(["train", "--quiet", "--config", str(cfg), "--data", str(data),
                     "--out", str(out)]) == 0
        err = capsys.readouterr().err
        assert f"note: 1 value(s) lie more than 10000 times their feature's spread from " \
               f"its centre, first {data}: line {at + 2}, column 'rpm' (1e+12)" in err
        assert "unhealthy" not in err
        thresholds = [json.loads((m / "calibration.json").read_text())["threshold"]["value"]
                      for m in (clean, out)]
        assert thresholds[1] < 3 * thresholds[0], thresholds
        assert main(["score", "--model", str(out), "--data", str(data),
                     "--out", str(tmp_path / "s.csv")]) == 0
        rows = list(csv.DictReader((tmp_path / "s.csv").open()))
        # flagged, and the glitch's sensor named first (another was, before)
        assert all(r["is_anomaly"] == "1" and r["top_features"].split(";")[0] == "rpm"
                   for r in rows[at:at + 32])


def test_train_names_the_missing_cells_its_nan_policy_fills(tmp_path, capsys):
    """With data.nan_policy ffill, train filled 87% of a column in silence: the model learned
    the run as a flat stretch, and a held-out part that ended one put the threshold at 22.6
    (a shift of 30 standard deviations scored under it). A note names the column and the
    run, under --quiet too. The note comes from reading the file, so one epoch of a small
    network serves: the model is not what is checked."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {latent_dim: 8, hidden: [16]}\n"
                   "data: {window: 16, stride: 2, nan_policy: ffill}\n"
                   "training: {epochs: 1, min_steps: 0, max_attempts: 1, allow_unhealthy: true,"
                   " verbose: 0}\n")
    x = normal_series(600)
    x[100:300, 1] = np.nan
    x[[5, 7], 0] = np.nan
    data = tmp_path / "gaps.csv"
    write_csv(data, x)
    data.write_text(data.read_text().replace("nan", ""))  # empty cells, as exports write them
    assert main(["train", "--quiet", "--config", str(cfg), "--data", str(data),
                 "--out", str(tmp_path / "m")]) == 0
    err = capsys.readouterr().err
    assert (f"note: {data}: data.nan_policy ffill filled 202 missing cell(s), most in column "
            f"'rpm' (200 of 600 rows, the longest run 200 rows from line 102 to line 301): the "
            f"model learns them as readings (the value before each run: a flat stretch)") in err


def test_a_reading_far_beyond_its_training_range_is_named_first(tmp_path, capsys):
    """A queue at 30 that never passed 10 in training was flagged, but the untouched
    connection count beside it was named first in 20 of its 51 windows: the network's
    output is off for every feature then, so the reconstruction errors do not say which."""
    rng = np.random.default_rng(3)
    names = ["queue", "conns"]
    normal = np.column_stack([rng.poisson(3, 1000), rng.poisson(20, 1000)]).astype(float)
    test = np.column_stack([rng.poisson(3, 600), rng.poisson(20, 600)]).astype(float)
    test[300:320, 0] = 30
    for name, x in (("normal", normal), ("test", test)):
        np.savetxt(tmp_path / f"{name}.csv", x, fmt="%d", delimiter=",", header=",".join(names),
                   comments="")
    model = tmp_path / "m"
    assert main(["train", "--quiet", "--out", str(model), "--data",  # the defaults
                 str(tmp_path / "normal.csv")]) == 0
    assert main(["score", "--model", str(model), "--data", str(tmp_path / "test.csv"),
                 "--out", str(tmp_path / "s.csv")]) == 0
    capsys.readouterr()
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    spiked = [r for r in rows[300:351] if r["is_anomaly"] == "1"]  # windows holding the spike
    assert len(spiked) > 40
    assert [r["top_features"].split(";")[0] for r in spiked] == ["queue"] * len(spiked)


def test_training_whose_weights_diverge_exits_3_in_one_line(tmp_path, capsys):
    """A learning rate of 1 (the config allows it) made every loss NaN, and calibration
    then raised ValueError with a traceback (exit 1), with --allow-unhealthy too."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("training: {epochs: 3, min_steps: 100, verbose: 0, learning_rate: 1.0,"
                   " max_attempts: 1}\n")
    data = write_csv(tmp_path / "train.csv", normal_series(600))
    for extra in ([], ["--allow-unhealthy"]):
        assert main(["train", "--quiet", "--config", str(cfg), "--data", str(data),
                     "--out", str(tmp_path / "m"), *extra]) == 3
        err = capsys.readouterr().err
        last = err.strip().splitlines()[-1]
        assert last.startswith("anomaly-gan: training ended unhealthy: non-finite losses")
        assert "nothing to calibrate and no bundle, even with allow_unhealthy" in last
        assert "Traceback" not in err and "explain non-finite" not in err
        assert not (tmp_path / "m").exists()


def test_a_signal_whose_exception_was_dropped_still_stops_train(tmp_path, monkeypatch,
                                                                capsys):
    """Ctrl-C landing in a garbage-collector callback (JAX registers one) had its
    KeyboardInterrupt printed and dropped by Python; `train` then ran on, wrote the bundle
    and exited 0. Here the signal has come and its exception was dropped: train must still
    stop at its next progress line, exit 130 and leave nothing."""
    from anomaly_gan import cli
    from anomaly_gan.runtime import Interrupts

    class Dropped(Interrupts):
        def installed(self):
            self._event.set()  # what the handler does before its exception is dropped
            return super().installed()

    monkeypatch.setattr(cli, "Interrupts", Dropped)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(FAST)
    data = write_csv(tmp_path / "train.csv", normal_series(300))
    assert main(["train", "--quiet", "--config", str(cfg), "--data", str(data),
                 "--out", str(tmp_path / "m")]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "anomaly-gan: interrupted"
    assert not (tmp_path / "m").exists()


def test_time_order_is_checked_by_train_and_score(trained_cli, tmp_path, capsys):
    """Two swapped rows used to train and score without a word (16 windows flagged where
    one fault was), then stopped both (a local hour written twice stopped `score` on a real
    NAB file). A row stamped before an earlier one is now left out with a note, as serve
    drops a late event, and the rows around it are scored as without it; a file where more
    than 5% of the rows go back is refused as not in time order."""
    x = normal_series(300)
    data = write_csv(tmp_path / "late.csv", x, timestamps=True)
    rows = data.read_text().splitlines(keepends=True)
    lines = list(rows)
    lines[101:131] = lines[101:131][::-1]  # 30 rows newest first: 29 go back
    data.write_text("".join(lines))
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{data}: line 103: timestamp" in err
    assert "expected rows in time order" in err and "29 of 300 rows go back" in err
    assert not (tmp_path / "m").exists()
    assert main(["score", "--model", str(trained_cli / "model"), "--data", str(data),
                 "--out", str(tmp_path / "s.csv")]) == 2
    assert "line 103" in capsys.readouterr().err and not (tmp_path / "s.csv").exists()

    lines = list(rows)
    lines[101], lines[102] = lines[102], lines[101]  # row 100 comes after row 101: late
    data.write_text("".join(lines))
    assert main(["score", "--model", str(trained_cli / "model"), "--data", str(data),
                 "--out", str(tmp_path / "s.csv")]) == 0
    err = capsys.readouterr().err
    assert ("note: " in err and "1 row(s) are stamped before an earlier row (first line 103, "
            "'2026-01-01T00:01:40Z', 1 s behind): left out, as serve drops" in err)
    assert "(284 windows; 1 late rows left out)" in err
    scored = list(csv.DictReader((tmp_path / "s.csv").read_text().splitlines()))
    assert len(scored) == 300 and scored[101]["timestamp"] == "2026-01-01T00:01:40Z"
    assert scored[101]["score"] == scored[101]["is_anomaly"] == "" and scored[102]["score"]
    without = tmp_path / "without.csv"
    without.write_text("".join(lines[:102] + lines[103:]))
    assert main(["score", "--model", str(trained_cli / "model"), "--data", str(without),
                 "--out", str(tmp_path / "s2.csv")]) == 0
    capsys.readouterr()
    expected = list(csv.DictReader((tmp_path / "s2.csv").read_text().splitlines()))
    assert [r for i, r in enumerate(scored) if i != 101] == expected
    # train reads the file as score does: its note is the point, not the model (one epoch)
    cfg = tmp_path / "one-epoch.yaml"
    cfg.write_text("model: {latent_dim: 8, hidden: [16]}\ndata: {window: 16, stride: 2}\n"
                   "training: {epochs: 1, min_steps: 0, max_attempts: 1, allow_unhealthy: true,"
                   " verbose: 0}\n")
    assert main(["train", "--config", str(cfg), "--data", str(data),
                 "--out", str(tmp_path / "m")]) == 0
    assert "1 row(s) are stamped before an earlier row" in capsys.readouterr().err

    lines = list(rows)
    lines[102] = lines[101].split(",")[0] + "," + lines[102].split(",", 1)[1]  # same stamp
    data.write_text("".join(lines))
    assert main(["score", "--model", str(trained_cli / "model"), "--data", str(data),
                 "--out", str(tmp_path / "s.csv")]) == 0
    err = capsys.readouterr().err
    assert "note: " in err and "1 row(s) repeat the timestamp of the row before (first " \
           "line 103" in err


def test_score_to_standard_output_and_an_empty_out(trained_cli, tmp_path, capsys,
                                                   monkeypatch):
    """`score --out -` wrote a file named '-'; `train --out ''` said '.: already exists'."""
    monkeypatch.chdir(tmp_path)
    data = write_csv(tmp_path / "test.csv", normal_series(100), timestamps=True)
    assert main(["score", "--model", str(trained_cli / "model"), "--data", str(data),
                 "--out", "-"]) == 0
    out, err = capsys.readouterr()
    rows = list(csv.DictReader(out.splitlines()))
    assert len(rows) == 100 and rows[-1]["score"] != ""
    assert err.strip().endswith("-> stdout") and not (tmp_path / "-").exists()
    assert main(["train", "--data", str(data), "--out", ""]) == 2
    assert "--out: expected a bundle directory path, got ''" in capsys.readouterr().err
    # a reader that stops early (| head) ended score with a BrokenPipeError traceback; the
    # scores CSV (~0.5 MB) is far over a pipe's 64 KiB buffer, so score is still writing
    # when the reader goes (the summary line below says it saw the close)
    big = write_csv(tmp_path / "big.csv", normal_series(4_000), timestamps=False)
    score = subprocess.Popen([sys.executable, "-m", "anomaly_gan", "score", "--model",
                              str(trained_cli / "model"), "--data", str(big), "--out", "-"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert score.stdout.readline().startswith(b"index,score")
    score.stdout.close()
    err = score.stderr.read().decode()
    assert score.wait(timeout=300) == 0, err
    assert "Traceback" not in err and err.strip().endswith("-> stdout (closed by its reader)")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_standard_output_that_cannot_be_written_is_one_line(trained_cli, tmp_path):
    """`score --out - > file` on a full disk (here /dev/full, which refuses every write with
    ENOSPC) ended in an OSError traceback and exit 1, as did `evaluate` and `validate-config`
    printing their results there: a write the OS refuses is bad output, one line, exit 2."""
    data = write_csv(tmp_path / "test.csv", normal_series(100), timestamps=True)
    labels = tmp_path / "labels.csv"
    labels.write_text("label\n" + "0\n" * 100)
    config = tmp_path / "ok.yaml"
    config.write_text("training: {epochs: 2}\n")
    model = str(trained_cli / "model")
    with open("/dev/full", "w") as full:
        for argv in (["score", "--model", model, "--data", str(data), "--out", "-"],
                     ["evaluate", "--model", model, "--data", str(data), "--labels",
                      str(labels), "--json"],
                     ["validate-config", str(config)]):
            r = subprocess.run([sys.executable, "-m", "anomaly_gan", *argv], stdout=full,
                               stderr=subprocess.PIPE, text=True, check=False)
            assert (r.returncode, r.stderr.splitlines()[-1:]) == (2, [
                "anomaly-gan: error: standard output: cannot write: No space left on device"
            ]), (argv[0], r.stderr)
            assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr


def test_score_to_a_closed_standard_output_is_refused_first(tmp_path, capsys, monkeypatch):
    """`score --out - >&-` (no standard output at all: Python's sys.stdout is None) scored
    the whole file, then ended in a TypeError traceback, exit 1."""
    monkeypatch.setattr(sys, "stdout", None)
    data = write_csv(tmp_path / "test.csv", normal_series(100), timestamps=True)
    for out in (["--out", "-"], ["--out", str(tmp_path / "s.csv"), "--alerts", "-"]):
        assert main(["score", "--model", str(tmp_path / "no-model"), "--data", str(data),
                     *out]) == 2
        assert capsys.readouterr().err.splitlines() == [
            "anomaly-gan: error: -: standard output is closed; expected a file path for the "
            + ("scores CSV" if out[-2] == "--out" else "alerts file")]


def test_quiet_train_keeps_the_warnings(capsys):
    """``train --quiet`` drops the epoch lines but not what the user must know: a note on
    the data or the threshold, an unhealthy attempt being retried."""
    from anomaly_gan.cli import _train_progress

    for quiet, expected in ((True, ["note: n", "attempt 1/3 unhealthy: x"]),
                            (False, ["training x", "epoch 1/30 loss", "note: n",
                                     "attempt 1/3 unhealthy: x"])):
        say = _train_progress(quiet)
        for line in ("training x", "epoch 1/30 loss", "note: n", "attempt 1/3 unhealthy: x"):
            say(line)
        assert capsys.readouterr().err.splitlines() == expected


def test_score_fills_gaps_with_nan_policy_given_on_the_command_line(trained_cli, tmp_path,
                                                                   capsys):
    """The line for a gap used to advise data.nan_policy, which score cannot change (the
    model's config applies): --nan-policy is the remedy, and the line says so."""
    x, _ = with_anomalies(100)
    x[40, 1] = np.nan
    data = write_csv(tmp_path / "gap.csv", x, timestamps=True)
    out = tmp_path / "s.csv"
    base = ["score", "--model", str(trained_cli / "model"), "--data", str(data), "--out", str(out)]
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "missing or non-finite value" in err and "pass --nan-policy ffill or zero" in err
    assert main([*base, "--nan-policy", "ffill"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 100 and all(r["score"] != "" for r in rows[15:])


def test_score_explains_an_alarm_storm_by_the_features_that_moved(trained_cli, tmp_path, capsys):
    """A file whose level left the training range alarms on nearly every window; `score`
    says which feature moved (PSI against the bundle's reference) and that a newer baseline
    is the remedy. A normal continuation gets no such note."""
    model = str(trained_cli / "model")
    normal = write_csv(tmp_path / "normal.csv", normal_series(400, seed=7), timestamps=True)
    assert main(["score", "--model", model, "--data", str(normal), "--out",
                 str(tmp_path / "n.csv")]) == 0
    assert "note:" not in capsys.readouterr().err
    x = normal_series(400, seed=7)
    x[:, 1] += 10 * x[:, 1].std() + 5  # rpm leaves its range
    moved = write_csv(tmp_path / "moved.csv", x, timestamps=True)
    # --quiet: a progress line comes where scoring takes over 10 s (a loaded machine: 21 s)
    assert main(["score", "--model", model, "--data", str(moved), "--out",
                 str(tmp_path / "m.csv"), "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[1].startswith("note: ")
    assert "windows (100.0%) are over the threshold" in err[1]
    assert "(PSI against it: rpm " in err[1] and "temp" not in err[1]
    assert "retrain on a recent baseline" in err[1]


def test_score_names_sentinels_as_the_cause_of_an_alarm_storm(trained_cli, tmp_path, capsys):
    """Two sentinel readings flag every window that holds one (a window's worth each): over
    5% of a short file's windows alarmed, and the note said 'no feature's values moved ...:
    the change is in how the features move together or over time', naming no cause."""
    x = normal_series(400, seed=7)
    x[150, 1], x[300, 0] = 1e39, -1e30
    data = write_csv(tmp_path / "sentinels.csv", x, timestamps=True)
    assert main(["score", "--model", str(trained_cli / "model"), "--data", str(data), "--out",
                 str(tmp_path / "s.csv"), "--quiet"]) == 0  # no progress line (see above)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[1].startswith("note: ")
    assert err[1].endswith("no feature's values moved from the training baseline (PSI under "
                           "0.25 each), but 2 reading(s) lie more than 10000 times their spread "
                           "from their training centre (temp, rpm), and each flags every window "
                           "that holds it: a sentinel or a unit error?")


def test_score_alerts_leave_out_the_rows_serve_dead_letters(trained_cli, tmp_path, capsys):
    """score --alerts filled a row's missing cell by --nan-policy (the model's reject refused
    the file), where serve sends such an event to the dead-letter topic and never windows
    it: the windows, hence the alerts, were not serve's. Now those rows are left out as serve
    leaves them out (before late rows are found: a left-out row stamped ahead makes no row
    after it late), a note names them, and the alert topic's records are equal: an empty
    cell (sent as null), nan and inf, one inside the incident."""
    x = normal_series(300, seed=3)
    x[150:158, 1] += 40 * x[:100, 1].std()  # an incident on rpm
    data = write_csv(tmp_path / "pump-7.csv", x, timestamps=True)
    lines = data.read_text().splitlines(keepends=True)  # line i + 1 is row i

    def cell(row, col, text):  # col 1: temp, 2: rpm, 3: flow
        parts = lines[row + 1].rstrip("\n").split(",")
        parts[col] = text
        lines[row + 1] = ",".join(parts) + "\n"

    cell(100, 1, "")
    cell(153, 2, "nan")
    cell(230, 3, "inf")
    stamp = lines[236].split(",")[0]  # row 230 stamped ahead of rows 231-234
    lines[231] = ",".join([stamp, *lines[231].split(",")[1:]])
    data.write_text("".join(lines))
    serve = {"alerts": {"consecutive": 2, "cooldown_seconds": 0.0, "resolve_windows": 3}}
    cfg_file = tmp_path / "serve.yaml"
    cfg_file.write_text(json.dumps({"serve": serve}))
    out, scores = tmp_path / "alerts.jsonl", tmp_path / "s.csv"
    model = str(trained_cli / "model")
    assert main(["score", "--model", model, "--data", str(data), "--out", str(scores),
                 "--alerts", str(out), "--config", str(cfg_file)]) == 0
    err = capsys.readouterr().err
    assert (f"note: {data}: 3 row(s) left out, as serve sends such an event to the "
            f"dead-letter topic (non_finite: a value is NaN or infinite) and leaves it out of "
            f"the entity's windows: line 102 ('temp' missing), line 155 ('rpm' missing), "
            f"line 232 ('flow' inf); their score cells are empty\n") in err
    assert "late" not in err and "3 rows left out as serve dead-letters them" in err
    offline = [json.loads(line) for line in out.read_text().splitlines()]
    assert sum(r["status"] == "firing" for r in offline) >= 1
    assert "resolved" in [r["status"] for r in offline]

    rows = list(csv.reader(lines[1:]))
    dlq: list = []
    assert alert_topic_of(trained_cli / "model", serve, rows, dlq) == offline
    assert dlq == [(100, "non_finite"), (153, "non_finite"), (230, "non_finite")]

    # the scores are those of the same windows: the left-out rows' cells are empty
    scored = list(csv.DictReader(scores.open()))
    assert len(scored) == 300
    assert [i for i, r in enumerate(scored) if r["score"] == "" and i >= 15] == [100, 153, 230]
    assert all(r["threshold"] for r in scored)

    assert main(["score", "--model", model, "--data", str(data), "--out", str(scores),
                 "--alerts", str(out), "--nan-policy", "ffill"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--nan-policy ffill: not with --alerts" in err


def test_too_few_rows_after_the_dead_letters_are_not_blamed_on_time_order(trained_cli, tmp_path,
                                                                          capsys):
    """score --alerts on 17 rows (window 16) of which 2 have a missing cell was refused as
    'got 15 rows in time order (17 in all)': every row was in time order; the 2 were left
    out as serve dead-letters them, which the line now says."""
    data = write_csv(tmp_path / "pump-7.csv", normal_series(17, seed=5), timestamps=True)
    lines = data.read_text().splitlines(keepends=True)
    for i in (4, 9):  # rows 3 and 8: an empty rpm cell
        parts = lines[i].split(",")
        parts[2] = ""
        lines[i] = ",".join(parts)
    data.write_text("".join(lines))
    assert main(["score", "--model", str(trained_cli / "model"), "--data", str(data),
                 "--out", str(tmp_path / "s.csv"), "--alerts", str(tmp_path / "a.jsonl")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (f"anomaly-gan: error: {data}: need at least one window of 16 rows, got "
                       f"15 rows (17 in all; 2 left out as serve dead-letters them)"), err
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "a.jsonl").exists()


def test_score_leaves_out_columns_that_are_not_features_as_serve_does(trained_cli, tmp_path,
                                                                     capsys):
    """serve.unknown_features: ignore leaves out an event's values the model does not know,
    while score refused a CSV column of such a name, --config with the setting or not. Now
    score, with the setting, scores what it scores without the column and says so in one
    line; without it, the refusal names the setting."""
    plain = write_csv(tmp_path / "plain.csv", normal_series(300, seed=4), timestamps=True)
    lines = plain.read_text().splitlines()
    extra = tmp_path / "extra.csv"
    extra.write_text("".join(f"{ts},{'site' if i == 0 else i % 3},{rest}\n" for i, (ts, rest)
                             in enumerate(line.split(",", 1) for line in lines)))
    cfg_file = tmp_path / "serve.yaml"
    cfg_file.write_text(json.dumps({"serve": {"unknown_features": "ignore"}}))
    model = str(trained_cli / "model")
    assert main(["score", "--model", model, "--data", str(plain),
                 "--out", str(tmp_path / "plain_scores.csv")]) == 0
    capsys.readouterr()
    assert main(["score", "--model", model, "--data", str(extra), "--config", str(cfg_file),
                 "--out", str(tmp_path / "extra_scores.csv")]) == 0
    err = capsys.readouterr().err
    assert (f"note: {extra}: column(s) site left out: not features of the model "
            f"(serve.unknown_features: ignore, as serve leaves them out of an event)\n") in err
    assert ((tmp_path / "extra_scores.csv").read_text()
            == (tmp_path / "plain_scores.csv").read_text())
    assert main(["score", "--model", model, "--data", str(extra),
                 "--out", str(tmp_path / "refused.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.rstrip().endswith(
        "(unexpected columns site); expected temp, rpm, flow (serve.unknown_features: ignore "
        "leaves them out, as in serve)"), err


def test_score_alerts_are_the_records_serve_sends_for_the_file(trained_cli, tmp_path, capsys):
    """score --alerts: before deploying, the alert topic's records serve would send for a
    file under serve.alerts (firing with feature_values, then resolved), the same records
    in the same order as the serve path (Scorer: intake, windows, debounce, publisher) sends
    for the file's rows as events. A swap within serve.windows.reorder_tolerance_seconds is
    reordered alike."""

    x = normal_series(300, seed=3)
    x[150:158, 1] += 40 * x[:100, 1].std()  # an incident on rpm
    data = write_csv(tmp_path / "pump-7.csv", x, timestamps=True)
    lines = data.read_text().splitlines(keepends=True)
    lines[201], lines[202] = lines[202], lines[201]  # one second out of order
    data.write_text("".join(lines))
    serve = {"alerts": {"consecutive": 2, "cooldown_seconds": 0.0, "resolve_windows": 3},
             "windows": {"reorder_tolerance_seconds": 2.0}}
    cfg_file = tmp_path / "serve.yaml"
    cfg_file.write_text(json.dumps({"serve": serve}))
    out = tmp_path / "alerts.jsonl"
    assert main(["score", "--model", str(trained_cli / "model"), "--data", str(data),
                 "--out", str(tmp_path / "s.csv"), "--alerts", str(out),
                 "--config", str(cfg_file)]) == 0
    err = capsys.readouterr().err
    offline = [json.loads(line) for line in out.read_text().splitlines()]
    firing = sum(r["status"] == "firing" for r in offline)
    assert firing >= 1 and len(offline) - firing >= 1
    assert (f"alerts: {firing} firing, {len(offline) - firing} resolved, as serve would send "
            f"them for entity 'pump-7' (serve.alerts: consecutive 2, cooldown_seconds 0, "
            f"resolve_windows 3) -> {out}") in err
    assert "late rows" not in err  # the swap is reordered, not dropped

    rows = list(csv.reader(lines[1:]))
    assert alert_topic_of(trained_cli / "model", serve, rows) == offline
    assert [r["status"] for r in offline].index("resolved") > 0
    version = json.loads((trained_cli / "model" / "metadata.json").read_text())["version"]
    assert all(r["model_version"] == version and "feature_values" in r
               for r in offline if r["status"] == "firing")

    # - writes them to standard output when the scores go to a file
    assert main(["score", "--model", str(trained_cli / "model"), "--data", str(data),
                 "--out", str(tmp_path / "s.csv"), "--alerts", "-",
                 "--config", str(cfg_file)]) == 0
    assert capsys.readouterr().out == out.read_text()
    assert main(["score", "--model", str(trained_cli / "model"), "--data", str(data),
                 "--out", "-", "--alerts", "-"]) == 2
    assert "--alerts -: --out - already writes" in capsys.readouterr().err
    untimed = write_csv(tmp_path / "untimed.csv", x)
    assert main(["score", "--model", str(trained_cli / "model"), "--data", str(untimed),
                 "--out", str(tmp_path / "s2.csv"), "--alerts", str(tmp_path / "a2.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--alerts: {untimed} has no timestamp column" in err
    assert not (tmp_path / "s2.csv").exists() and not (tmp_path / "a2.jsonl").exists()
    # with a missing cell too: the timestamp column is what is wrong. The missing cell's
    # error came first, saying to pass --nan-policy, which --alerts then refused
    gap = x.copy()
    gap[5, 1] = np.nan
    untimed = write_csv(tmp_path / "untimed-gap.csv", gap)
    assert main(["score", "--model", str(trained_cli / "model"), "--data", str(untimed),
                 "--out", str(tmp_path / "s2.csv"), "--alerts", str(tmp_path / "a2.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--alerts: {untimed} has no timestamp column" in err


def test_score_alerts_notes_a_cooldown_no_longer_than_the_rows_step(trained_cli, tmp_path,
                                                                     capsys):
    """The default cooldown (300 s) on 5-minute rows, as a Prometheus export at a 5m step
    has them, re-alerted on every anomalous window (59 alerts for one 30-row incident) and
    nothing said why. Here: rows a second apart, the same with a cooldown of 1 s."""
    x = normal_series(300, seed=3)
    x[150:170, 1] += 40 * x[:100, 1].std()  # an incident on rpm
    data = write_csv(tmp_path / "pump-7.csv", x, timestamps=True)
    cfg_file = tmp_path / "serve.yaml"
    notes = []
    for cooldown in (1.0, 3.0):
        cfg_file.write_text(json.dumps({"serve": {"alerts": {"consecutive": 2,
                                                             "cooldown_seconds": cooldown}}}))
        assert main(["score", "--model", str(trained_cli / "model"), "--data", str(data),
                     "--out", str(tmp_path / "s.csv"), "--alerts", str(tmp_path / "a.jsonl"),
                     "--config", str(cfg_file)]) == 0
        alerts = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
        notes.append([line for line in capsys.readouterr().err.splitlines()
                      if "cooldown_seconds (" in line])
    repeats = sum(r["consecutive_windows"] > 2 for r in alerts)
    assert len(alerts) >= 3 and repeats >= 2  # cooldown 3 s: an alert every 3 windows
    assert notes[1] == []
    (note,) = notes[0]
    assert note.startswith("note: serve.alerts.cooldown_seconds (1) is not longer than the "
                           "rows' step (1 s), so an entity that stays anomalous alerts again "
                           "on every window (")
    assert note.endswith("repeat an ongoing run); set it (score --config) to how often an "
                         "ongoing incident should repeat")


def test_score_alerts_scores_each_window_once(trained_cli, tmp_path, monkeypatch, capsys):
    """score --alerts ran the model over the file's windows again after score had scored
    them: twice the model time (0.75 s more of 1.5 s on a 50,000-row file). The alerts now
    take the windows' scores from the series score computed."""
    from anomaly_gan.detector import Detector

    x = normal_series(300, seed=3)
    x[150:158, 1] += 40 * x[:100, 1].std()
    data = write_csv(tmp_path / "pump-7.csv", x, timestamps=True)
    scored = []
    score_windows = Detector.score_windows

    def counted(self, windows):
        scored.append(len(windows))
        return score_windows(self, windows)

    monkeypatch.setattr(Detector, "score_windows", counted)
    assert main(["score", "--model", str(trained_cli / "model"), "--data", str(data),
                 "--out", str(tmp_path / "s.csv"), "--alerts", str(tmp_path / "a.jsonl")]) == 0
    assert "alerts: 0 firing" not in capsys.readouterr().err
    assert sum(scored) == 300 - 16 + 1  # each window of the series once


def test_score_alerts_that_cannot_be_written_leave_the_scores_as_they_were(trained_cli, tmp_path,
                                                                           monkeypatch, capsys):
    """score wrote (replaced) the scores CSV, then failed to write --alerts (a full disk):
    half the output, the old scores gone. Both files are renamed into place only once both
    are written."""
    import errno

    from anomaly_gan.stream import alerts as alerts_module

    x = normal_series(300, seed=3)
    x[150:158, 1] += 40 * x[:100, 1].std()
    data = write_csv(tmp_path / "pump-7.csv", x, timestamps=True)
    scores = tmp_path / "s.csv"
    scores.write_text("yesterday's scores\n")

    def full_disk(record):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(alerts_module, "dumps", full_disk)
    assert main(["score", "--model", str(trained_cli / "model"), "--data", str(data),
                 "--out", str(scores), "--alerts", str(tmp_path / "a.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err == f"anomaly-gan: error: {tmp_path / 'a.jsonl'}: cannot write: No space left on device\n"
    assert scores.read_text() == "yesterday's scores\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pump-7.csv", "s.csv"]


def test_score_config_says_its_other_sections_are_not_used(trained_cli, tmp_path, capsys):
    """score --config takes only the file's serve: section, and said nothing of the others:
    serve's config file with a data: window of 4 left the reader thinking the file was
    scored with 4-row windows. A note names the sections that differ from the model's;
    the scores are the bundle's either way."""
    x = normal_series(100, seed=3)
    data = write_csv(tmp_path / "pump-7.csv", x, timestamps=True)
    model = str(trained_cli / "model")
    assert main(["score", "--model", model, "--data", str(data), "--out",
                 str(tmp_path / "plain.csv")]) == 0
    capsys.readouterr()
    cfg = tmp_path / "serve.yaml"
    cfg.write_text("data: {window: 4}\ntraining: {epochs: 3}\n"
                   "serve: {alerts: {consecutive: 1}}\n")
    assert main(["score", "--model", model, "--data", str(data), "--out",
                 str(tmp_path / "s.csv"), "--config", str(cfg)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (f"note: --config {cfg}: only its serve: section is used; its data: "
                      f"differs from the model's and is left out (the model scores as trained)")
    assert (tmp_path / "s.csv").read_text() == (tmp_path / "plain.csv").read_text()
    cfg.write_text("serve: {alerts: {consecutive: 1}}\n")  # nothing else: no note
    assert main(["score", "--model", model, "--data", str(data), "--out",
                 str(tmp_path / "s.csv"), "--config", str(cfg)]) == 0
    assert "note: --config" not in capsys.readouterr().err


def test_score_alerts_applies_the_silences_serve_applies(trained_cli, tmp_path, capsys):
    """score --alerts --config with serve.alerts.silences_path keeps back the alerts serve
    keeps back (the same silences, by window end), and a bad silences file is one line."""

    x = normal_series(300, seed=3)
    x[120:126, 1] += 40 * x[:100, 1].std()  # two incidents on rpm
    x[200:206, 1] += 40 * x[:100, 1].std()
    data = write_csv(tmp_path / "pump-7.csv", x, timestamps=True)
    rows = list(csv.reader(data.read_text().splitlines()[1:]))
    plain = {"alerts": {"consecutive": 2, "cooldown_seconds": 0.0, "resolve_windows": 3}}
    (tmp_path / "plain.yaml").write_text(json.dumps({"serve": plain}))
    model = str(trained_cli / "model")
    assert main(["score", "--model", model, "--data", str(data), "--out",
                 str(tmp_path / "s.csv"), "--alerts", str(tmp_path / "all.jsonl"),
                 "--config", str(tmp_path / "plain.yaml")]) == 0
    every = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    ends = [r["window_end_ts"] for r in every if r["status"] == "firing"]
    from datetime import datetime

    cut = datetime.fromisoformat(rows[160][0]).timestamp()  # between the incidents
    assert ends[0] < cut < ends[-1]  # alerts of both incidents
    silences = tmp_path / "silences.yaml"
    silences.write_text(f"silences:\n- entity: pump-*\n  end: {rows[160][0]}\n"
                        f"  comment: first incident is maintenance\n")
    serve = {**plain, "alerts": {**plain["alerts"], "silences_path": str(silences)}}
    (tmp_path / "muted.yaml").write_text(json.dumps({"serve": serve}))
    out = tmp_path / "muted.jsonl"
    assert main(["score", "--model", model, "--data", str(data), "--out",
                 str(tmp_path / "s.csv"), "--alerts", str(out),
                 "--config", str(tmp_path / "muted.yaml")]) == 0
    offline = [json.loads(line) for line in out.read_text().splitlines()]
    first = [r for r in every if (r.get("window_end_ts") or r["resolved_at_ts"]) < cut]
    assert offline == every[len(first):]  # the first incident, its resolution too, kept back
    muted = sum(r["status"] == "firing" for r in first)
    assert f"; {muted} silenced by the 1 silences of {silences}) -> {out}" in \
        capsys.readouterr().err

    assert alert_topic_of(trained_cli / "model", serve, rows) == offline

    silences.write_text("silences:\n- entity: pump-7\n")
    assert main(["score", "--model", model, "--data", str(data), "--out",
                 str(tmp_path / "s3.csv"), "--alerts", str(tmp_path / "a3.jsonl"),
                 "--config", str(tmp_path / "muted.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{silences}: silences[0].end: expected" in err
    assert main(["validate-config", str(tmp_path / "muted.yaml")]) == 2
    assert f"{silences}: silences[0].end: expected" in capsys.readouterr().err


def test_score_alerts_of_a_compressed_file_are_its_entitys(trained_cli, tmp_path, capsys):
    """pump-7.csv.gz holds pump-7's rows: its alerts were entity 'pump-7.csv' (the name
    less .gz), which serve never sends, and a silence of pump-7 kept none of them back."""
    import gzip

    x = normal_series(300, seed=3)
    x[120:126, 1] += 40 * x[:100, 1].std()  # an incident on rpm
    plain = write_csv(tmp_path / "plain.csv", x, timestamps=True)
    data = tmp_path / "pump-7.csv.gz"
    data.write_bytes(gzip.compress(plain.read_bytes()))
    silences = tmp_path / "silences.yaml"
    silences.write_text("silences:\n- entity: pump-7\n  end: 9999-12-31T00:00:00Z\n")
    (tmp_path / "muted.yaml").write_text(json.dumps({"serve": {"alerts": {
        "consecutive": 2, "cooldown_seconds": 0.0, "silences_path": str(silences)}}}))
    out = tmp_path / "a.jsonl"
    assert main(["score", "--model", str(trained_cli / "model"), "--data", str(data),
                 "--out", str(tmp_path / "s.csv"), "--alerts", str(out),
                 "--config", str(tmp_path / "muted.yaml")]) == 0
    err = capsys.readouterr().err
    assert "as serve would send them for entity 'pump-7' " in err, err
    assert out.read_text() == "" and "; 0 silenced" not in err


def test_validate_config_names_a_silence_of_every_entity(tmp_path, capsys):
    silences = tmp_path / "silences.yaml"
    silences.write_text("silences:\n- {entity: pump-7, end: 5}\n- {entity: '*', end: 9}\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"serve:\n  alerts:\n    silences_path: {silences}\n")
    assert main(["validate-config", str(cfg)]) == 0
    assert capsys.readouterr().out.endswith(
        f"2 silences in {silences}, 1 of them muting every entity ('*'))\n")


def test_scoring_says_how_far_it_has_got_on_a_long_file(capsys, monkeypatch):
    """score, evaluate and plot scored a month of rows for minutes without a word on
    stderr. A line comes once PROGRESS_SECONDS have passed since the command started, then
    at most one per PROGRESS_SECONDS; a file scored sooner prints none."""
    from anomaly_gan import cli

    monkeypatch.setattr(cli, "PROGRESS_SECONDS", 10.0)  # the shipped interval
    now = [100.0]
    say = cli._scoring_progress("score", lambda: now[0])
    for done, at in ((4096, 104.0), (8192, 111.0), (12288, 118.0), (16000, 122.0)):
        now[0] = at
        say(done, 16000)
    assert capsys.readouterr().err.splitlines() == [
        "score: scored 8,192 of 16,000 windows (51%) in 11s",
        "score: scored 16,000 of 16,000 windows (100%) in 22s",
    ]


def write_epoch_csv(path, x):
    """``x`` under a header, each row stamped in epoch seconds a second apart."""
    with path.open("w") as fh:
        fh.write("timestamp,temp,rpm,flow\n")
        fh.writelines(f"{1767225600 + i},{a:.6f},{b:.6f},{c:.6f}\n"
                      for i, (a, b, c) in enumerate(x))
    return path


PROBE_TINY_THROTTLE = """
import json, sys
from anomaly_gan import cli
cli.PROGRESS_SECONDS = 1e-9
rc = cli.main(json.loads(sys.argv[1]))
print(json.dumps({"rc": rc, "tensorflow": "tensorflow" in sys.modules}))
"""


@pytest.mark.parametrize("quiet", [False, True])
def test_reading_a_long_file_says_how_far_it_has_got_before_tensorflow(trained_cli, tmp_path,
                                                                      quiet):
    """score read 2 million rows for 12 s without a word (the first line came from scoring,
    21 s in). Now the rows and MB read come through the same throttle as the scoring lines,
    before TensorFlow is imported: here a file whose last row is refused stops before it,
    after two lines on the blocks read; --quiet silences them, not the error."""
    data = write_epoch_csv(tmp_path / "long.csv", normal_series(20_000))
    with data.open("a") as fh:
        fh.write("1767300000,warm,1,1\n")
    argv = ["score", "--model", str(trained_cli / "model"), "--data", str(data),
            "--out", str(tmp_path / "s.csv"), *(["--quiet"] if quiet else [])]
    r = subprocess.run([sys.executable, "-c", PROBE_TINY_THROTTLE, json.dumps(argv)],
                       capture_output=True, text=True, check=True)
    assert json.loads(r.stdout) == {"rc": 2, "tensorflow": False}
    lines = r.stderr.splitlines()
    assert lines[-1] == f"anomaly-gan: error: {data}: line 20002, column 'temp': not a number: 'warm'"
    size = f"{data.stat().st_size / 1e6:,.1f}"
    reading = [line for line in lines if line.startswith("score: read ")]
    if quiet:
        assert reading == [] and len(lines) == 1
    else:
        assert [line.split(" (")[0] for line in reading] == [
            f"score: read {n:,} rows" for n in (8192, 16384)]
        assert f" MB) of {data} in " in reading[0] and f" of {size} MB)" in reading[0]


@pytest.mark.parametrize("quiet", [False, True])
@pytest.mark.parametrize("command", ["train", "retrain"])
def test_train_and_retrain_say_how_far_reading_a_long_file_has_got(tmp_path, command, quiet):
    """train and retrain --data read a file in silence (2 million rows: 64 s before
    train's first line). Now they say how far they have read as score does, before
    TensorFlow is imported (the file's last row is refused here); --quiet silences that,
    not the error (nor retrain's phase lines)."""
    data = write_epoch_csv(tmp_path / "long.csv", normal_series(20_000))
    with data.open("a") as fh:
        fh.write("1767300000,warm,1,1\n")
    out = (["--out", str(tmp_path / "m")] if command == "train"
           else ["--store", str(tmp_path / "store")])
    argv = [command, "--data", str(data), *out, *(["--quiet"] if quiet else [])]
    r = subprocess.run([sys.executable, "-c", PROBE_TINY_THROTTLE, json.dumps(argv)],
                       capture_output=True, text=True, check=True)
    assert json.loads(r.stdout) == {"rc": 2, "tensorflow": False}
    lines = r.stderr.splitlines()
    assert lines[-1] == f"anomaly-gan: error: {data}: line 20002, column 'temp': not a number: 'warm'"
    reading = [line for line in lines if line.startswith(f"{command}: read ")]
    if quiet:
        assert reading == [] and all(line.startswith("[read] ") for line in lines[:-1])
    else:
        assert [line.split(" (")[0] for line in reading] == [
            f"{command}: read {n:,} rows" for n in (8192, 16384)]
        size = f"{data.stat().st_size / 1e6:,.1f}"
        assert f" of {size} MB) of {data} in " in reading[0]


@pytest.mark.parametrize("quiet", [False, True])
def test_reading_a_long_parquet_file_says_how_far_it_has_got(trained_cli, tmp_path, quiet):
    """A Parquet file printed no line while it was read (2 million rows: 38 s in silence
    before the line on loading the model); now one per row group read, in the CSV file's
    words, before TensorFlow is imported; --quiet silences them, not the error."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    x = normal_series(300)
    x[-1, 0] = np.nan  # refused by the model's nan_policy (reject) once read
    stamps = pa.array((1767225600 + np.arange(300)) * 1000, pa.timestamp("ms", tz="UTC"))
    data = tmp_path / "long.parquet"
    pq.write_table(pa.table({"timestamp": stamps, "temp": x[:, 0], "rpm": x[:, 1],
                             "flow": x[:, 2]}), data, row_group_size=128)
    argv = ["score", "--model", str(trained_cli / "model"), "--data", str(data),
            "--out", str(tmp_path / "s.csv"), *(["--quiet"] if quiet else [])]
    r = subprocess.run([sys.executable, "-c", PROBE_TINY_THROTTLE, json.dumps(argv)],
                       capture_output=True, text=True, check=True)
    assert json.loads(r.stdout) == {"rc": 2, "tensorflow": False}
    lines = r.stderr.splitlines()
    assert lines[-1].startswith(f"anomaly-gan: error: {data}: row 300, column 'temp': missing")
    reading = [line for line in lines if line.startswith("score: read ")]
    if quiet:
        assert reading == [] and len(lines) == 1
    else:
        assert [line.split(" (")[0] for line in reading] == [
            f"score: read {n} rows" for n in (128, 256, 300)]
        size = f"{data.stat().st_size / 1e6:,.1f}"
        assert f" of {size} MB) of {data} in " in reading[0]


def test_reading_a_metric_file_counts_its_lines(tmp_path, capsys, monkeypatch):
    """An OpenTelemetry metric file's rows are made once it is all read: its progress
    lines count the lines (or messages) read."""
    from anomaly_gan import cli

    path = tmp_path / "m.jsonl"
    path.write_bytes(b"{}\n" * 1000)
    monkeypatch.setattr(cli, "PROGRESS_SECONDS", 10.0)  # the shipped interval
    now = [100.0]
    say = cli._scoring_progress("score", lambda: now[0]).reading(str(path))
    now[0] = 111.0
    say(600, 1800, "lines")
    assert capsys.readouterr().err == (f"score: read 600 lines (0.0 of 0.0 MB) of {path} "
                                       f"in 11s\n")


def test_quiet_score_and_evaluate_keep_the_summary_and_drop_the_progress(trained_cli,
                                                                         tmp_path, capsys,
                                                                         monkeypatch):
    """With a throttle that lets every line through, score says how far it read and
    scored and that the model is loading; --quiet leaves only the summary line (score) and
    the metrics (evaluate), the same scores either way."""
    from anomaly_gan import cli

    monkeypatch.setattr(cli, "PROGRESS_SECONDS", 0.0)
    data = write_epoch_csv(tmp_path / "long.csv", normal_series(10_000))
    model = str(trained_cli / "model")
    scores = {}
    for quiet in (False, True):
        out = tmp_path / f"s-{quiet}.csv"
        assert main(["score", "--model", model, "--data", str(data), "--out", str(out),
                     *(["--quiet"] if quiet else [])]) == 0
        scores[quiet] = out.read_bytes()
        lines = capsys.readouterr().err.splitlines()
        if quiet:
            assert len(lines) == 1 and lines[0].startswith("scored 10000 rows")
        else:
            assert lines[0].startswith("score: read 8,192 rows (")
            assert lines[1].startswith("score: read 10,000 rows (")
            assert lines[2].startswith("score: read 10,000 rows in ")
            assert lines[2].endswith("s; loading the model")
            assert lines[3].startswith("score: scored ") and " windows (" in lines[3]
            assert lines[-1].startswith("scored 10000 rows")
    assert scores[False] == scores[True]
    labels = tmp_path / "labels.csv"
    labels.write_text("label\n" + "0\n" * 9_990 + "1\n" * 10)
    assert main(["evaluate", "--model", model, "--data", str(data), "--labels", str(labels),
                 "--json", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["rows"] == 10_000 and err == ""


def test_a_signal_after_the_command_ended_does_not_change_its_exit_code():
    """After the command returns, the interpreter's exit (TensorFlow's teardown) takes about
    a second with Python's default handlers back: a SIGTERM then ended the process with 143
    after a retrain had promoted its version and printed its report. Here the signal comes
    from an exit handler, that is, during the exit itself."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = ("import atexit, os, signal, sys, time\n"
            "from anomaly_gan.cli import console\n"
            "atexit.register(lambda: (os.kill(os.getpid(), signal.SIGTERM), time.sleep(0.5)))\n"
            "sys.exit(console(['validate-config', 'configs/default.yaml']))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": root})
    assert done.returncode == 0, (done.returncode, done.stderr)


# The signal lands while the command line is parsed: build_parser imports the retrain and
# stream commands, about 0.3 s, most of a `models rollback` or `prune`.
_SIGNAL_WHILE_PARSING = """
import os, signal, sys
from anomaly_gan import cli

real = cli.build_parser

def build_parser():
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    return real()

cli.build_parser = build_parser
sys.exit(cli.console(["validate-config", "configs/default.yaml"]))
"""


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_signal_while_the_command_line_is_parsed_exits_130_in_one_line(signame):
    """A Ctrl-C in a command's first 0.3 s (its parser imports the retrain and serve
    commands) ended in a KeyboardInterrupt traceback and status -2, a SIGTERM in status 143:
    60% of `models rollback` and `prune` SIGTERMs in the probe of 2026-12-07, though `models`
    is documented to exit 130 for both."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", _SIGNAL_WHILE_PARSING, signame], cwd=root,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": root})
    assert (done.returncode, done.stderr) == (130, "anomaly-gan: interrupted\n")
    assert done.stdout == ""


@pytest.mark.parametrize("signame, code", [("SIGINT", 0), ("SIGTERM", 130)])
def test_a_command_started_with_ctrl_c_ignored_keeps_it_ignored(signame, code):
    """A shell runs a script's background job (``anomaly-gan serve &``) with SIGINT ignored,
    so that a Ctrl-C for the script leaves it running; every command put its own handler in
    its place, and the Ctrl-C stopped it (exit 130). SIGTERM still stops it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", _SIGNAL_WHILE_PARSING, signame], cwd=root,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": root},
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert done.returncode == code, done.stderr


# The signal lands while PyYAML is imported (the parser is built): the one line must not
# import anything that imports it again.
_SIGNAL_WHILE_YAML_IS_IMPORTED = """
import sys
from anomaly_gan import cli

class InterruptOnce:
    fired = False

    def find_spec(self, name, path=None, target=None):
        if name == "yaml.parser" and not InterruptOnce.fired:
            InterruptOnce.fired = True
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, InterruptOnce())
sys.exit(cli.console(["validate-config", "configs/default.yaml"]))
"""


def test_a_signal_that_cuts_an_import_short_still_exits_130_in_one_line():
    """The last words imported the serve modules to tell JSON logs: after a Ctrl-C inside
    PyYAML's import, that import met the half-imported module, and the command ended in an
    ``AttributeError: partially initialized module 'yaml'`` traceback, status 1."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", _SIGNAL_WHILE_YAML_IS_IMPORTED], cwd=root,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": root})
    assert (done.returncode, done.stderr) == (130, "anomaly-gan: interrupted\n")


# score with the signal landing while its CSV is half written into its temporary file
_SIGNAL_WHILE_WRITING = """
import os, signal, sys
from anomaly_gan import cli, files

real = files._stage

def stage(path, write, binary):
    def half_then_signalled(fh):
        fh.write("index,score\\n0,")
        fh.flush()
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
        write(fh)
    return real(path, half_then_signalled, binary)

files._stage = stage
sys.exit(cli.console(sys.argv[2:]))
"""


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_score_stopped_while_writing_leaves_no_temporary_file(trained_cli, tmp_path, signame):
    """SIGTERM (a Job deleted, a node drained) ended `score` by the signal, 143, while it
    wrote its CSV: the half-written temporary `.s.csv.XXXXXXXX` stayed beside the output for
    good (no later run removes it). Now it ends as Ctrl-C does: 130, one line, the previous
    file kept, nothing else left."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tmp_path / "out"
    out.mkdir()
    (out / "s.csv").write_text("previous\n")
    test = write_csv(tmp_path / "test.csv", normal_series(300), timestamps=True)
    done = subprocess.run(
        [sys.executable, "-c", _SIGNAL_WHILE_WRITING, signame, "score", "--quiet", "--model",
         str(trained_cli / "model"), "--data", str(test), "--out", str(out / "s.csv")],
        cwd=root, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": root})
    assert done.returncode == 130, (done.returncode, done.stderr[-2000:])
    assert done.stderr.strip().splitlines()[-1] == "anomaly-gan: interrupted"
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["s.csv"]
    assert (out / "s.csv").read_text() == "previous\n"


@pytest.mark.parametrize("argv, names", [
    ([], "the following arguments are required: COMMAND (see anomaly-gan --help)"),
    (["nope"], "invalid choice: 'nope'"),
    (["train", "--data", "x.csv"], ("anomaly-gan train: error: the following arguments are "
                                    "required: --out (see anomaly-gan train --help)")),
    (["score", "--nan-policy", "x"], "argument --nan-policy: invalid choice: 'x'"),
    # an option of no such name: the subcommand's line and --help, where its options are
    (["models", "list", "--keep", "2"], ("anomaly-gan models list: error: unrecognized "
                                         "arguments: --keep 2 (see anomaly-gan models list "
                                         "--help)")),
    (["train", "--data", "x.csv", "--out", "m", "--epochs", "5"], (
        "anomaly-gan train: error: unrecognized arguments: --epochs 5 (see anomaly-gan train "
        "--help)")),
    (["--bogus", "validate-config", "c.yaml"], ("anomaly-gan: error: unrecognized arguments: "
                                                "--bogus (see anomaly-gan --help)")),
])
def test_a_usage_error_is_one_line_naming_help_with_exit_2(argv, names, capsys):
    """argparse printed its usage block above the error line; every other refusal of bad
    input is one line, and so is this one (the usage is one ``--help`` away)."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.count("\n") == 1 and err.endswith("--help)\n") and names in err, err
