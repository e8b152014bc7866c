"""The model contract, run over every registered model family (and both backbones)."""

import numpy as np
import pytest

from anomaly_gan.artifacts import load_bundle, save_bundle
from anomaly_gan.evaluate import evaluate_scores
from anomaly_gan.models import MODEL_KINDS
from anomaly_gan.train import train_detector
from tests.support_models import FEATURES, normal_series, tiny_config, with_anomalies

pytestmark = pytest.mark.slow

CASES = [(k, "conv1d") for k in MODEL_KINDS] + [("ganomaly", "dense")]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: "-".join(c))
def trained(request):
    kind, backbone = request.param
    cfg = tiny_config(kind, backbone)
    return cfg, train_detector(cfg, normal_series(1500), FEATURES)


def test_output_shapes_and_components(trained):
    cfg, det = trained
    x, _ = with_anomalies(400)
    res = det.score_series(x)
    assert len(res) == 400 and res.contributions.shape == (400, 3)
    assert np.isnan(res.score[: det.window - 1]).all() and np.isfinite(res.score[det.window - 1 :]).all()
    expected = {"reconstruction", "discriminator", "quiet"} | (
        {"latent", "knn"} if det.kind == "ganomaly" else set())
    assert set(res.components) == expected
    assert all(len(t) == cfg.scoring.top_k for t in res.top_features[det.window - 1 :])
    assert ((res.severity[det.window - 1 :] >= 0) & (res.severity[det.window - 1 :] <= 100)).all()


def test_detects_easy_injected_anomalies(trained):
    _, det = trained
    x, labels = with_anomalies(1200)
    m = evaluate_scores(det.score_series(x).score, labels, det.threshold)
    assert m["auc_roc"] >= 0.9, m


def test_save_load_gives_identical_scores(trained, tmp_path):
    _, det = trained
    x, _ = with_anomalies(300)
    before = det.score_series(x)
    loaded = load_bundle(save_bundle(det, tmp_path / "bundle"))
    after = loaded.score_series(x)
    np.testing.assert_array_equal(before.score, after.score)
    assert before.top_features == after.top_features
    assert loaded.version == det.version and loaded.threshold == det.threshold


def test_window_scores_equal_series_scores(trained):
    """The streaming path (score_windows on micro-batches) equals offline score_series."""
    _, det = trained
    x, _ = with_anomalies(200)
    series = det.score_series(x).score[det.window - 1 :]
    from anomaly_gan.data import sliding_windows

    w = sliding_windows(x, det.window)
    batched = np.concatenate([det.score_windows(w[i : i + 7]).score for i in range(0, len(w), 7)])
    # float32 convolutions round differently by batch composition (a few ulps); relative to
    # the score's magnitude that stays far below 1e-5.
    np.testing.assert_allclose(batched, series, rtol=1e-6, atol=1e-5)
