import numpy as np
import pytest

from anomaly_gan.data.windows import sliding_windows, window_end_index
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
