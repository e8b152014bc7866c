"""train_detector's notes to the operator: what a short or incomplete baseline costs."""

import numpy as np
import pytest

from anomaly_gan.config import ThresholdConfig, TrainingConfig, config_from_dict
from anomaly_gan.scoring import fit_threshold
from anomaly_gan.train import (
    attempt_settings,
    fit_threshold_both,
    threshold_windows_needed,
    train_detector,
)
from tests.support_models import FEATURES, normal_series, plumbing_config, tiny_config


def test_windows_needed_follow_the_threshold_method():
    assert threshold_windows_needed(ThresholdConfig(quantile=0.99)) == 100
    assert threshold_windows_needed(ThresholdConfig(method="pot", pot_initial_quantile=0.98)) == 50


def _train(rows: int, flat_feature: bool, counter: bool = False, drift: bool = False,
           epoch_ms: bool = False):
    x = normal_series(rows)
    if epoch_ms:
        x[:, 0] = 1767225600000.0 + 60_000.0 * np.arange(rows)  # a time column named 'temp'
    if flat_feature:
        x[:, 2] = 4.0  # a flag that never fires in this baseline
    if counter:
        x[:, 1] = np.cumsum(np.round(np.abs(x[:, 1])))  # a running total, exported as is
    if drift:
        x[:, 0] += np.linspace(0.0, 20.0 * x[:, 0].std(), rows)  # a value walking away
    said: list[str] = []
    det = train_detector(plumbing_config(epochs=1, allow_unhealthy=True), x, FEATURES,
                         progress=said.append)
    return det.metadata["training_data"], [s for s in said if s.startswith("note:")]


@pytest.mark.slow
def test_a_short_baseline_is_named_on_stderr_and_in_the_metadata():
    data, notes = _train(300, flat_feature=True)  # window 16: 60 held-out rows, 45 windows
    assert data["held_out_windows"] == 45 and data["threshold_windows_needed"] == 200
    assert data["constant_features"] == [FEATURES[2]]
    assert len(notes) == 2
    assert FEATURES[2] in notes[0] and "never change" in notes[0]
    assert "45 held-out windows" in notes[1] and "a 0.995 quantile needs 200 or more" in notes[1]
    assert "extrapolated" in notes[1]


@pytest.mark.slow
def test_the_threshold_note_counts_the_held_out_rows_of_every_series():
    """Two 300-row series hold out 60 rows each: the note said 'the last 120 rows', as if
    one stretch of one series."""
    said: list[str] = []
    train_detector(plumbing_config(epochs=1, allow_unhealthy=True),
                   [normal_series(300), normal_series(300, seed=1)], FEATURES,
                   progress=said.append)
    [note] = [s for s in said if s.startswith("note: the threshold")]
    assert "90 held-out windows (120 rows from 2 series)" in note


@pytest.mark.slow
def test_a_long_enough_baseline_gets_no_notes():
    data, notes = _train(1300, flat_feature=False)  # 260 held-out rows, 245 windows
    assert data["held_out_windows"] == 245 and data["constant_features"] == []
    assert data["drifting_features"] == [] and notes == []


@pytest.mark.slow
def test_a_running_total_is_named_on_stderr_and_in_the_metadata():
    data, notes = _train(400, flat_feature=False, counter=True)
    assert data["counter_features"] == [FEATURES[1]] and data["constant_features"] == []
    counter_notes = [n for n in notes if "only ever rise" in n]  # the other: the threshold
    assert len(counter_notes) == 1 and len(notes) == 2
    assert FEATURES[1] in counter_notes[0] and "list them in data.counters" in counter_notes[0]


@pytest.mark.slow
def test_a_listed_counter_whose_increases_rise_is_not_told_to_be_listed():
    """The rows of a data.counters feature are its increases: where they only ever rise
    (a total of totals, or a rate growing over the whole baseline) the note said to list
    it in data.counters, where it already was."""
    import dataclasses

    x = normal_series(400)
    x[:, 1] = np.cumsum(np.round(np.abs(x[:, 1])))  # its increases, as the CLI gives them
    cfg = plumbing_config(epochs=1, allow_unhealthy=True)
    cfg = cfg.replace(data=dataclasses.replace(cfg.data, counters=(FEATURES[1],)))
    said: list[str] = []
    det = train_detector(cfg, x, FEATURES, progress=said.append)
    notes = [s for s in said if s.startswith("note:")]
    assert det.metadata["training_data"]["counter_features"] == []
    assert not [n for n in notes if "list them in data.counters" in n
                or "differences between rows" in n]
    [note] = [n for n in notes if "of data.counters grow" in n]
    assert FEATURES[1] in note and "a total of totals" in note


