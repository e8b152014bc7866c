import math

import numpy as np
import pytest

from anomaly_gan.data.windows import release_order, sliding_windows, window_end_index
from anomaly_gan.errors import DataError


def test_windows_are_views_in_time_order():
    x = np.arange(20.0).reshape(10, 2)
    w = sliding_windows(x, 4, 3)
    assert w.shape == (3, 4, 2)
    assert np.shares_memory(w, x)
    np.testing.assert_array_equal(w[1], x[3:7])
    np.testing.assert_array_equal(window_end_index(len(w), 4, 3), [3, 6, 9])


def test_stride_one_gives_one_window_per_end_row():
    x = np.random.default_rng(0).normal(size=(50, 3))
    w = sliding_windows(x, 8)
    assert len(w) == 50 - 8 + 1
    np.testing.assert_array_equal(w[-1][-1], x[-1])


def test_too_few_rows_is_a_clear_error():
    with pytest.raises(DataError, match="need at least one window of 8 rows, got 5 rows"):
        sliding_windows(np.zeros((5, 2)), 8)


@pytest.mark.parametrize("tolerance", [0.0, 1.5, float("inf")])
def test_rows_in_time_order_are_released_as_they_come_without_an_object_per_row(tolerance):
    """score, evaluate and plot find a file's late rows three times before the model loads;
    for a file in time order (the usual one) that took a second and a Python float and int
    per row each time (2 million rows: 150 MB). Rows in time order, ties included, are all
    windowed in file order, as serve releases them; a row out of order is still held or
    left out as before."""
    import tracemalloc

    times = np.repeat(np.arange(100_000, dtype=np.float64), 2)  # every stamp twice
    tracemalloc.start()
    try:
        order = release_order(times, tolerance)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(order, np.arange(len(times)))
    assert peak < 3 * times.nbytes, f"{peak / times.nbytes:.1f} times the stamps allocated"
    swapped = np.array([0.0, 1.0, 3.0, 2.0, 4.0])
    assert release_order(swapped, tolerance).tolist() == (
        [0, 1, 2, 4] if tolerance == 0 else [0, 1, 3, 2, 4])


def test_a_row_exactly_the_tolerance_behind_the_newest_is_released_as_serve_does():
    # released once a row at least the tolerance newer came, as written (docs/streaming.md):
    # the float horizon 1767225600.6 - 0.2 is 1767225600.3999999, and until 2026-12-07 the
    # row at .4 stayed held, so .35 was put before it instead of dropped as late
    times = np.array([1767225600.4, 1767225600.6, 1767225600.35])
    assert release_order(times, 0.2).tolist() == [0, 1]
    times[0] = math.nextafter(1767225600.4, math.inf)  # less than 0.2 s behind: held
    assert release_order(times, 0.2).tolist() == [2, 0, 1]
