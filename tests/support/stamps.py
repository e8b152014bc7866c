"""The reference reading of a data file's time stamp, written from README.md's *Data
files* (epoch s, ms, us or ns by size, digits compared exactly; RFC 3339 and a date alone;
no later than 9999-12-31), shared by the spec fuzz tests of the CSV reader and of the two
labels files."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

MAX_TS = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC).timestamp()
RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?"
                     r"([Zz]|[+-]\d\d:\d\d)?)?", re.ASCII)

STAMP_RULES: Counter[str] = Counter()  # the rules ref_time took, for the coverage tests


def ref_time(cell: str) -> float | None:
    """Epoch seconds of a stamp, or None (no time)."""
    if re.fullmatch(r"\d+(?:\.\d+)?", cell, re.ASCII):
        STAMP_RULES["ts.epoch" if "." not in cell else "ts.epoch_fraction"] += 1
        n: float = int(cell) if "." not in cell else float(cell)
        for limit, per in ((10**17, 10**9), (10**14, 10**6), (10**11, 10**3)):
            if n > limit:
                STAMP_RULES[f"ts.epoch_over_{limit}"] += 1
                n = n / per
                break
        if n > MAX_TS:
            STAMP_RULES["ts.after_9999"] += 1
            return None
        return float(n)
    m = RFC3339.fullmatch(cell)
    if m is None:
        return None
    y, mo, d, hh, mm, ss, frac, zone = m.groups()
    if hh is None:
        STAMP_RULES["ts.date_alone"] += 1
    tz = UTC
    if zone and zone not in "Zz":
        STAMP_RULES["ts.offset"] += 1
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    elif hh is not None and not zone:
        STAMP_RULES["ts.no_offset"] += 1
    try:
        dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0),
                      int((frac or "0").ljust(6, "0")), tzinfo=tz)
        t = dt.timestamp()
    except (ValueError, OverflowError):
        return None
    if t > MAX_TS:
        STAMP_RULES["ts.after_9999"] += 1
        return None
    STAMP_RULES["ts.rfc3339"] += 1
    return t
