"""Warm start: the new GAN starts from the current version's networks."""

import numpy as np
import pytest

from anomaly_gan.models import build_gan
from anomaly_gan.retrain.run import warm_start

pytestmark = pytest.mark.slow


def test_warm_start_copies_every_network_of_the_current_version(tiny_detector):
    cfg = tiny_detector.config
    gan = build_gan(cfg.model, cfg.training, tiny_detector.window, len(tiny_detector.feature_names))
    init, copied = warm_start(tiny_detector, cfg.model.kind)
    init(gan)
    assert sorted(copied) == sorted(gan.networks)
    scorer = tiny_detector.nets["scorer"]
    for name, net in gan.networks.items():
        for a, b in zip(net.get_weights(), scorer.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_warm_start_from_another_family_starts_from_scratch(tiny_detector):
    init, copied = warm_start(tiny_detector, "fanogan")
    init(object())  # never touched
    assert copied == []
