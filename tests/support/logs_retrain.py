"""The tiny logs config of the retrain tests, with the gate opened (``logs_retrain_config``):
tests/retrain/test_logs_retrain.py and tests/retrain/test_source.py."""

from __future__ import annotations

import copy

from anomaly_gan.config import config_from_dict
from tests.logs.conftest import TINY_LOGS_CONFIG

# The tiny model's gate on a 30-minute synthetic log is not what these tests are about.
GATE = {"gate": {"max_false_alarm_rate": 1.0}, "exclude_over_threshold": False}


def logs_retrain_config(**extra):
    raw = copy.deepcopy(TINY_LOGS_CONFIG)
    raw["retrain"] = GATE
    raw["training"].update(min_steps=400)  # the gate refuses an unhealthy candidate
    for section, values in extra.items():
        raw.setdefault(section, {}).update(values)
    return config_from_dict(raw, "logs retrain config")
