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


def test_metrics_that_are_0_of_0_are_none_and_say_why(capsys):
    # every row labelled normal (a quiet day) with 2 false alarms: recall was reported 0.0,
    # as if an incident had been missed, and the AUCs n/a with no word of why
    from anomaly_gan.cli import _print_metrics

    scores = np.array([np.nan, 0.1, 0.2, 3.0, 4.0])
    m = evaluate_scores(scores, np.zeros(5, int), threshold=1.0)
    assert (m["auc_roc"], m["auc_pr"], m["best_f1"]) == (None, None, None)
    assert m["recall"] is None and m["precision"] == 0.0 and m["f1"] == 0.0
    assert m["undefined"]["auc_roc"].startswith("every row is labelled normal")
    assert m["undefined"]["recall"] == "no row is labelled anomalous: recall is 0 of 0 anomalous rows"
    _print_metrics(m)
    out = capsys.readouterr().out
    assert "recall n/a" in out and "(n/a: every row is labelled normal: AUC-ROC, AUC-PR" in out
    assert "(n/a: no row is labelled anomalous: recall is 0 of 0 anomalous rows)" in out
    # every row anomalous: the AUCs rank nothing; nothing flagged: precision is 0 of 0
    m = evaluate_scores(scores, np.ones(5, int), threshold=9.0)
    assert m["undefined"]["auc_pr"].startswith("every row is labelled anomalous")
    assert m["precision"] is None and m["recall"] == 0.0 and m["f1"] == 0.0
    assert set(m["undefined"]) == {"auc_roc", "auc_pr", "best_f1", "precision"}
    # no anomalous row and nothing flagged: F1 is 0 of 0 too
    m = evaluate_scores(scores, np.zeros(5, int), threshold=9.0)
    assert m["f1"] is None and m["point_adjusted_f1"] is None and "f1" in m["undefined"]
    assert evaluate_scores(scores, np.array([0, 0, 0, 1, 1]), threshold=1.0)["undefined"] == {}


def test_no_threshold_flags_an_unscored_row_for_best_f1():
    # labels only in the warm-up: no score can flag them, yet best F1 was 0.0488 on a real
    # file, from the point that flags every row, unscored ones too. AUC-PR stays
    # scikit-learn's average precision with the unscored rows ranked last (the base rate
    # here, as a random score gets), as AUC-ROC ranks them.
    from sklearn.metrics import average_precision_score

    scores = np.concatenate([np.full(15, np.nan), np.linspace(0.0, 1.0, 185)])
    labels = np.zeros(200, int)
    labels[:5] = 1
    m = evaluate_scores(scores, labels, threshold=0.5)
    assert m["best_f1"] == 0.0 and m["recall"] == 0.0
    assert m["auc_pr"] == pytest.approx(5 / 200)
    # an unscored row among the anomalous ones: best F1 stops at recall 2 of 3
    m = evaluate_scores(np.array([np.nan, 0.1, 0.2, 0.8, 0.9]), np.array([1, 0, 0, 1, 1]))
    assert m["best_f1"] == pytest.approx(0.8)
    rng = np.random.default_rng(2)
    scores, labels = rng.random(300).round(1), (rng.random(300) < 0.2).astype(int)
    scores[:10] = np.nan
    expected = average_precision_score(labels, np.nan_to_num(scores, nan=-1.0))
    assert evaluate_scores(scores, labels)["auc_pr"] == pytest.approx(expected, abs=1e-12)