@pytest.mark.slow
def test_a_time_column_read_as_a_feature_is_named_as_one():
    """A column of epoch milliseconds under a name the readers do not take for a time
    column (epoch_ms) was trained on as a sensor; the only note called it a running total
    and said to feed its rate. Every later row then lies beyond it: 544 of the 569 windows
    of a normal continuation alarmed (1,000 rows of two sensors beside epoch_ms)."""
    data, notes = _train(400, flat_feature=False, epoch_ms=True)
    assert data["time_features"] == [FEATURES[0]]
    assert data["counter_features"] == [] and data["drifting_features"] == []
    assert not [n for n in notes if "only ever rise" in n]
    time_notes = [n for n in notes if "epoch times" in n]
    assert len(time_notes) == 1
    assert ("('temp': 2026-01-01T00:00:00.000Z to 2026-01-01T06:39:00.000Z)" in time_notes[0]
            and "name it 'timestamp' in the header line, or train with "
                "data.timestamp_column naming it" in time_notes[0])


@pytest.mark.slow
def test_a_drifting_value_is_named_on_stderr_and_in_the_metadata():
    """A value that drifts leaves its training range in the held-out rows: every later
    window scores as anomalous, and train said nothing (65% of a continuation alarmed)."""
    data, notes = _train(1300, flat_feature=False, drift=True)
    assert data["drifting_features"] == [FEATURES[0]] and data["counter_features"] == []
    assert len(notes) == 1 and "leave their training range" in notes[0]
    assert FEATURES[0] in notes[0]


def test_the_split_leaves_two_held_out_windows_or_refuses():
    """One held-out window could only be judged on the training window (the health check
    fell back to it) and would be the whole threshold: refused, naming the minimum."""
    from anomaly_gan.errors import DataError
    from anomaly_gan.train import split_series

    train, held = split_series([np.zeros((66, 2))], 32, 0.2)
    assert [len(t) for t in train] == [33] and [len(h) for h in held] == [33]  # 2 windows
    for rows in (64, 65):
        with pytest.raises(DataError, match=f"^{rows} rows is fewer than the 66 needed .*two "
                                            r"held out"):
            split_series([np.zeros((rows, 2))], 32, 0.2)
    with pytest.raises(DataError, match=r"^series 1: 40 rows is fewer than the 64 needed"):
        split_series([np.zeros((100, 2)), np.zeros((40, 2))], 32, 0.2)
    with pytest.raises(DataError, match=r": 1 row is fewer than the 66 needed"):  # not "1 rows"
        split_series([np.zeros((1, 2))], 32, 0.2)
    # Several short series hold out a window each: enough together.
    train, held = split_series([np.zeros((64, 2))] * 2, 32, 0.2)
    assert sum(len(h) - 31 for h in held) == 2


def test_a_series_too_short_beside_others_is_left_out_as_retrain_leaves_its_pieces():
    """One host of a metric file that joined minutes before the export refused the whole
    training ("(entity 'short'): 5 rows is fewer than the 16 needed"), where retrain left
    it out: of several series, those of fewer than ``2 x window`` rows are left out with a
    note; refused only where none is long enough, naming the longest."""
    from anomaly_gan.errors import DataError
    from anomaly_gan.train import leave_out_short

    names = ["m.json (entity 'web-1')", "m.json (entity 'short')", "m.json (entity 'web-2')"]
    kept, note = leave_out_short(names, [100, 5, 16], 8)
    assert kept == [0, 2]
    assert note == ("note: left out 1 of 3 series (one per entity of each file) with fewer "
                    "than the 16 rows one needs to train on (2 x data.window 8: a training and "
                    "a held-out window, the rule by which retrain leaves out pieces too short): "
                    "m.json (entity 'short') (5 rows); serve scores them as any other entity")
    assert leave_out_short(names[:2], [16, 16], 8) == ([0, 1], None)  # none too short
    many = [f"h{i}" for i in range(6)]
    _, note = leave_out_short(many, [1, 40, 2, 3, 4, 5], 8)
    assert note is not None
    assert "left out 5 of 6 series" in note
    assert ": h0 (1 row), h2 (2 rows), h3 (3 rows) (and 2 more); " in note
    # One series (a CSV, a one-host file) is kept: too_short refuses it as before, with the
    # minimum for one series.
    assert leave_out_short(["short.csv"], [5], 8) == ([0], None)
    with pytest.raises(DataError) as err:
        leave_out_short(["a.csv", "b.csv", "c.csv"], [5, 15, 3], 8)
    assert str(err.value) == ("b.csv: 15 rows, the longest of 3 series, is fewer than the 16 "
                              "needed (a training and a held-out window of data.window 8); "
                              "expected a series of at least 18 rows, or two of at least 16; "
                              "or a smaller data.window")


