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


def test_a_reading_and_its_reconstruction_close_together_are_not_written_far_apart():
    """4 significant digits rounded two close numbers to neighbouring 4-digit values: a byte
    counter of 1.2345e15 with its reconstruction 0.25 above (ties round to even) read
    '1.234e+15 (exp 1.235e+15)', 1e12 apart; a pressure of 2.0004 against 2.0006 read
    '2 (exp 2.001)', five times its distance. Digits are added until the two numbers as
    written are about as far apart as they are."""
    text = feature_values_text([
        {"feature": "bytes", "observed": 1_234_500_000_000_000.0,
         "expected": 1_234_500_000_000_000.25, "rows_before_end": 0},
        {"feature": "pressure", "observed": 2.0004, "expected": 2.0006, "rows_before_end": 0},
        {"feature": "rpm", "observed": 3012.5, "expected": 1499.9, "rows_before_end": 0}])
    assert text == ("bytes 1234500000000000.0 (exp 1234500000000000.2), "
                    "pressure 2.0004 (exp 2.0006), rpm 3012 (exp 1500)")
