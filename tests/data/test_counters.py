import numpy as np
import pytest

from anomaly_gan.config import config_from_dict
from anomaly_gan.data import Table, apply_nan_policy, counter_columns, increases
from anomaly_gan.errors import ConfigError


def test_increases_drop_the_first_row_and_read_a_fall_as_a_reset():
    total = np.array([100.0, 103.0, 110.0, 4.0, 9.0, 9.0])  # restarted before row 3
    gauge = np.arange(6.0)
    out = increases(np.column_stack([gauge, total]), [1])
    assert out[:, 1].tolist() == [3.0, 7.0, 4.0, 5.0, 0.0]  # the reset's increase: 4
    assert out[:, 0].tolist() == gauge[1:].tolist()  # other features as they are


def test_no_counters_keep_every_row():
    v = np.arange(6.0).reshape(3, 2)
    assert increases(v, []) is v


def test_a_negative_reading_is_taken_as_it_is():
    # documented: no error; a fall to it is a reset whose increase is the reading itself
    assert increases(np.array([[5.0], [-2.0], [1.0]]), [0])[:, 0].tolist() == [-2.0, 3.0]


def test_counter_columns_are_in_model_order_and_unknown_names_are_refused():
    assert counter_columns(["a", "b", "c"], ["c", "a"]) == (0, 2)
    with pytest.raises(ConfigError, match=r"^data\.counters: 'x' is not a feature; expected one "
                                          r"of the columns of f\.csv: a, b$"):
        counter_columns(["a", "b"], ["x"], "the columns of f.csv")


def test_missing_counter_readings_are_filled_before_the_increases_are_taken():
    table = Table("f.csv", ("total",), np.array([[10.0], [np.nan], [16.0], [18.0]]))
    # ffill: the gap's increase comes with the next reading, the total is kept
    filled = apply_nan_policy(table, "ffill")
    assert increases(filled, [0])[:, 0].tolist() == [0.0, 6.0, 2.0]
    # zero: a missing reading reads as a reset to 0, and the next one's whole value as
    # its increase (docs: use ffill for counters)
    zeroed = apply_nan_policy(table, "zero")
    assert increases(zeroed, [0])[:, 0].tolist() == [0.0, 16.0, 2.0]


def test_config_key_lists_names_once_and_not_with_logs():
    assert config_from_dict({}).data.counters == ()
    assert config_from_dict({"data": {"counters": []}}).data.counters == ()
    assert config_from_dict({"data": {"counters": ["a", "b"]}}).data.counters == ("a", "b")
    with pytest.raises(ConfigError, match=r"data\.counters\[1\]: 'a' is listed twice"):
        config_from_dict({"data": {"counters": ["a", "a"]}})
    with pytest.raises(ConfigError, match=r"data\.counters: expected a list of strings"):
        config_from_dict({"data": {"counters": "a"}})
    with pytest.raises(ConfigError, match=r"data\.counters: expected none with a logs model"):
        config_from_dict({"data": {"counters": ["a"]}, "logs": {}})


def test_a_later_start_time_is_a_reset_even_where_the_total_grew():
    """An OTLP cumulative sum restarted (its start time moved on) and passed its old total
    within one row: 50 -> 60 is 60, not 10. An unchanged start time, a row without one
    (NaN) and a row of no start times at all keep the fall rule; a table's rows selected
    or reordered keep their start times."""
    nan = np.nan
    v = np.array([[40.0, 1.0], [50.0, 1.0], [60.0, 1.0], [65.0, 1.0], [70.0, 1.0],
                  [75.0, 1.0], [3.0, 1.0]])
    starts = np.array([[5.0, nan], [5.0, nan], [9.0, nan], [9.0, nan], [nan, nan],
                       [12.0, nan], [12.0, nan]])
    assert increases(v, [0], starts)[:, 0].tolist() == [10.0, 60.0, 5.0, 5.0, 5.0, 3.0]
    assert increases(v, [0])[:, 0].tolist() == [10.0, 10.0, 5.0, 5.0, 5.0, 3.0]
    t = Table("m.jsonl", ("errors", "load"), v, starts=starts)
    picked = t.with_rows(np.array([1, 2])).with_features(["load", "errors"])
    assert picked.starts.tolist()[0][1] == 5.0 and picked.starts.tolist()[1][1] == 9.0
    assert increases(picked.values, [1], picked.starts)[:, 1].tolist() == [60.0]
