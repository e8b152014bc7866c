"""The `retrain` command line's own parsing (anomaly_gan/retrain/commands.py)."""

from __future__ import annotations

import pytest

from anomaly_gan.errors import DataError
from anomaly_gan.retrain.commands import last_range, parse_duration


def test_last_is_a_positive_duration():
    assert parse_duration("90m") == 5400.0
    for text in ("0s", "0.0d", "7x", "-1d"):
        with pytest.raises(DataError, match=r"^--last: expected a positive duration such as "
                                            r"90m, 24h or 7d, got '"):
            parse_duration(text)


def test_last_reaching_before_1970_is_one_error_not_a_traceback():
    """It was an OverflowError or ValueError from the time conversions or from the Kafka
    client ('the target time cannot be negative')."""
    end = 1_794_000_000.0  # 2026-11-06T21:20Z
    assert last_range("7d", end) == end - 7 * 86400
    for text in ("100000d", "9" * 30 + "w", "9" * 400 + "s"):
        with pytest.raises(DataError, match=r"^--last: '\d+(\.\.\.\d+)?[dws]' before 2026-11-06T21:20:00.000Z "
                                            r"reaches back before 1970-01-01T00:00Z; expected a "
                                            r"shorter duration$"):
            last_range(text, end)


def test_a_long_bad_time_or_duration_is_shown_cut_in_its_error_line():
    """The whole text was repeated in the line: a pasted paragraph made a paragraph-long error."""
    from anomaly_gan.retrain.commands import parse_time

    for call in (lambda: parse_duration("x" * 5000), lambda: parse_time("y" * 5000, "--from")):
        with pytest.raises(DataError) as err:
            call()
        assert len(str(err.value)) < 250 and "..." in str(err.value)