def test_runs_of_log_buckets_hold_out_the_newest_runs_whole():
    """Every run of log buckets ends in the silence before its gap: held out at the end of
    each run, the held-out rows were nearly all empty buckets, and 10-13% of the training
    files' own buckets alarmed. Whole runs are held out where they make a fair share."""
    from anomaly_gan.train import split_series

    runs = [np.full((80, 1), float(i)) for i in range(10)]  # run i holds the value i
    train, held = split_series(runs, 16, 0.2, run_entities=["a", "b"] * 5)
    assert [r[0, 0] for r in train] == list(range(8)) and [r[0, 0] for r in held] == [8, 9]
    assert all(len(r) == 80 for r in train + held)
    # One long run and a short newest one: no fair share of whole runs, so each run's tail.
    train, held = split_series([np.zeros((500, 1)), np.ones((80, 1))], 16, 0.2,
                               run_entities=["a", "a"])
    assert [len(r) for r in held] == [100, 16] and [len(r) for r in train] == [400, 64]
    # An entity never trained on is not held out whole (one run per entity, as in the demo).
    train, held = split_series(runs[:5], 16, 0.2, run_entities=list("abcde"))
    assert [len(r) for r in held] == [22] * 5  # the end of each run


@pytest.mark.slow
def test_mixed_float16_on_a_cpu_is_trained_with_a_note_and_scores_in_float32():
    """float16 asked for on a CPU trained silently, about 7x slower than float32 (21.7 s
    against 3.2 s for a short run on 2 cores); bfloat16 costs little there and gets no note."""
    from anomaly_gan.models.precision import detect_accelerator

    if detect_accelerator()[0] != "cpu":
        pytest.skip("the note is for CPU-only machines")
    x = normal_series(600)
    said: list[str] = []
    det = train_detector(plumbing_config(epochs=1, precision="mixed_float16", allow_unhealthy=True),
                         x, FEATURES, progress=said.append)
    notes = [s for s in said if s.startswith("note: training.precision")]
    assert len(notes) == 1 and "mixed_float16 on a CPU" in notes[0]
    assert "slower than under float32" in notes[0]
    assert det.metadata["precision"] == "mixed_float16"
    assert {w.dtype for w in det.nets["scorer"].weights} == {"float32"}
    said.clear()
    train_detector(plumbing_config(epochs=1, precision="mixed_bfloat16", allow_unhealthy=True),
                   x, FEATURES, progress=said.append)
    assert not [s for s in said if s.startswith("note: training.precision")]


