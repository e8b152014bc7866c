import numpy as np
import pytest

from anomaly_gan.errors import DataError


def test_causal_scoring_row_t_is_window_ending_at_t(tiny_detector):
    det = tiny_detector
    x = np.random.default_rng(0).normal(size=(60, 3)) * 10
    res = det.score_series(x)
    t = 40
    single = det.score_windows(x[None, t - det.window + 1 : t + 1])
    assert res.score[t] == pytest.approx(single.score[0], abs=1e-6)
    # Changing a later row never changes an earlier score.
    y = x.copy()
    y[t + 1 :] += 100
    np.testing.assert_array_equal(det.score_series(y).score[: t + 1], res.score[: t + 1])


def test_shape_errors(tiny_detector):
    with pytest.raises(DataError, match="expected 3 features"):
        tiny_detector.score_series(np.zeros((40, 2)))
    with pytest.raises(DataError, match="need at least one window of 16 rows"):
        tiny_detector.score_series(np.zeros((5, 3)))
    with pytest.raises(DataError, match=r"expected shape \(n, 16, 3\)"):
        tiny_detector.score_windows(np.zeros((2, 8, 3)))
    assert len(tiny_detector.score_windows(np.zeros((0, 16, 3)))) == 0
