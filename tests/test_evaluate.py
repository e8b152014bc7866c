import numpy as np
import pytest

from anomaly_gan.evaluate import evaluate_scores, point_adjust


def test_perfect_and_random_scores():
    labels = np.zeros(1000, int)
    labels[400:450] = 1
    perfect = labels + np.random.default_rng(0).random(1000) * 0.5
    m = evaluate_scores(perfect, labels, threshold=0.9)
    assert m["auc_roc"] == 1.0 and m["auc_pr"] == pytest.approx(1.0) and m["best_f1"] == 1.0
    assert m["f1"] == 1.0 and m["flagged_rows"] == 50
    rnd = evaluate_scores(np.random.default_rng(1).random(1000), labels, threshold=0.99)
    assert 0.4 < rnd["auc_roc"] < 0.6 and rnd["auc_pr"] < 0.15
    # point adjustment inflates a random score: why it is only reported labelled as such
    assert rnd["point_adjusted_f1"] > rnd["f1"]


def test_unscored_rows_count_as_normal():
    scores = np.array([np.nan, np.nan, 0.1, 5.0])
    m = evaluate_scores(scores, np.array([1, 0, 0, 1]), threshold=1.0)
    assert m["unscored_rows"] == 2 and m["recall"] == 0.5 and m["precision"] == 1.0


def test_labelled_rows_in_the_warm_up_are_counted_and_named(capsys):
    # a log file scored with 60 s buckets and window 32 whose incident is in its first half
    # hour: every labelled row is before the first full window, recall 0 with no word of why
    from anomaly_gan.cli import _print_metrics

    scores = np.concatenate([np.full(31, np.nan), np.linspace(1.0, 3.0, 30)])
    labels = np.zeros(61, int)
    labels[20:28] = 1
    m = evaluate_scores(scores, labels, threshold=2.0)
    assert m["anomalous_unscored_rows"] == 8 and m["recall"] == 0.0
    _print_metrics(m)
    out = capsys.readouterr().out
    assert "(8 of the 8 anomalous rows are in the warm-up, before the first full window" in out
    assert evaluate_scores(np.array([np.nan, 1.0, 2.0]), np.array([0, 0, 1]))[
        "anomalous_unscored_rows"] == 0


def test_unscored_rows_stay_normal_when_every_score_is_over_the_threshold():
    # the ranking puts unscored rows at (lowest score - 1), which is still over a threshold
    # every score exceeds: the prediction must use the scores, not that filler
    scores = np.array([np.nan, np.nan, np.nan, 2.0, 3.0, np.inf])
    m = evaluate_scores(scores, np.array([0, 0, 1, 1, 1, 1]), threshold=0.5)
    assert m["flagged_rows"] == 3 and m["precision"] == 1.0 and m["recall"] == 0.75


def test_point_adjust():
    pred = np.array([0, 0, 1, 0, 0, 0], bool)
    lab = np.array([0, 1, 1, 1, 0, 1])
    np.testing.assert_array_equal(point_adjust(pred, lab), [0, 1, 1, 1, 0, 0])


def test_length_mismatch():
    with pytest.raises(ValueError):
        evaluate_scores(np.zeros(3), np.zeros(4))
