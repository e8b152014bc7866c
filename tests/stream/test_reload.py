from types import SimpleNamespace

from anomaly_gan.errors import BundleError
from anomaly_gan.stream.reload import ModelWatcher, check_compatible


def fake(version, features=("a", "b"), window=4):
    det = SimpleNamespace(version=version, feature_names=features, window=window, warmed=[])
    det.warm_up = det.warmed.append  # records the batch size it was compiled for
    return det


def make_watcher(store):
    results = []
    w = ModelWatcher("store", 60.0, store["v1"], "fp-v1", on_result=results.append,
                     loader=lambda _p: store[store["current"]],
                     fingerprint=lambda _p: store["fp"], max_batch=64)
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
    assert store["v2"].warmed == [64]  # compiled for the scorer's batches before the swap
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


def test_any_error_in_a_check_is_a_failure_and_the_watcher_goes_on():
    store = {"v1": fake("v1"), "v2": fake("v2"), "current": "v1", "fp": "fp-v1"}
    results, checked = [], []
    w = ModelWatcher("store", 60.0, store["v1"], "fp-v1", on_result=results.append,
                     loader=lambda _p: store[store["current"]],
                     fingerprint=lambda _p: store["fp"], on_checked=checked.append,
                     clock=lambda: 1234.0)
    w.check_once()
    assert checked == [1234.0]

    def not_utf8(_p):  # what reading a `current` file of random bytes raised
        return b"\xff\xfe".decode("utf-8")

    w._fingerprint = not_utf8
    w.check_once()
    w.check_once()
    assert results == ["failure"] and checked == [1234.0]  # counted once, no check time

    # The same watcher still swaps in a good version promoted afterwards.
    w._fingerprint = lambda _p: store["fp"]
    store.update(current="v2", fp="fp-v2")
    w.check_once()
    assert results == ["failure", "success"] and w.take().version == "v2"
    assert checked == [1234.0, 1234.0]
