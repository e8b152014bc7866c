from types import SimpleNamespace

import pytest

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
                     fingerprint=lambda _p: store["fp"], resolve=lambda p: p, max_batch=64)
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


def test_a_rollback_before_the_swap_drops_the_pending_model_and_loads_nothing(caplog):
    """A promote loaded v2, and a rollback to v1 (the model in use) came before the loop
    took v2: the watcher loaded v1 again and handed it over, and the loop logged a second
    'model swapped' to the version it already ran. The pending v2 is now dropped, and the
    model in use stays, with nothing loaded."""
    store = {"v1": fake("v1"), "v2": fake("v2"), "current": "v2", "fp": "fp-v2"}
    w, results = make_watcher(store)
    w.check_once()
    assert results == ["success"]
    store["current"], store["fp"] = "v1", "fp-v1"
    with caplog.at_level("INFO", logger="anomaly_gan.stream.reload"):
        w.check_once()
    assert results == ["success"] and w.take() is None
    assert any("v2" in r.getMessage() and "dropped" in r.getMessage() for r in caplog.records)
    store["current"], store["fp"] = "v2", "fp-v2"  # promoted again: loaded again
    w.check_once()
    assert results == ["success", "success"] and w.take().version == "v2"
    store["current"], store["fp"] = "v1", "fp-v1"  # a rollback after the swap: a reload
    w.check_once()
    assert results == ["success", "success", "success"] and w.take().version == "v1"


def test_incompatible_or_broken_bundles_keep_the_old_model_and_count_once():
    store = {"v1": fake("v1"), "v2": fake("v2", window=8), "current": "v2", "fp": "fp-v2"}
    w, results = make_watcher(store)
    w.check_once()
    w.check_once()
    assert results == ["failure"] and w.take() is None
    assert "window 8" in check_compatible(store["v1"], store["v2"])
    assert "feature names" in check_compatible(store["v1"], fake("v3", features=("a", "c")))
    # the windows in memory hold the increases of the running model's data.counters
    counting = fake("v4")
    counting.counters = (1,)
    assert check_compatible(store["v1"], counting) == (
        "data.counters ['b'] differ from the running model's []")

    def broken(_p):
        raise BundleError("checksum mismatch")

    w._fingerprint = lambda _p: "fp-v3"
    w._loader = broken
    w.check_once()
    assert results == ["failure", "failure"] and w.take() is None


def logs_fake(version, **logs):
    """A logs model as check_compatible sees it: extras/logs.json and a logs: section."""
    from anomaly_gan.config import LogsConfig

    det = fake(version)
    det.extras = {"logs": {}}
    det.config = SimpleNamespace(logs=LogsConfig(**logs))
    return det


def test_a_logs_model_needs_the_running_ones_kind_and_logs_section():
    """serve keeps the parser and the open buckets of the logs model it started with, so a
    bundle trained with 30 s buckets over the 60 s one served (train --force onto the served
    path; same lines, so the same template columns) was swapped in and scored 60 s rows."""
    running = logs_fake("v1")
    assert check_compatible(running, logs_fake("v2", bucket_seconds=30.0)) == (
        "logs.bucket_seconds 30.0 differs from the running model's 60.0; restart serve to "
        "change it")
    from anomaly_gan.config import JsonFieldsConfig

    assert check_compatible(running, logs_fake("v2", json_fields=JsonFieldsConfig(message="msg"))
                            ).startswith("logs.json_fields ")
    assert check_compatible(running, logs_fake("v2", example_lines=5)) is None
    assert check_compatible(running, fake("v2")) == (
        "a metrics model cannot replace the running logs model; restart serve with it")
    assert check_compatible(fake("v1"), logs_fake("v2")) == (
        "a logs model cannot replace the running metrics model; restart serve with it")


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
                     clock=lambda: 1234.0, resolve=lambda p: p)
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


# ---------------------------------------------------------------- a store that moves


