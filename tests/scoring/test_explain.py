"""The one-line text of a window's explanation (scoring/explain.py)."""

from anomaly_gan.scoring import feature_values_text


def test_a_reading_and_its_reconstruction_are_written_apart_where_4_digits_tie():
    """At 4 significant digits a memory gauge 3 MB off its reconstruction, and a constant
    of the baseline that read 5.000001, were written 'x (exp x)': the feature was named
    but nothing showed how it moved. Digits are added until the two differ."""
    text = feature_values_text([
        {"feature": "mem_bytes", "observed": 64_213_000_000.0, "expected": 64_210_000_000.0,
         "rows_before_end": 0},
        {"feature": "setpoint", "observed": 5.000001, "expected": 5.0, "rows_before_end": 3},
        {"feature": "vibration", "observed": 7.91234, "expected": 2.1, "rows_before_end": 0},
        {"feature": "flat", "observed": 5.0, "expected": 5.0, "rows_before_end": 1}])
    assert text == ("mem_bytes 6.4213e+10 (exp 6.4210e+10), "
                    "setpoint 5.000001 (exp 5.000000, 3 rows before end), "
                    "vibration 7.912 (exp 2.1), flat 5 (exp 5, 1 row before end)")