@pytest.mark.slow
@pytest.mark.parametrize("warm", [False, True])
def test_a_retry_after_overfitting_trains_fewer_steps_at_the_same_learning_rate(monkeypatch,
                                                                               warm):
    """Halving the learning rate does not stop a model from memorising a short series that
    the step floor repeats hundreds of times (Loghub's OpenSSH sample: exit 3 after three
    such attempts); a retry after an attempt that overfitted trains a quarter of the steps.
    The health check's verdicts are scripted here; the training runs are real."""
    from anomaly_gan import models

    real_fit = models.fit_gan
    verdicts = iter(["overfitting: reconstruction windows explain -0.07 ...",
                     "mode collapse: reconstruction windows vary ...", None])
    seen = []

    def fit(gan, train, val, training, progress=None):
        seen.append(training)
        result = real_fit(gan, train, val, training, progress=progress)
        issue = next(verdicts)
        result.health.update(status="unhealthy" if issue else "healthy",
                             issues=[issue] if issue else [])
        return result

    monkeypatch.setattr(models, "fit_gan", fit)
    said: list[str] = []
    warmed = []
    det = train_detector(plumbing_config(epochs=2, min_steps=40, max_attempts=3), normal_series(300),
                         FEATURES, progress=said.append, init=warmed.append if warm else None)
    assert [(t.seed, t.learning_rate, t.min_steps, t.epochs) for t in seen] == [
        (0, 1e-3, 40, 2), (1, 1e-3, 10, 1), (2, 5e-4, 10, 1)]
    retries = [s for s in said if s.startswith("attempt ")]
    # A retrain's warm start copies the current version's weights into every attempt's
    # networks: they are not fresh (the line said so before).
    nets = "networks warm-started again" if warm else "fresh networks"
    assert len(warmed) == (3 if warm else 0)
    assert "retrying with seed 1, learning rate 0.001, a step floor of 10 and at most 1 " \
           f"epochs (it overfitted: fewer steps), {nets}" in retries[0]
    assert f"retrying with seed 2, learning rate 0.0005, {nets}" in retries[1]
    assert [(a["min_steps"], a["max_epochs"]) for a in det.metadata["attempts"]] == [
        (40, 2), (10, 1), (10, 1)]
    assert det.metadata["health"]["status"] == "healthy"


@pytest.mark.slow
def test_a_float16_attempt_that_overflows_is_retried_under_float32():
    """float16 holds values up to 65,504. On a flag-like feature of tiny spread with bursts
    8,000 spreads high, f-AnoGAN's critic features of the untrained encoder's
    reconstructions overflowed at the encoder phase (feat_loss inf) under mixed_float16, and
    every retry (a new seed, half the learning rate) did the same: exit 3 with the default
    model at 2,000 spreads, where float32 and mixed_bfloat16 trained healthy at once. Loss
    scaling guards the gradients, not the forward pass."""
    x = normal_series(600)
    x[:, 2] = 10 + 0.05 * np.random.default_rng(3).normal(size=len(x))
    x[::40, 2] += 8000 * 0.0674  # 0.0674: the noise's interquartile range
    said: list[str] = []
    # At a learning rate of 2e-3 the critic grows enough in 100 steps for the encoder phase to
    # overflow (feat_loss inf; 90 steps too, 80 only skipped updates); at 1e-3 it took 200
    # (120 did not), a third more CPU for the same check.
    det = train_detector(tiny_config("fanogan", epochs=3, min_steps=100, max_attempts=2,
                                     learning_rate=2e-3, precision="mixed_float16",
                                     allow_unhealthy=True),
                         x, FEATURES, progress=said.append)
    first, second = det.metadata["attempts"]
    assert any(i.startswith("non-finite losses") for i in first["issues"]), first
    assert not any(i.startswith("non-finite") for i in second["issues"]), second
    assert det.metadata["precision"] == "float32"  # what the bundle's networks were trained in
    assert (first["precision"], second["precision"]) == ("mixed_float16", "float32")
    assert (first["learning_rate"], second["learning_rate"]) == (2e-3, 1e-3)
    [retry] = [s for s in said if s.startswith("attempt 1/2")]
    assert "under float32 (float16 overflows beyond 65,504" in retry
    assert "mixed_bfloat16 or float32 avoids it" in retry


def _scale_grows_every_update(gan) -> None:
    """Each loss scale doubles after every finite update: about every other one overflows."""
    for optimizer in gan.optimizers().values():
        optimizer.dynamic_growth_steps = 1