def test_a_refused_bundle_that_stays_current_is_not_a_good_check():
    store = {"v1": fake("v1"), "v2": fake("v2", window=8), "current": "v2", "fp": "fp-v2"}
    results, checked = [], []
    w = ModelWatcher("store", 60.0, store["v1"], "fp-v1", on_result=results.append,
                     loader=lambda _p: store[store["current"]], fingerprint=lambda _p: store["fp"],
                     on_checked=checked.append, clock=lambda: float(len(checked)),
                     resolve=lambda p: p)
    w.check_once()
    w.check_once()
    # Still serving v1 while `current` names v2: the check time stays put, so the
    # watcher-stuck alert sees it for as long as it lasts (the failure is counted once).
    assert results == ["failure"] and checked == []

    # `current` back on the model in use: nothing to load, nothing counted, checks resume.
    store.update(current="v1", fp="fp-v1")
    w.check_once()
    assert results == ["failure"] and checked == [0.0] and w.take() is None


def test_current_moving_during_a_load_cannot_leave_a_model_it_no_longer_names():
    store = {"v1": fake("v1"), "v2": fake("v2"), "v3": fake("v3"), "current": "v2"}

    def resolve(path):  # reads `current` on every call, as the real one does
        return store["current"] if path == "store" else path

    def load(path):  # a promote of v3, then a rollback to v2, while the bundle loads
        store["current"] = "v3"
        det = store[resolve(path)]
        store["current"] = "v2"
        return det

    results = []
    w = ModelWatcher("store", 60.0, store["v1"], "fp-v1", on_result=results.append,
                     loader=load, fingerprint=lambda p: f"fp-{resolve(p)}", resolve=resolve)
    w.check_once()
    assert w.take().version == "v2"  # what was fingerprinted is what was loaded
    w.check_once()
    assert results == ["success"] and w.take() is None


def test_a_bundle_replaced_while_it_loads_is_dropped_uncounted_and_loaded_again():
    dirs = {"served": "b1"}
    models = {"b0": fake("b0"), "b1": fake("b1"), "b2": fake("b2")}

    def load(path):
        det = models[dirs[path]]
        dirs[path] = "b2"  # `train --force` onto the served directory, mid-load
        return det

    results = []
    w = ModelWatcher("served", 60.0, models["b0"], "fp-b0", on_result=results.append,
                     loader=load, fingerprint=lambda p: f"fp-{dirs[p]}", resolve=lambda p: p)
    w.check_once()
    assert w.take() is None and results == []  # its files may come from both versions
    w.check_once()
    assert w.take().version == "b2" and results == ["success"]


def test_an_unreadable_file_is_one_log_line_naming_it_once(caplog):
    results = []

    def denied(_p):
        raise PermissionError(13, "Permission denied", "/models/v2/manifest.json")

    w = ModelWatcher("store", 60.0, fake("v1"), "fp-v1", on_result=results.append,
                     loader=lambda _p: None, fingerprint=denied, resolve=lambda p: p)
    with caplog.at_level("ERROR", logger="anomaly_gan.stream.reload"):
        w.check_once()
        w.check_once()
    assert results == ["failure"]
    line = ("model reload failed, keeping the current model: /models/v2/manifest.json: "
            "cannot read: Permission denied")
    assert [(r.getMessage(), r.exc_info) for r in caplog.records] == [(line, None)]


# ---------------------------------------------------------------- real bundles (slow)


def _resign(bundle, rel):
    """Record ``rel``'s new checksum in the manifest: damage the checksums cannot see."""
    import hashlib
    import json

    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"][rel] = hashlib.sha256((bundle / rel).read_bytes()).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def _real_store(tmp_path, stream_bundle, *versions):
    import shutil

    from anomaly_gan.artifacts import set_bundle_version

    store = tmp_path / "store"
    store.mkdir()
    shutil.copytree(stream_bundle, store / "v1")
    for v in versions:
        shutil.copytree(stream_bundle, store / v)
        set_bundle_version(store / v, v)
    (store / "current").write_text("v1\n")
    return store


