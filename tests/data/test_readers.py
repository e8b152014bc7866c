import numpy as np
import pytest

from anomaly_gan.data.readers import apply_nan_policy, check_features, read_labels, read_table
from anomaly_gan.errors import DataError


def write(tmp_path, text, name="d.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_header_with_timestamp_column(tmp_path):
    t = read_table(write(tmp_path, "timestamp,temp,rpm\n2026-01-01T00:00:00Z,1.5,10\n2026-01-01T00:00:10Z,2,11\n"))
    assert t.feature_names == ("temp", "rpm")
    assert t.timestamps == ("2026-01-01T00:00:00Z", "2026-01-01T00:00:10Z")
    np.testing.assert_array_equal(t.values, [[1.5, 10], [2, 11]])


def test_headerless_numeric_file_like_nasa(tmp_path):
    t = read_table(write(tmp_path, "0.5,0,1\n-0.25,1,0\n"))
    assert not t.has_header and t.timestamps is None
    assert t.feature_names == ("f0", "f1", "f2")
    assert t.values.shape == (2, 3)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "file is empty"),
        ("a,b\n", "no data rows after the header"),
        ("a,b\n1,2\n3,x\n", "line 3, column 'b': not a number: 'x'"),
        ("1,2\n3,oops\n", "line 2, column 2: not a number: 'oops'"),
        ("a,b\n1,2\n3\n", "line 3: expected 2 columns, got 1"),
        ("a,a\n1,2\n", "duplicate column name 'a'"),
    ],
)
def test_bad_input_names_line_and_column(tmp_path, text, expected):
    p = write(tmp_path, text)
    with pytest.raises(DataError) as info:
        read_table(p)
    assert str(info.value).startswith(str(p)) and expected in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "nope.csv")


def test_nan_policy(tmp_path):
    t = read_table(write(tmp_path, "a,b\n1,\n2,5\nnan,6\ninf,7\n"))
    with pytest.raises(DataError, match=r"line 2, column 'b': missing or non-finite value.*3 such cells"):
        apply_nan_policy(t, "reject")
    np.testing.assert_array_equal(apply_nan_policy(t, "ffill"), [[1, 5], [2, 5], [2, 6], [2, 7]])
    np.testing.assert_array_equal(apply_nan_policy(t, "zero"), [[1, 0], [2, 5], [0, 6], [0, 7]])


def test_check_features_by_name_and_count(tmp_path):
    t = read_table(write(tmp_path, "rpm,temp\n1,2\n"))
    np.testing.assert_array_equal(check_features(t, ["temp", "rpm"]), [[2, 1]])
    with pytest.raises(DataError, match="missing columns flow; unexpected columns rpm"):
        check_features(t, ["temp", "flow"])
    h = read_table(write(tmp_path, "1,2,3\n", "h.csv"))
    with pytest.raises(DataError, match="expected 2 feature columns .* got 3"):
        check_features(h, ["a", "b"])


def test_labels(tmp_path):
    np.testing.assert_array_equal(read_labels(write(tmp_path, "0\n1\n1\n")), [0, 1, 1])
    with pytest.raises(DataError, match="line 2: expected a label 0 or 1, got 2"):
        read_labels(write(tmp_path, "0\n2\n", "l.csv"))
    with pytest.raises(DataError, match="expected 5 labels"):
        read_labels(write(tmp_path, "0\n1\n", "m.csv"), rows=5)


def test_parquet_round_trip(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = tmp_path / "d.parquet"
    pq.write_table(pa.table({"timestamp": ["t0", "t1"], "x": [1.0, 2.0], "y": [3, 4]}), p)
    t = read_table(p)
    assert t.feature_names == ("x", "y") and t.timestamps == ("t0", "t1")
    np.testing.assert_array_equal(t.values, [[1, 3], [2, 4]])