@pytest.mark.slow
def test_a_float16_attempt_whose_loss_scaler_skips_many_updates_is_retried_under_float32():
    """The updates a LossScaleOptimizer skipped (float16 gradients that overflowed) were in
    no report. They are in metadata.json's health and attempts and in the line that ends
    training, and past health's limit the attempt is retried under float32 as an overflow
    in the forward pass is."""
    said: list[str] = []
    det = train_detector(tiny_config(epochs=8, min_steps=60, max_attempts=2,
                                     precision="mixed_float16", allow_unhealthy=True),
                         normal_series(600), FEATURES, progress=said.append,
                         init=_scale_grows_every_update)
    first, second = det.metadata["attempts"]
    assert first["precision"] == "mixed_float16"
    assert any(i.startswith("loss scaling skipped") for i in first["issues"]), first
    assert max(first["skipped_updates"].values()) > 16, first
    assert second["precision"] == "float32"
    assert second["skipped_updates"] == {"discriminator": 0, "generator": 0}
    [retry] = [s for s in said if s.startswith("attempt 1/2")]
    assert "loss scaling skipped" in retry and "under float32" in retry
    health = det.metadata["health"]
    assert all(c["skipped"] == 0 and c["steps"] > 0
               for c in health["skipped_updates"].values()), health


@pytest.mark.slow
def test_the_updates_the_loss_scaler_skipped_end_the_training_line():
    said: list[str] = []
    det = train_detector(tiny_config(epochs=8, min_steps=60, precision="mixed_float16",
                                     allow_unhealthy=True),
                         normal_series(600), FEATURES, progress=said.append,
                         init=_scale_grows_every_update)
    counts = det.metadata["health"]["skipped_updates"]
    assert counts.keys() == {"discriminator", "generator"}
    assert det.metadata["health"]["status"] == "unhealthy"
    [done] = [s for s in said if s.startswith("trained in")]
    shown = " and ".join(f"{c['skipped']}/{c['steps']} {n}" for n, c in counts.items())
    assert f"mixed_float16, loss scaling skipped {shown} updates)" in done


@pytest.mark.slow
def test_an_attempts_validation_loss_is_that_of_the_weights_it_kept():
    """Early stopping starts once the step floor is done and restores the best epoch from
    there; an attempt's best_validation_loss (which also picks among unhealthy attempts) was
    the history's lowest, here epoch 1's 0.0007 on held-out windows that the untrained
    decoder's near-zero output already fits, where the weights kept were epoch 5's (0.006)."""
    t = np.arange(600)
    x = np.column_stack([np.sin(2 * np.pi * t / 25), np.cos(2 * np.pi * t / 40)])
    x[480:] = np.median(x[:480], axis=0)  # the held-out rows: each feature at its centre
    cfg = config_from_dict({
        "model": {"kind": "ganomaly", "latent_dim": 3, "hidden": [8, 16]},
        "data": {"window": 8, "stride": 1},
        "training": {"epochs": 6, "batch_size": 32, "patience": 1, "seed": 0, "verbose": 0,
                     "precision": "float32", "learning_rate": 3e-3, "lr_schedule": "constant",
                     "min_steps": 60, "max_attempts": 1, "allow_unhealthy": True}}, "test")
    meta = train_detector(cfg, x, FEATURES[:2]).metadata
    curve, best = meta["history"]["val_rec_loss"], meta["health"]["best_epoch"]
    assert best > 1 and min(curve) < curve[best - 1]  # the case: an earlier, lower epoch
    assert meta["attempts"][0]["best_validation_loss"] == curve[best - 1]


def test_retries_after_a_float16_overflow_train_under_float32():
    f16 = TrainingConfig(precision="mixed_float16", seed=4)
    assert attempt_settings(f16, 1).precision == "mixed_float16"
    retry = attempt_settings(f16, 2, float16_overflowed=True)
    assert (retry.precision, retry.seed, retry.learning_rate) == ("float32", 6, 2.5e-4)
    assert attempt_settings(f16, 0, float16_overflowed=True) is f16


@pytest.mark.parametrize("lengths, stride, limit", [
    ((5000,), 1, 700), ((3000, 41, 2500), 2, 900), ((100, 60), 1, 10_000), ((64,), 3, 1)])
