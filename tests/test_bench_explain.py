"""The explanation bench (bench/explain.py): each fault lands on its one feature and rows."""

import numpy as np
import pytest

from bench.explain import FAULT_ROWS, LAG, inject, layout


@pytest.mark.parametrize("kind", sorted(FAULT_ROWS))
@pytest.mark.parametrize("name", ["plant", "mixed", "setpoint", "drift"])
def test_a_fault_changes_only_its_feature_in_its_rows(name, kind):
    x, features = layout(name, 1000, seed=0)
    assert x.shape == (1000, len(features))
    j, start = len(features) - 1, 400
    sd = x.std(axis=0)
    faulted = x.copy()
    inject(faulted, kind, j, start, sd, np.random.default_rng(0))
    changed = np.argwhere(faulted != x)
    assert len(changed), kind  # the fault changed the data
    assert set(changed[:, 1].tolist()) == {j}  # on the one feature
    rows = changed[:, 0]
    assert rows.min() >= start and rows.max() < start + FAULT_ROWS[kind]  # in its rows


def test_decouple_replays_the_features_own_earlier_readings():
    x, _ = layout("mixed", 1000, seed=1)
    faulted = x.copy()
    inject(faulted, "decouple", 2, 500, x.std(axis=0), np.random.default_rng(0))
    end = 500 + FAULT_ROWS["decouple"]
    assert np.array_equal(faulted[500:end, 2], x[500 - LAG:end - LAG, 2])
