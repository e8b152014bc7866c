"""The mixed-precision bench (bench/gpu_precision.py): each row is the precision it names."""

import argparse

import numpy as np
import pytest

from bench.gpu_precision import markdown, train_timed, with_training
from tests.support_models import plumbing_config, tiny_config


def test_a_run_is_one_attempt_in_the_precision_asked_for():
    """train_detector retries a float16 attempt that overflows under float32 (max_attempts
    3 by default): the row would have given float32's speed and AUC-PR as mixed_float16's."""
    cfg = with_training(plumbing_config(max_attempts=3), "mixed_float16", epochs=4)
    t = cfg.training
    assert (t.precision, t.max_attempts, t.epochs, t.patience) == ("mixed_float16", 1, 4, 4)


@pytest.mark.slow
def test_a_run_whose_losses_go_non_finite_is_a_row_saying_so():
    """A learning rate of 1 makes every loss non-finite: the bench stopped on the
    TrainingHealthError; the run is now a row that says so, left out of the means."""
    cfg = with_training(tiny_config(learning_rate=1.0, min_steps=100), "float32", epochs=3)
    detector, row = train_timed(cfg, [np.random.default_rng(0).normal(size=(300, 3))], 3)
    assert detector is None
    assert row["losses_finite"] is False and row["train_windows_per_s"] is None
    assert row["health"].startswith("failed: non-finite losses in ")
    row.update(series="X-1", auc_pr=None)
    env = {"device": "cpu", "platform": "cpu", "n_devices": 1, "keras": "3", "backend": "tf",
           "utc": "now"}
    args = argparse.Namespace(min_steps=None, epochs=2)
    text = markdown(env, args, [row], [], ["float32"])
    assert "| float32 (1 of 1 runs non-finite) | - | - | - | - | - |" in text
    assert "| X-1 | float32 | - | - | " in text and "| NO | failed: " in text