def _make_unhealthy(bundle):
    import json

    meta = json.loads((bundle / "metadata.json").read_text())
    meta["health"] = {"status": "unhealthy", "issues": ["discriminator collapse"]}
    (bundle / "metadata.json").write_text(json.dumps(meta))
    _resign(bundle, "metadata.json")


def _damage(store, case, monkeypatch):
    """Make version ``bad`` of ``store`` broken in the way ``case`` says; returns what the
    log line must say."""
    import json

    from anomaly_gan import artifacts

    bad = store / "bad"
    net = next((bad / "nets").glob("*.keras"))
    rel = net.relative_to(bad).as_posix()
    if case == "missing":
        (store / "current").write_text("v9\n")
        return "names 'v9', which is not a model bundle"
    if case == "checksum":
        data = bytearray(net.read_bytes())
        data[len(data) // 2] ^= 0xFF
        net.write_bytes(bytes(data))
        return f"{bad}: checksum mismatch for {rel}"
    if case == "truncated":
        net.write_bytes(net.read_bytes()[:500])
        _resign(bad, rel)
        return f"{bad}: {rel} is damaged: not a complete .keras (zip) archive"
    if case == "no_calibration":
        (bad / "calibration.json").unlink()
        return f"{bad}: missing file calibration.json"
    if case == "features":
        cal = json.loads((bad / "calibration.json").read_text())
        cal["feature_names"][0] = "renamed"
        (bad / "calibration.json").write_text(json.dumps(cal))
        _resign(bad, "calibration.json")
        return "incompatible model: feature names"
    if case == "window":
        cal = json.loads((bad / "calibration.json").read_text())
        cal["window"] += 1
        (bad / "calibration.json").write_text(json.dumps(cal))
        _resign(bad, "calibration.json")
        return f"{bad}: network"
    if case == "unhealthy":  # kept with train --allow-unhealthy and put in place by hand
        _make_unhealthy(bad)
        return (f"{bad}: training health is unhealthy (discriminator "
                f"collapse); serve.allow_unhealthy is false")
    assert case == "permission"  # chmod does not stop root: deny the read itself
    sha256 = artifacts._sha256

    def denied(path):
        if bad in path.parents:
            raise PermissionError(13, "Permission denied", str(path))
        return sha256(path)

    monkeypatch.setattr(artifacts, "_sha256", denied)
    return f"{bad / 'manifest.json'}: cannot read: Permission denied"


@pytest.mark.parametrize("case", ["missing", "checksum", "truncated", "no_calibration",
                                  "features", "window", "permission", "unhealthy"])
def test_a_broken_bundle_keeps_the_model_with_one_line_and_one_failure(
        case, tmp_path, stream_bundle, stream_detector, monkeypatch, caplog):
    from anomaly_gan.artifacts import bundle_fingerprint

    store = _real_store(tmp_path, stream_bundle, "bad")
    results, checked = [], []
    w = ModelWatcher(str(store), 60.0, stream_detector, bundle_fingerprint(store),
                     on_result=results.append, on_checked=checked.append, clock=lambda: 1.0)
    (store / "current").write_text("bad\n")
    expected = _damage(store, case, monkeypatch)
    with caplog.at_level("INFO", logger="anomaly_gan.stream.reload"):
        w.check_once()
        w.check_once()
    assert w.take() is None and results == ["failure"]
    assert checked == []  # the watcher-stuck alert sees a current it will not serve
    [line] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert line.exc_info is None and "\n" not in line.getMessage()
    assert expected in line.getMessage(), line.getMessage()


def test_an_unhealthy_bundle_is_swapped_in_only_with_serve_allow_unhealthy(
        tmp_path, stream_bundle, stream_detector):
    """An unhealthy bundle set current by hand was hot-reloaded, though serve.allow_unhealthy
    (false) refuses it at start: a pod restarted next to a running one would have refused
    what the running one served. With the setting both serve it."""
    from anomaly_gan.artifacts import bundle_fingerprint

    store = _real_store(tmp_path, stream_bundle, "bad")
    _make_unhealthy(store / "bad")
    (store / "current").write_text("bad\n")
    results = []
    w = ModelWatcher(str(store), 60.0, stream_detector, bundle_fingerprint(store / "v1"),
                     on_result=results.append, allow_unhealthy=True)
    w.check_once()
    assert results == ["success"] and w.take().version == "bad"


def test_real_store_moving_during_a_load(tmp_path, stream_bundle, stream_detector):
    from anomaly_gan.artifacts import bundle_fingerprint, load_bundle

    store = _real_store(tmp_path, stream_bundle, "v2", "v3")
    current = store / "current"

    def load(path):  # a promote of v3 and a rollback to v2 during the load
        current.write_text("v3\n")
        det = load_bundle(path)
        current.write_text("v2\n")
        return det

    results = []
    w = ModelWatcher(str(store), 60.0, stream_detector, bundle_fingerprint(store),
                     on_result=results.append, loader=load)
    current.write_text("v2\n")
    w.check_once()
    assert w.take().version == "v2"
    w.check_once()
    assert w.take() is None and results == ["success"]


@pytest.mark.parametrize("repair", ["copy", "restore"])
def test_a_bundle_copied_or_repaired_in_place_is_loaded_once_its_files_are_whole(
        repair, tmp_path, stream_bundle, stream_detector):
    """``cp -r new/. served/`` copies in name order: manifest.json lands before
    metadata.json and nets/, so a check in between finds the new manifest beside old files
    and refuses the bundle. The fingerprint (the manifest's checksum) no longer changed after
    the copy ended, so the whole, valid bundle stayed refused until SIGHUP; a file restored
    in place likewise. A refused bundle is now tried again once any of its files changes."""
    import shutil

    from anomaly_gan import artifacts
    from anomaly_gan.artifacts import bundle_fingerprint

    served = tmp_path / "served"
    shutil.copytree(stream_bundle, served)
    results = []
    w = ModelWatcher(str(served), 60.0, stream_detector, bundle_fingerprint(served),
                     on_result=results.append)
    if repair == "copy":
        new = tmp_path / "b2"
        shutil.copytree(stream_bundle, new)
        artifacts.set_bundle_version(new, "b2")
        for f in sorted(p for p in new.rglob("*") if p.is_file()):
            shutil.copyfile(f, served / f.relative_to(new))  # as cp, one file at a time
            w.check_once()
            if f.name == "manifest.json":  # the new manifest beside the old metadata
                assert results == ["failure"] and w.take() is None
    else:
        good = tmp_path / "good"
        shutil.copytree(stream_bundle, good)
        artifacts.set_bundle_version(served, "b2")
        shutil.copytree(served, good, dirs_exist_ok=True)
        (served / "metadata.json").write_text("{}")  # damaged: refused
        w.check_once()
        w.check_once()
        assert results == ["failure"] and w.take() is None
        shutil.copyfile(good / "metadata.json", served / "metadata.json")
    w.check_once()
    assert results == ["failure", "success"] and w.take().version == "b2"
    w.check_once()
    assert results == ["failure", "success"] and w.take() is None


def test_real_bundle_replaced_while_it_loads(tmp_path, stream_bundle, stream_detector,
                                            monkeypatch):
    import shutil

    from anomaly_gan import artifacts
    from anomaly_gan.artifacts import bundle_fingerprint

    served = tmp_path / "served"
    shutil.copytree(stream_bundle, served)
    results = []
    w = ModelWatcher(str(served), 60.0, stream_detector, bundle_fingerprint(served),
                     on_result=results.append)
    for v in ("b1", "b2"):
        shutil.copytree(stream_bundle, tmp_path / v)
        artifacts.set_bundle_version(tmp_path / v, v)
    shutil.rmtree(served)
    shutil.copytree(tmp_path / "b1", served)
    inspect = artifacts.inspect_bundle

    def replaced_after_verifying(path):  # b1's manifest and calibration, then b2's networks
        info = inspect(path)
        if info.version == "b1":
            shutil.rmtree(served)
            shutil.copytree(tmp_path / "b2", served)
        return info

    monkeypatch.setattr(artifacts, "inspect_bundle", replaced_after_verifying)
    w.check_once()
    assert w.take() is None and results == []
    w.check_once()
    assert w.take().version == "b2" and results == ["success"]


def test_stop_waits_for_a_load_in_progress():
    """The scorer used to give a running load 5 s at exit, whatever the grace left; a
    process that exits while TensorFlow builds a model in that thread can abort (SIGABRT,
    exit 134). stop() now says whether the thread ended within its timeout."""
    import threading

    loading, release = threading.Event(), threading.Event()

    def slow_load(_path):
        loading.set()
        release.wait(10)
        return fake("v2")

    w = ModelWatcher("store", 0.01, fake("v1"), "fp-v1", loader=slow_load,
                     fingerprint=lambda _p: "fp-v2", resolve=lambda p: p, max_batch=8).start()
    assert loading.wait(10)
    assert w.stop(timeout_s=0.05) is False  # still loading
    release.set()
    assert w.stop(timeout_s=10) is True
    assert ModelWatcher("store", 60.0, fake("v1"), "fp-v1", loader=slow_load,
                        fingerprint=lambda _p: "fp-v1", resolve=lambda p: p).stop() is True


def test_check_now_checks_at_once_and_retries_a_refused_bundle():
    """``serve`` calls check_now() on SIGHUP (which used to end the process at once, with no
    drain and no log line): the check comes before the interval is up, and a bundle that
    was refused is tried again, so one repaired in place (the same manifest, so the same
    fingerprint) is loaded without waiting for another promote."""
    import threading

    store = {"v1": fake("v1"), "v2": fake("v2"), "current": "v2", "fp": "fp-v2"}
    w, results = make_watcher(store)  # a 60 s interval: no check comes by itself
    loads = []
    loaded = threading.Event()

    def load(_p):
        loads.append(_p)
        if len(loads) == 1:
            raise BundleError("v2/nets/generator.keras: checksum mismatch")
        loaded.set()
        return store["v2"]

    w._loader = load
    w.check_once()
    w.check_once()
    assert results == ["failure"] and len(loads) == 1  # refused, and not tried again
    w.start()
    try:
        w.check_now()
        assert loaded.wait(30)
    finally:
        assert w.stop(timeout_s=30)
    assert results == ["failure", "success"]
    assert w.take().version == "v2"


def test_a_bundle_that_changes_or_vanishes_while_it_loads_is_not_a_good_check():
    """A version directory removed while it loaded (a prune, a hand `rm -r`) was dropped
    as "changed while it was loaded", and that check counted as a good one: the watcher's
    last-check time moved on while the path named no bundle at all."""
    present = {"v2": True}

    def fingerprint(p):
        if not present["v2"]:
            raise FileNotFoundError(2, "No such file or directory", p)
        return "fp-v2"

    def load(p):
        present["v2"] = False  # removed mid-load
        raise FileNotFoundError(2, "No such file or directory", f"{p}/nets")

    results, checked = [], []
    w = ModelWatcher("store", 60.0, fake("v1"), "fp-v1", on_result=results.append, loader=load,
                     fingerprint=fingerprint, resolve=lambda p: p, on_checked=checked.append,
                     clock=lambda: 1.0)
    w.check_once()
    assert checked == [] and results == [] and w.take() is None
    w.check_once()  # the path names nothing: one failure, the check time still put
    assert checked == [] and results == ["failure"]
