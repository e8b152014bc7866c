"""bench/detect.py's NAB reading: labels from the windows, and the causal ceiling of them."""

import json

import numpy as np
import pytest

from bench.detect import causal_ceiling, ceiling_md, nab


def write_nab(root, key="artificialWithAnomaly/s.csv", rows=100, points=("t070",)):
    """A NAB layout: one 100-row series, one window (rows 60-79) centred on row 70."""
    stamp = lambda i: f"2026-01-01 {i // 60:02d}:{i % 60:02d}:00"
    data = root / "nab" / "data" / key
    data.parent.mkdir(parents=True)
    data.write_text("timestamp,value\n" + "".join(f"{stamp(i)},{i % 7}\n" for i in range(rows)))
    labels = root / "nab" / "labels"
    labels.mkdir(parents=True)
    (labels / "combined_windows.json").write_text(
        json.dumps({key: [[stamp(60) + ".000000", stamp(79) + ".000000"]]}))
    (labels / "combined_labels.json").write_text(
        json.dumps({key: [stamp(int(p[1:])) for p in points]}))


def test_nab_labels_its_window_and_marks_the_rows_from_the_anomaly_point(tmp_path):
    write_nab(tmp_path)
    [(name, train, test, labels, after)] = list(nab(tmp_path))
    assert name == "NAB s" and len(train) == 15 and len(test) == 85
    assert np.flatnonzero(labels).tolist() == list(range(45, 65))  # rows 60-79 after the cut
    assert np.flatnonzero(after).tolist() == list(range(55, 65))  # from row 70 on
    ceiling = causal_ceiling(labels, after)
    assert ceiling["labelled_before"] == 0.5
    # flagged rows are all labelled, so every normal row ranks below them: AUC-ROC is
    # half for the flagged labelled rows (1) and half for the others (tied with normal: 0.5)
    assert ceiling["auc_roc"] == pytest.approx(0.75)
    assert "AUC-ROC 0.750" in ceiling_md({"NAB": [{"causal_ceiling": ceiling}]})


def test_a_window_without_a_labelled_point_counts_from_its_start(tmp_path):
    write_nab(tmp_path, points=())
    [(*_, labels, after)] = list(nab(tmp_path))
    assert np.array_equal(labels, after)
    assert causal_ceiling(labels, after)["auc_roc"] == 1.0
    assert ceiling_md({"NASA": [{}]}) == ""
