from types import SimpleNamespace

import numpy as np

from anomaly_gan.errors import BundleError
from anomaly_gan.stream.reload import ModelWatcher, check_compatible


def fake(version, features=("a", "b"), window=4):
    def score_windows(raw):
        return SimpleNamespace(score=np.zeros(len(raw)))
    return SimpleNamespace(version=version, feature_names=features, window=window,
                           score_windows=score_windows)


def make_watcher(store):
    results = []
    w = ModelWatcher("store", 60.0, store["v1"], "fp-v1", on_result=results.append,
                     loader=lambda _p: store[store["current"]],
                     fingerprint=lambda _p: store["fp"])
    return w, results


def test_unchanged_fingerprint_does_nothing():
    store = {"v1": fake("v1"), "current": "v1", "fp": "fp-v1"}
    w, results = make_watcher(store)
    w.check_once()
    assert results == [] and w.take() is None


def test_new_compatible_version_is_handed_over_once():
    store = {"v1": fake("v1"), "v2": fake("v2"), "current": "v2", "fp": "fp-v2"}
    w, results = make_watcher(store)
    w.check_once()
    w.check_once()
    assert results == ["success"]
    assert w.take().version == "v2" and w.take() is None


def test_incompatible_or_broken_bundles_keep_the_old_model_and_count_once():
    store = {"v1": fake("v1"), "v2": fake("v2", window=8), "current": "v2", "fp": "fp-v2"}
    w, results = make_watcher(store)
    w.check_once()
    w.check_once()
    assert results == ["failure"] and w.take() is None
    assert "window 8" in check_compatible(store["v1"], store["v2"])
    assert "feature names" in check_compatible(store["v1"], fake("v3", features=("a", "c")))

    def broken(_p):
        raise BundleError("checksum mismatch")

    w._fingerprint = lambda _p: "fp-v3"
    w._loader = broken
    w.check_once()
    assert results == ["failure", "failure"] and w.take() is None


def test_unresolvable_path_counts_a_failure_once():
    store = {"v1": fake("v1"), "current": "v1", "fp": "fp-v1"}
    w, results = make_watcher(store)

    def gone(_p):
        raise BundleError("store/current names 'v9', which is not a model bundle")

    w._fingerprint = gone
    w.check_once()
    w.check_once()
    assert results == ["failure"]
