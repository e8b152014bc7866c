"""Warm start: the new GAN starts from the current version's networks."""

import dataclasses

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
    assert warm_start(tiny_detector, "fanogan") == (None, [])


def test_a_retry_copies_again_without_listing_networks_twice(tiny_detector):
    """Every attempt builds fresh networks and calls init; the lineage listed each network
    once per attempt (['encoder', 'decoder', ..., 'encoder', 'decoder', ...])."""
    cfg = tiny_detector.config
    init, copied = warm_start(tiny_detector, cfg.model.kind)
    for seed in (0, 1):
        training = dataclasses.replace(cfg.training, seed=seed)
        init(build_gan(cfg.model, training, tiny_detector.window,
                       len(tiny_detector.feature_names)))
    assert sorted(copied) == sorted(set(copied)) and len(copied) >= 2


def test_networks_whose_shapes_changed_start_from_scratch_and_are_named_once(tiny_detector):
    cfg = tiny_detector.config
    model = dataclasses.replace(cfg.model, latent_dim=cfg.model.latent_dim + 1)
    said: list[str] = []
    init, copied = warm_start(tiny_detector, cfg.model.kind, said.append)
    for _ in range(2):  # a retry says nothing new
        gan = build_gan(model, cfg.training, tiny_detector.window,
                        len(tiny_detector.feature_names))
        init(gan)
    assert copied == ["discriminator"]  # the only network the latent code's size misses
    reshaped = ", ".join(n for n in gan.networks if n != "discriminator")
    assert said == [(f"note: retrain.mode warm_start: {reshaped} of the current version "
                     f"differ in shape from this config's (model.hidden, latent_dim or "
                     f"backbone changed), so they start from scratch; discriminator starts "
                     f"from the current version")]


def test_a_retrain_into_another_family_says_it_trains_from_scratch(store, config_file,
                                                                    tmp_path):
    """The current version is GANomaly; a warm_start config of f-AnoGAN printed
    '[train] warm_start on N rows from <current>' and trained from scratch."""
    from anomaly_gan.config import load_config
    from anomaly_gan.retrain.run import RetrainRequest, retrain
    from tests.retrain.conftest import write_csvs
    from tests.retrain.plant import TINY, rows

    cfg = load_config(config_file(
        model={**TINY["model"], "kind": "fanogan"},
        # One attempt: two f-AnoGAN epochs end unhealthy (mode collapse) and the default
        # three attempts trained it three times for nothing this test reads (35 s of 56).
        training={**TINY["training"], "epochs": 2, "max_attempts": 1},
        retrain={"mode": "warm_start", "exclude_over_threshold": False}))
    data = write_csvs(tmp_path, [rows(600, seed=7)])
    said: list[str] = []
    result = retrain(cfg, RetrainRequest(store=str(store.root), files=tuple(data),
                                         promote=False), progress=said.append)
    current = store.current()
    assert (f"note: retrain.mode warm_start: the current version {current} is a ganomaly "
            f"model and this config trains fanogan, so it has no networks to start from: "
            f"training from scratch") in said
    assert [m for m in said if m.startswith("[train]")] == ["[train] scratch on 480 rows"]
    lineage = result.report["lineage"]
    assert lineage["mode"] == "scratch (nothing to warm-start from)"
    assert lineage["warm_started"] == []
