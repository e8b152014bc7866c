"""bench/logs.py's end-to-end run through the broker and how its row reads."""

import numpy as np
import pytest

from anomaly_gan.config import config_from_dict
from bench.logs import CONFIG, end_to_end, end_to_end_cell

MESSAGES = ("instruction cache parity error corrected", "generating core.{}",
            "data TLB error interrupt")


def sparse_log(lines: int = 600, every: int = 60) -> list[str]:
    """BGL-shaped lines (label stripped), 30 s apart, with a two-day silence every ``every``
    lines: longer than the default logs.gap_seconds, as BGL_2k's hundreds of silences are."""
    out, ts = [], 1_117_838_570
    for i in range(lines):
        ts += 172_800 if i and i % every == 0 else 30
        out.append(f"{ts} 2005.06.03 R02-M1-N0 2005-06-03-15.42.50 R02-M1-N0 RAS KERNEL INFO "
                   + MESSAGES[i % 3].format(i % 7))
    return out


@pytest.mark.slow  # trains a model and starts the embedded broker
def test_the_end_to_end_run_scores_every_window_of_a_log_with_long_silences():
    # Per N lines serve restarts an entity silent for longer than logs.gap_seconds; the run
    # waited for every window of one series and never finished on BGL_2k.
    lines = sparse_log()
    cfg = config_from_dict(CONFIG)
    e2e = end_to_end(lines, np.zeros(len(lines), np.int8), cfg, repeat=4, timeout_s=120)
    assert e2e["windows_scored"] == 4 * len(lines) // 10 - cfg.data.window + 1
    assert 0 < e2e["lines_timed"] < e2e["lines"] == 4 * len(lines)


def test_the_end_to_end_rate_counts_only_the_lines_read_after_the_clock_started():
    assert end_to_end_cell({"lines": 40_000, "lines_timed": 38_000, "lines_per_second": 20_000}) \
        == "20,000 (40,000 lines, 38,000 timed)"
    assert end_to_end_cell({"lines": 2_000, "lines_timed": 0, "lines_per_second": None}) \
        == "not timed: the first poll read all 2,000 lines (--repeat 2 or more)"