def test_training_windows_are_the_evenly_spaced_ones_copied_alone(lengths, stride, limit):
    """The training windows are the data.max_train_windows evenly spaced over every
    series' windows, as before, but only those are copied: a month of rows made an
    (n, W, F) copy of every window (4.9 GB for 1.2 million training rows of 16 features)
    before keeping 20,000 of them. Python's allocations are counted (tracemalloc)."""
    import tracemalloc

    from anomaly_gan.data.windows import evenly_spaced, sliding_windows
    from anomaly_gan.train import _windows

    rng = np.random.default_rng(0)
    series = [rng.normal(size=(n, 3)).astype(np.float32) for n in lengths]
    every = np.concatenate([sliding_windows(s, 16, stride) for s in series])
    tracemalloc.start()
    try:
        kept = _windows(series, 16, stride, limit)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(kept, evenly_spaced(every, limit))
    assert peak < 2 * kept.nbytes + (1 << 20), f"{peak >> 10} KiB for {kept.nbytes >> 10} KiB"


def test_held_out_windows_with_a_clipped_reading_are_found_from_the_rows():
    from anomaly_gan.data.scaling import EXTREME_SPREADS
    from anomaly_gan.data.windows import sliding_windows
    from anomaly_gan.train import _unclipped, _unclipped_windows

    rows = np.zeros((50, 2), np.float32)
    rows[[3, 30], [0, 1]] = [EXTREME_SPREADS, -EXTREME_SPREADS]
    np.testing.assert_array_equal(_unclipped_windows(rows, 8),
                                  _unclipped(sliding_windows(rows, 8)))
    assert _unclipped_windows(rows, 8).sum() == 43 - 4 - 8  # windows holding row 3, row 30


@pytest.mark.slow
def test_an_entirely_constant_series_alerts_on_a_change_and_not_on_round_off():
    """Every feature constant in training: every held-out window scored alike (0) and the
    threshold was that score, so readings off by 1e-9 of their value (float noise) put every
    window over it (385 of 385). Round-off now reads as the value, and the threshold leaves a
    margin for the network's own; a real step still alerts on every window that holds it.
    GANomaly only: f-AnoGAN's scores of round-off stay under the margin without the input fix."""
    constant = np.tile([20.0, 1500.0, 0.1], (300, 1))
    det = train_detector(tiny_config("ganomaly", epochs=1, allow_unhealthy=True), constant, FEATURES)
    assert det.metadata["training_data"]["constant_features"] == list(FEATURES)
    assert det.calibration.threshold.value > max(det.calibration.validation["score_p99"], 0.0)
    noisy = constant * (1 + 1e-9 * np.random.default_rng(0).standard_normal(constant.shape))
    through_float32 = constant.astype(np.float32).astype(np.float64)
    for quiet in (constant, noisy, through_float32):
        assert not det.score_series(quiet).is_anomaly.any()
    step = constant.copy()
    step[150:, 0] += 1.0  # 20 -> 21
    flagged = det.score_series(step).is_anomaly
    assert flagged[150:].all() and not flagged[:150].any()


def test_the_threshold_is_the_training_windows_where_theirs_is_higher():
    held, seen = np.linspace(0.0, 1.0, 500), np.linspace(0.0, 3.0, 2000)
    t = fit_threshold_both(held, seen, ThresholdConfig())
    assert t.value == pytest.approx(np.quantile(seen, 0.995))
    assert t.details["from"] == "training" and t.details["training_windows"] == 2000
    assert t.details["held_out_value"] == pytest.approx(np.quantile(held, 0.995))
    lower = fit_threshold_both(held, seen / 10, ThresholdConfig())
    assert lower.value == pytest.approx(np.quantile(held, 0.995))
    assert lower.details["from"] == "held_out"
    assert lower.details["training_value"] == pytest.approx(np.quantile(seen / 10, 0.995))


def test_the_training_windows_are_fitted_by_the_same_method():
    rng = np.random.default_rng(0)
    held, seen = rng.exponential(1.0, 400), rng.exponential(2.0, 4000)
    cfg = ThresholdConfig(method="pot")
    t = fit_threshold_both(held, seen, cfg)
    assert t.method == "pot" and t.details["from"] == "training"
    assert t.value == fit_threshold(seen, "pot", cfg.quantile, cfg.pot_initial_quantile,
                                    cfg.pot_risk).value


def test_training_windows_with_no_finite_score_leave_the_held_out_threshold():
    held = np.linspace(0.0, 1.0, 500)
    t = fit_threshold_both(held, np.full(100, np.inf), ThresholdConfig())
    assert t.value == pytest.approx(np.quantile(held, 0.995))
    assert "from" not in t.details
