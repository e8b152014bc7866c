import numpy as np
import pytest

from anomaly_gan.data.scaling import Scaler, fit_scaler
from anomaly_gan.errors import BundleError


def test_robust_scaler_ignores_outliers_and_handles_constant_columns():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(10, 2, 1000), np.full(1000, 5.0), rng.integers(0, 2, 1000) * (rng.random(1000) < 0.02)])
    x[0, 0] = 1e6
    s = fit_scaler(x, "robust")
    z = s.transform(x[1:])
    assert abs(np.median(z[:, 0])) < 0.05
    assert 0.5 < np.percentile(z[:, 0], 75) - np.percentile(z[:, 0], 25) < 1.5
    assert np.all(np.isfinite(z)) and z.dtype == np.float32
    assert s.scale[1] == 1.0  # constant column: unit scale
    assert s.scale[2] == 1.0  # rare binary flag: IQR 0, its range used


def test_minmax_maps_training_range_to_unit_interval():
    x = np.array([[0.0, -1.0], [5.0, 1.0], [10.0, 3.0]])
    z = fit_scaler(x, "minmax").transform(x)
    np.testing.assert_allclose(z.min(axis=0), 0)
    np.testing.assert_allclose(z.max(axis=0), 1)


def test_round_trip_and_malformed():
    s = fit_scaler(np.random.default_rng(1).normal(size=(100, 3)))
    s2 = Scaler.from_dict(s.to_dict())
    np.testing.assert_array_equal(s2.center, s.center)
    with pytest.raises(BundleError):
        Scaler.from_dict({"method": "robust", "center": [0.0], "scale": [0.0]})


@pytest.mark.parametrize("method", ["robust", "minmax"])
def test_unscaling_gives_back_the_readings_up_to_float32(method):
    """An alert's expected values are reconstructions unscaled with the bundle's scaler:
    inverse_transform must undo transform exactly, but for float32's rounding."""
    rng = np.random.default_rng(0)
    x = np.column_stack([1500 + 300 * rng.normal(size=500), 1e-9 * rng.random(500),
                         np.full(500, 7.0), rng.integers(0, 2, 500).astype(float)])
    s = fit_scaler(x, method)
    back = s.inverse_transform(s.transform(x))
    assert back.dtype == np.float64
    # float32 keeps ~7 digits of the scaled value: the error is that, times the scale
    scaled = np.abs(s.transform(x)).astype(np.float64)
    np.testing.assert_array_less(np.abs(back - x), 1e-7 * (scaled + 1) * s.scale)
    np.testing.assert_array_equal(s.inverse_transform(np.zeros((1, 4))), s.center[None])


def test_round_off_on_a_feature_constant_in_training_reads_as_its_value():
    """A feature that never moved in training has unit scale, so its float round-off reached
    the network at full size: on an entirely constant series every window of readings off by
    1e-9 of their value alerted. Within float32's resolution of the value it is the value;
    a real change, and every feature that moved, scale as before."""
    rng = np.random.default_rng(0)
    moving = rng.normal(10.0, 2.0, 200)
    x = np.column_stack([moving, np.full(200, 1500.0), np.full(200, 0.1), np.zeros(200)])
    s = fit_scaler(x)
    assert s.round_off()[0] == 0.0 and s.round_off()[3] == 0.0  # moving; constant at 0
    live = x[:4].copy()
    live[0, 1:3] *= 1 + 1e-9
    live[1, 2] = float(np.float32(0.1))  # the reading through a float32 producer
    live[2, 1:3] *= 1 - 1e-7
    live[3, 1:3] += [0.01, 1e-6]  # real changes
    z = s.transform(live)
    assert (z[:3, 1:3] == 0.0).all()
    assert z[3, 1] == np.float32(0.01) and z[3, 2] > 0
    np.testing.assert_array_equal(z[:, 0], ((live[:, 0] - s.center[0]) / s.scale[0])
                                  .astype(np.float32))
    # a bundle without the training range (before 2026-12-05) keeps the plain map
    old = Scaler(s.method, s.center, s.scale)
    assert old.transform(live)[0, 1] != 0.0


def test_a_feature_constant_in_training_holds_its_value_through_float32_round_off():
    """An alert names last a feature that never moved in training and holds its value all
    through the window. Readings within float32 round-off of that value count as the value
    when scaled, but the test of holding it was exact: a setpoint of 0.1 arriving as
    0.10000000149 from a float32 producer (or a constant of 1e6 +- 1e-7 in training, whose
    range is not one number) kept its error's z-score and was named before the sensors that
    moved (explain spec fuzz, seeds 8 and 205). A real change is still a change."""
    x = np.column_stack([np.full(50, 0.1), 1e6 + np.tile([0.0, 1e-7], 25), np.zeros(50),
                         np.arange(50.0)])
    s = fit_scaler(x)
    through_float32 = float(np.float32(0.1))
    highest = np.array([[through_float32, 1e6 + 1e-7, 0.0, 3.0],
                        [0.1001, 1e6, 1e-30, 3.0]])
    lowest = np.array([[0.1, 1e6, 0.0, 3.0], [0.1, 1e6, 0.0, 3.0]])
    held = s.held_constant(highest, lowest)
    assert held.tolist() == [[True, True, True, False], [False, True, False, False]]


@pytest.mark.filterwarnings("error")  # numpy's overflow warning was a line in serve's log
def test_a_reading_near_the_float64_limit_is_infinitely_beyond_the_range_without_a_warning():
    """1e308 on a sensor of spread 0.5 is 2e308 spreads out: more than a float64 holds."""
    s = Scaler("robust", np.zeros(2), np.array([0.5, 1.0]), np.zeros(2), np.ones(2))
    windows = np.array([[[1e308, 0.5], [-1.7976931348623157e308, 0.5]]])
    assert s.beyond_range(windows).tolist() == [[np.inf, 0.0]]


@pytest.mark.filterwarnings("error")  # numpy's overflow warning was a line in train's output
@pytest.mark.parametrize("reading", [1e39, -1e39, 1e308, -1.7976931348623157e308])
def test_a_reading_past_float32_once_scaled_is_infinite_without_a_warning(reading):
    s = Scaler("robust", np.zeros(2), np.array([0.5, 1.0]), np.zeros(2), np.ones(2))
    z = s.transform(np.array([[reading, 0.5]]))
    assert z.dtype == np.float32
    assert z.tolist() == [[np.copysign(np.inf, reading), 0.5]]
