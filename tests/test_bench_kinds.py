"""The generated benchmark series (bench/kinds.py): labels sit where the faults are."""

import numpy as np
import pytest

from bench.kinds import FAULT_ROWS, LAYOUTS, TEST_ROWS, labelled_series, normal_series


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_fault_of_a_layout_is_injected_once_and_labelled(layout):
    train, test, labels, kinds = labelled_series(layout, 300, seed=3)
    assert train.shape[0] == 300 and test.shape == (TEST_ROWS, train.shape[1])
    clean = normal_series(layout, 300 + TEST_ROWS, seed=3)[0][300:]
    for fault in LAYOUTS[layout]:
        rows = np.flatnonzero(kinds == fault)
        assert len(rows) == FAULT_ROWS[fault], fault
        assert np.all(np.diff(rows) == 1), fault  # one contiguous stretch
        assert not np.allclose(test[rows], clean[rows]), fault  # the fault changed the data
    assert np.array_equal(labels == 1, kinds != 0)
    assert np.array_equal(test[labels == 0], clean[labels == 0])  # normal rows untouched


def test_the_same_seed_gives_the_same_series_and_another_seed_does_not():
    a, b = labelled_series("command", 300, 1), labelled_series("command", 300, 1)
    c = labelled_series("command", 300, 2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1])


def test_the_training_part_is_the_start_of_the_same_continuous_series():
    train, *_ = labelled_series("drift", 500, 0)
    assert np.array_equal(train, normal_series("drift", 500 + TEST_ROWS, 0)[0][:500])


def test_the_events_layout_counts_errors_in_rare_bursts_and_a_storm_brings_many():
    train, test, _, kinds = labelled_series("events", 3000, 0)
    errors = train[:, 1]
    assert np.all(errors == np.round(errors)) and errors.min() == 0
    assert 0.002 < np.mean(errors > 0) < 0.05  # a few rows in a hundred at most
    storm = kinds == "storm"
    assert np.mean(test[storm, 1] > 0) > 5 * np.mean(errors > 0)
