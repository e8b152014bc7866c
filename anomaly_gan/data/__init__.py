"""Data: offline readers (I/O), feature scaling and sliding windows (pure numpy)."""

from anomaly_gan.data.counters import coarse_counters, counter_columns, increase, increases
from anomaly_gan.data.readers import (
    Table,
    align_tables,
    apply_nan_policy,
    check_features,
    coarse_counter_notes,
    fill_note,
    late_rows,
    read_labels,
    read_table,
    table_times,
    time_notes,
    without_late_rows,
)
from anomaly_gan.data.scaling import Scaler, fit_scaler
from anomaly_gan.data.windows import evenly_spaced, sliding_windows, window_end_index

__all__ = [
    "Scaler",
    "Table",
    "align_tables",
    "apply_nan_policy",
    "check_features",
    "coarse_counter_notes",
    "coarse_counters",
    "counter_columns",
    "evenly_spaced",
    "fill_note",
    "fit_scaler",
    "increase",
    "increases",
    "late_rows",
    "read_labels",
    "read_table",
    "sliding_windows",
    "table_times",
    "time_notes",
    "window_end_index",
    "without_late_rows",
]
