import dataclasses
import hashlib
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from anomaly_gan.artifacts import (
    bundle_fingerprint,
    check_destination,
    inspect_bundle,
    load_bundle,
    promote,
    resolve_bundle_path,
    save_bundle,
    set_bundle_version,
)
from anomaly_gan.detector import Detector
from anomaly_gan.errors import BundleError, OutputError
from anomaly_gan.scoring import combine
from tests.support.cli import run_cli
from tests.support.detectors import untrained_detector
from tests.support.files import deny_new_entries
from tests.support.store import deny_search
from tests.support_models import FEATURES


def test_bundle_layout_and_metadata(tiny_bundle, tiny_detector):
    names = {p.relative_to(tiny_bundle).as_posix() for p in tiny_bundle.rglob("*") if p.is_file()}
    assert {"manifest.json", "metadata.json", "config.yaml", "calibration.json"} <= names
    assert any(n.startswith("nets/") and n.endswith(".keras") for n in names)
    assert not any(n.endswith((".pkl", ".pickle", ".h5")) for n in names)
    meta = json.loads((tiny_bundle / "metadata.json").read_text())
    for key in ("version", "kind", "created", "training_data", "duration_seconds", "libraries",
                "validation", "health", "history"):
        assert key in meta
    assert meta["training_data"]["rows"] == 800 and len(meta["training_data"]["sha256"]) == 64
    assert not list(tiny_bundle.parent.glob(".bundle.*")), "temporary directory left behind"


def test_checksum_mismatch_is_refused(tiny_bundle):
    cal = tiny_bundle / "calibration.json"
    cal.write_text(cal.read_text().replace('"window": 16', '"window": 17'))
    with pytest.raises(BundleError, match="checksum mismatch for calibration.json"):
        load_bundle(tiny_bundle)


def test_missing_file_and_wrong_format(tiny_bundle):
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    manifest["format_version"] = 99
    (tiny_bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="bundle format 99 is not supported"):
        load_bundle(tiny_bundle)
    manifest["format_version"] = 2
    (tiny_bundle / "manifest.json").write_text(json.dumps(manifest))
    (tiny_bundle / "config.yaml").unlink()
    with pytest.raises(BundleError, match="missing file config.yaml"):
        load_bundle(tiny_bundle)


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nope")
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(tmp_path)


def test_a_store_with_no_current_names_its_versions_and_the_promote_command(tmp_path):
    """serve --model at a store nothing was promoted in said only 'not a model bundle nor a
    store'; it is a store, and the fix is one command."""
    for version in ("v2", "v1"):
        (tmp_path / version).mkdir()
        (tmp_path / version / "manifest.json").write_text("{}")
    (tmp_path / "tmp").mkdir()  # not a bundle: not listed
    with pytest.raises(BundleError) as info:
        resolve_bundle_path(tmp_path)
    assert str(info.value) == (f"{tmp_path}: a store with no 'current' file (versions: v1, v2); "
                               f"promote one: anomaly-gan models promote --store {tmp_path} "
                               f"VERSION")
    with pytest.raises(BundleError, match="nor a store"):
        resolve_bundle_path(tmp_path / "tmp")


def test_existing_directory_needs_overwrite(tiny_detector, tiny_bundle):
    with pytest.raises(OutputError, match="already exists"):
        save_bundle(tiny_detector, tiny_bundle)
    save_bundle(tiny_detector, tiny_bundle, overwrite=True)
    load_bundle(tiny_bundle)


def test_store_current_and_promote(tiny_detector, tmp_path):
    store = tmp_path / "store"
    save_bundle(tiny_detector, store / "v1")
    save_bundle(tiny_detector, store / "v2")
    with pytest.raises(BundleError, match="a store with no 'current' file"):
        resolve_bundle_path(store)
    promote(store, "v1")
    assert resolve_bundle_path(store) == store / "v1"
    fp1 = bundle_fingerprint(store)
    promote(store, "v2")
    assert resolve_bundle_path(store) == store / "v2" and bundle_fingerprint(store) != fp1
    det = load_bundle(store)
    x = np.random.default_rng(0).normal(size=(40, 3))
    np.testing.assert_array_equal(det.score_series(x).score, tiny_detector.score_series(x).score)
    (store / "current").write_text("v9\n")
    with pytest.raises(BundleError, match="names 'v9', which is not a model bundle"):
        load_bundle(store)


def _rewrite(bundle, rel, edit):
    """Change one file and re-sign it in the manifest, as a careless tool would."""
    path = bundle / rel
    path.write_text(edit(path.read_text()))
    _resign(bundle, rel)


def _resign(bundle, rel):
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"][rel] = hashlib.sha256((bundle / rel).read_bytes()).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("manifest, expected", [
    ("[1, 2]", "manifest.json: expected a JSON object, got list"),
    ('{"format_version": 1, "version": "v", "files": {"a": "b"}}',
     "manifest.json: kind: expected a non-empty string, got None"),
    ('{"format_version": 1, "version": "v", "kind": "ganomaly", "files": {"../x": "b"}}',
     "files: '../x' is not a file inside the bundle"),
    # ValueError tracebacks from os.lstat until 2026-12
    ('{"format_version": 1, "version": "v", "kind": "ganomaly", "files": {"a\\u0000b": "b"}}',
     r"files: 'a\\x00b' is not a file inside the bundle"),
    ('{"format_version": 1, "version": "v", "kind": "ganomaly", "files": {"a\\ud800": "b"}}',
     r"files: 'a\\ud800' is not a file inside the bundle"),
    ('{"format_version": 1, "version": "v", "kind": "ganomaly", "files": {"a.json": 5}}',
     r"files: 'a.json': expected its SHA-256 as a hex string, got 5$"),
    ("{not json", "manifest.json: manifest is not valid JSON: Expecting property name"),
    ("[" * 100_000, "manifest.json: manifest is nested too deeply to be read as JSON"),
    ('{"files": "\udcff"}'.encode("utf-8", "surrogateescape"),
     "manifest.json: expected manifest as UTF-8 JSON, got undecodable bytes at byte 11"),
])
def test_manifest_of_the_wrong_shape(tmp_path, manifest, expected):
    """Read as the store reads its files (anomaly_gan.files.read_json): until 2026-12 a
    manifest that was not JSON read 'unreadable manifest' with Python's words for why."""
    if isinstance(manifest, bytes):
        (tmp_path / "manifest.json").write_bytes(manifest)
    else:
        (tmp_path / "manifest.json").write_text(manifest)
    with pytest.raises(BundleError, match=expected) as info:
        inspect_bundle(tmp_path)
    assert "\n" not in str(info.value)


def test_store_current_that_is_not_utf8(tmp_path):
    (tmp_path / "current").write_bytes(b"\xff\xfe\x00v1\n")
    with pytest.raises(BundleError, match="current: expected the name of a version directory "
                                          "as UTF-8 text"):
        resolve_bundle_path(tmp_path)
    (tmp_path / "current").write_text("x" * 5000)
    with pytest.raises(BundleError, match="which is not a model bundle"):
        resolve_bundle_path(tmp_path)


@pytest.mark.parametrize("field, value, expected", [
    ("threshold", {"value": float("nan"), "method": "quantile"},
     "threshold.value: expected a finite number, got nan"),
    ("severity_quantiles", [0.0] * 3, "severity_quantiles: expected 201 finite, non-decreasing"),
    ("weights", {"speed": 1.0}, "weights.speed: no such component"),
    ("two_sided_floors", {"speed": -3.0}, "two_sided_floors.speed: no such component"),
    ("max_share", 1.5, r"max_share: expected a number in \[0, 1\], got 1.5"),
    ("feature_errors", {"stats": {"median": [0.0], "scale": [1.0]}, "floors": None,
                        "worst": {"median": 0.0, "scale": 1.0}},
     r"feature_errors.stats.median: expected 3 finite number\(s\), got shape \(1,\)"),
    ("quiet", {"low": [0.0] * 3, "scale": [1.0, 0.0, 1.0], "eps": [0.01] * 3, "margin": 3.0},
     "quiet.scale: expected numbers > 0"),
    ("quiet", {"low": [0.0] * 3, "scale": [1.0] * 3, "eps": [0.01, 0.0, 0.01], "margin": 3.0},
     "quiet.eps: expected numbers > 0"),
    ("quiet", {"low": [0.0], "scale": [1.0], "eps": [0.01], "margin": 3.0},
     r"quiet.low: expected 3 finite number\(s\), got shape \(1,\)"),
    ("window", 1, "window: expected an integer >= 2"),
])
def test_calibration_is_validated_on_load(tiny_bundle, field, value, expected):
    def edit(text):
        raw = json.loads(text)
        raw[field] = value
        return json.dumps(raw)

    _rewrite(tiny_bundle, "calibration.json", edit)
    with pytest.raises(BundleError, match=expected):
        inspect_bundle(tiny_bundle)


@pytest.fixture
def untrained_bundle(tmp_path):
    bundle = save_bundle(untrained_detector(), tmp_path / "bundle")
    inspect_bundle(bundle)  # well-formed as written
    return bundle


_MISSING = object()


@pytest.mark.parametrize("field, value, expected", [
    ("feature_stats", None,
     "feature_stats: expected an object with number lists 'median' and 'scale', got None"),
    ("component_stats", _MISSING,
     ("component_stats: missing; expected an object of numbers 'median' and 'scale' per "
      "component")),
    ("threshold", "abc",
     "threshold: expected an object with a number 'value' and a 'method', got 'abc'"),
    ("severity_quantiles", "x", "severity_quantiles: expected a list of numbers, got 'x'"),
    ("weights", [1], "weights: expected an object of a number per component, got [1]"),
    ("max_share", "0.5", "max_share: expected a number, got '0.5'"),
    ("quiet", "x",
     ("quiet: expected an object with number lists 'low', 'scale' and 'eps' and a number "
      "'margin', got 'x'")),
    ("reference_codes", [[1.0, 2.0]],
     ("reference_codes: expected a non-empty table of finite latent codes of 4 values each "
      "(model.latent_dim), got shape (1, 2)")),
    ("reference_codes", [[1.0, 2.0], [3.0]],
     ("reference_codes: expected a table of latent codes (equal-length lists of numbers), "
      "got [[1.0, 2.0], [3.0]]")),
    ("feature_names", ["temp", "temp", "flow"],
     "feature_names: expected a non-empty list of distinct strings, got ['temp', 'temp', 'flow']"),
    ("feature_names", [0, 1, 2],
     "feature_names: expected a non-empty list of distinct strings, got [0, 1, 2]"),
    ("scaler", {"method": "robust"}, "scaler.center: missing; expected a list of numbers"),
    ("scaler", None, "scaler: expected an object with 'method', 'center' and 'scale', got None"),
    ("window", "16", "window: expected an integer >= 2, got '16'"),
])
def test_malformed_calibration_names_the_file_and_the_key(untrained_bundle, field, value,
                                                          expected):
    def edit(text):
        raw = json.loads(text)
        if value is _MISSING:
            del raw[field]
        else:
            raw[field] = value
        return json.dumps(raw)

    _rewrite(untrained_bundle, "calibration.json", edit)
    with pytest.raises(BundleError) as info:
        inspect_bundle(untrained_bundle)
    assert str(info.value).startswith(f"{untrained_bundle / 'calibration.json'}: {expected}")
    assert "\n" not in str(info.value)


def _replace(path, make):
    path.unlink()
    make(path)


NET = "nets/scorer.keras"


@pytest.mark.parametrize("damage, expected", [
    (lambda f: _replace(f, lambda p: p.mkdir()),
     "{b}: nets/scorer.keras listed in the manifest is a directory, not a regular file"),
    (lambda f: _replace(f, lambda p: p.symlink_to(p)),
     ("{b}: nets/scorer.keras listed in the manifest is a symbolic link; a bundle holds "
      "regular files only")),
    (lambda f: f.unlink(), "{b}: missing file nets/scorer.keras listed in the manifest"),
    (lambda f: f.write_bytes(b""),
     "{b}: checksum mismatch for nets/scorer.keras (file changed or corrupted)"),
    (lambda f: _replace(f.parent.parent / "manifest.json", lambda p: p.symlink_to(p)),
     "{b}/manifest.json: cannot read: Too many levels of symbolic links"),
], ids=["directory", "symlink-loop", "missing", "zero-bytes", "manifest-symlink-loop"])
def test_a_damaged_file_of_the_bundle_is_one_line_naming_it(untrained_bundle, damage, expected):
    """A directory or a link loop in place of a listed file read 'missing file', and a
    manifest that is a link loop 'not a model bundle'."""
    damage(untrained_bundle / NET)
    with pytest.raises(BundleError) as info:
        inspect_bundle(untrained_bundle)
    assert str(info.value) == expected.format(b=untrained_bundle)


@pytest.mark.parametrize("link, expected", [
    ("config.yaml", "config.yaml listed in the manifest is a symbolic link"),
    ("nets", ("nets/scorer.keras listed in the manifest lies under nets/, which is a "
              "symbolic link")),
], ids=["file", "directory"])
def test_a_link_out_of_the_bundle_is_refused_without_showing_what_it_points_at(
        untrained_bundle, tmp_path, link, expected):
    """A bundle on a shared volume whose config.yaml linked to a file outside it (re-signed
    in the manifest) was read with the loader's rights, and the error showed that file's
    first key ('root: unknown key'); one whose nets/ linked elsewhere loaded networks from
    there. The bundle directory itself may still be a link (test_store)."""
    outside = tmp_path / "outside"
    if link == "config.yaml":
        outside.write_text("root: s3cret-line\n")
    else:
        (untrained_bundle / "nets").rename(outside)
    target = untrained_bundle / link
    target.unlink(missing_ok=True)
    target.symlink_to(outside)
    if link == "config.yaml":
        _resign(untrained_bundle, link)
    with pytest.raises(BundleError) as info:
        inspect_bundle(untrained_bundle)
    assert str(info.value) == (f"{untrained_bundle}: {expected}; a bundle holds regular files "
                               f"only")


def test_a_bundle_config_with_a_python_tag_or_a_misfit_tag_is_one_line(untrained_bundle):
    """config.yaml is read with the config's safe loader: no Python objects, and a value
    that does not fit its tag is a BundleError, not a KeyError traceback (exit 1)."""
    _rewrite(untrained_bundle, "config.yaml",
             lambda _: "!!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(BundleError, match="could not determine a constructor for the tag"):
        inspect_bundle(untrained_bundle)
    _rewrite(untrained_bundle, "config.yaml", lambda _: "training: {distribute: !!bool maybe}\n")
    with pytest.raises(BundleError) as info:
        inspect_bundle(untrained_bundle)
    assert "not a valid !!bool (value not shown)" in str(info.value)
    assert "maybe" not in str(info.value)


def test_a_lambda_layer_is_refused_without_running_it(untrained_bundle, tmp_path):
    """safe_mode=True: a network with a Python lambda is refused, and the lambda, which
    runs whenever the model is built (safe_mode=False would), never runs on load."""
    import keras

    marker = tmp_path / "ran"
    where = str(marker)  # what the lambda's closure holds must be serializable
    inp = keras.Input((16, len(FEATURES)))
    out = keras.layers.Lambda(lambda x: (open(where, "w").close(), x)[1])(inp)
    keras.Model(inp, keras.layers.Dense(len(FEATURES))(out)).save(untrained_bundle / NET)
    marker.unlink()  # building it above ran the lambda once
    _resign(untrained_bundle, NET)
    with pytest.raises(BundleError) as info:
        load_bundle(untrained_bundle)
    assert str(info.value).startswith(f"{untrained_bundle}: cannot load network {NET}: "
                                      "Requested the deserialization of a `Lambda` layer")
    assert "\n" not in str(info.value) and not marker.exists()


def test_a_bundle_config_larger_than_a_config_may_be_is_refused(untrained_bundle):
    from anomaly_gan.config import MAX_CONFIG_BYTES

    _rewrite(untrained_bundle, "config.yaml", lambda t: t + "#" * MAX_CONFIG_BYTES)
    with pytest.raises(BundleError, match=f"larger than the {MAX_CONFIG_BYTES} bytes"):
        inspect_bundle(untrained_bundle)


def test_an_unreadable_file_or_version_is_cannot_read(untrained_bundle, monkeypatch):
    """They ended in a PermissionError traceback, or, for the version a store's current
    names, read 'which is not a model bundle'."""
    real_open = type(untrained_bundle).open

    def refuse(self, *args, **kwargs):
        if self.name == "scorer.keras":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(type(untrained_bundle), "open", refuse)
        with pytest.raises(BundleError) as info:
            inspect_bundle(untrained_bundle)
    assert str(info.value) == f"{untrained_bundle / NET}: cannot read: Permission denied"

    store = untrained_bundle.parent
    version = untrained_bundle.rename(store / "v1")
    (store / "current").write_text("v1\n")
    deny_search(monkeypatch, version)
    for path in (store, version):
        with pytest.raises(BundleError) as info:
            inspect_bundle(path)
        assert str(info.value) == f"{version}: cannot read: Permission denied"


def test_extra_files_and_an_unusual_path_are_fine(tmp_path):
    bundle = save_bundle(untrained_detector(), tmp_path / "mödel dir 模型" / "v 1")
    (bundle / "notes.txt").write_text("unlisted, ignored")
    (bundle / "nets" / "old.keras.bak").write_bytes(b"x")
    assert inspect_bundle(bundle).net_files == (NET,)


def loadable_detector() -> Detector:
    """:func:`untrained_detector` with a network Keras can load: untrained, made in a moment."""
    import keras

    net = keras.Sequential([keras.Input((16, 3)), keras.layers.Flatten(), keras.layers.Dense(1)])
    return dataclasses.replace(untrained_detector(), nets={"scorer": net})


@pytest.mark.parametrize("keep", [0.0, 0.5], ids=["zero-bytes", "half"])
@pytest.mark.parametrize("when", ["re-signed", "after-inspect"])
def test_a_truncated_network_is_named_as_damaged(tmp_path, keep, when):
    """Keras calls a .keras file that is not a complete zip archive "File not found". The
    checksum catches it unless the manifest was re-signed, or the file changed between
    inspect_bundle and load_bundle (the CLI imports TensorFlow in between, retrain trains)."""
    bundle = save_bundle(loadable_detector(), tmp_path / "b")
    info = inspect_bundle(bundle)
    net = bundle / NET
    net.write_bytes(net.read_bytes()[:int(net.stat().st_size * keep)])
    if when == "re-signed":
        _resign(bundle, NET)
    with pytest.raises(BundleError) as err:
        load_bundle(bundle if when == "re-signed" else info)
    assert str(err.value) == (f"{bundle}: nets/scorer.keras is damaged: not a complete .keras "
                              f"(zip) archive; truncated or corrupted, restore or retrain the "
                              f"bundle")


def test_a_damaged_network_fails_score_and_evaluate_in_one_line(untrained_bundle, tmp_path):
    """The network of an untrained bundle is a few bytes that are no zip archive."""
    data = tmp_path / "d.csv"
    data.write_text("temp,rpm,flow\n" + "1,2,3\n" * 20)
    labels = tmp_path / "labels.csv"
    labels.write_text("0\n" * 20)
    out = run_cli(["score", "--model", str(untrained_bundle), "--data", str(data),
                   "--out", str(tmp_path / "s.csv")],
                  ["evaluate", "--model", str(untrained_bundle), "--data", str(data),
                   "--labels", str(labels)])
    expected = (f"anomaly-gan: error: {untrained_bundle}: nets/scorer.keras is damaged: not a "
                f"complete .keras (zip) archive; truncated or corrupted, restore or retrain "
                f"the bundle\n")
    assert out["results"] == [[2, expected], [2, expected]]


def test_set_bundle_version_renames_it_and_keeps_it_valid(untrained_bundle):
    """What the store does when another writer took the name it chose (test_store.py)."""
    set_bundle_version(untrained_bundle, "v1-2")
    info = inspect_bundle(untrained_bundle)  # checksums still match
    assert info.version == "v1-2" and info.metadata["version"] == "v1-2"


def test_calibration_that_is_not_an_object(untrained_bundle):
    _rewrite(untrained_bundle, "calibration.json", lambda _: "[1]")
    with pytest.raises(BundleError, match=r"calibration.json: expected a JSON object, got list"):
        inspect_bundle(untrained_bundle)


def test_latent_codes_of_the_wrong_width_fail_the_command_in_one_line(untrained_bundle,
                                                                       tmp_path):
    """They used to pass loading and end ``score`` in a TensorFlow traceback."""
    def edit(text):
        raw = json.loads(text)
        raw["reference_codes"] = [[1.0, 2.0]]
        return json.dumps(raw)

    _rewrite(untrained_bundle, "calibration.json", edit)
    data = tmp_path / "d.csv"
    data.write_text("temp,rpm,flow\n" + "1,2,3\n" * 20)
    out = run_cli(["score", "--model", str(untrained_bundle), "--data", str(data),
                   "--out", str(tmp_path / "s.csv")])
    [(rc, err)] = out["results"]
    assert rc == 2 and not out["tensorflow"]
    assert err == (f"anomaly-gan: error: {untrained_bundle / 'calibration.json'}: reference_codes: "
                   f"expected a non-empty table of finite latent codes of 4 values each "
                   f"(model.latent_dim), got shape (1, 2); the knn component measures distances "
                   f"to them\n")


def _as_older_format(bundle, version, *missing):
    """Make ``bundle`` what an older anomaly-gan wrote: its calibration without the keys
    ``missing`` (re-signed) and the manifest's ``format_version`` set to ``version``."""
    def edit(text):
        raw = json.loads(text)
        for key in missing:
            del raw[key]
        return json.dumps(raw)

    _rewrite(bundle, "calibration.json", edit)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["format_version"] = version
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def test_bundle_without_two_sided_scores_one_sided(tiny_bundle, tiny_detector):
    """Bundles written before two-sided scoring have no such keys: they score as before
    (one-sided, the reconstruction error averaged over features)."""
    assert set(tiny_detector.calibration.floors) == {"reconstruction", "discriminator", "latent"}

    # what this anomaly-gan wrote before feature_errors
    _as_older_format(tiny_bundle, 1, "two_sided_floors", "feature_errors", "max_share")
    old = load_bundle(tiny_bundle)
    assert old.calibration.floors == {} and old.calibration.feature_errors is None
    assert old.calibration.max_share == 0.0
    windows = np.random.default_rng(3).normal(size=(5, old.window, old.n_features))
    res = old.score_windows(windows)
    np.testing.assert_allclose(res.score, combine(res.components, old.calibration.weights))


def test_format_2_bundle_scores_with_the_weighted_mean_alone(tiny_bundle, tiny_detector):
    """Format 2 bundles have no max_share: they score as they did (the weighted mean), and
    this version's bundles give the largest component its share."""
    assert tiny_detector.calibration.max_share == 0.5
    windows = np.random.default_rng(4).normal(size=(5, tiny_detector.window,
                                                   tiny_detector.n_features))
    cal = tiny_detector.calibration
    new = tiny_detector.score_windows(windows)
    mean = combine(new.components, cal.weights, cal.score_floors)
    assert not np.allclose(new.score, mean)

    _as_older_format(tiny_bundle, 2, "max_share")  # what this anomaly-gan wrote before max_share
    old = load_bundle(tiny_bundle)
    assert old.calibration.max_share == 0.0
    np.testing.assert_allclose(old.score_windows(windows).score, mean)


def test_window_that_disagrees_with_the_network(tiny_bundle):
    _rewrite(tiny_bundle, "calibration.json", lambda t: t.replace('"window": 16', '"window": 20'))
    inspect_bundle(tiny_bundle)  # consistent in itself; only the network can tell
    with pytest.raises(BundleError, match=r"network scorer takes windows of shape \(16, 3\), "
                                          r"but the calibration says window 20 x 3"):
        load_bundle(tiny_bundle)


def test_manifest_kind_must_match_the_config(tiny_bundle):
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    manifest["kind"] = "fanogan"
    (tiny_bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="manifest kind 'fanogan' differs from config.yaml"):
        inspect_bundle(tiny_bundle)


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_bundle_modes_follow_the_umask(tiny_detector, tmp_path, mask):
    old = os.umask(mask)
    try:
        out = save_bundle(tiny_detector, tmp_path / "b")
    finally:
        os.umask(old)
    for p in [out, *out.rglob("*")]:
        want = (0o777 if p.is_dir() else 0o666) & ~mask
        assert stat.S_IMODE(p.stat().st_mode) == want, p


def test_force_replaces_only_bundles(tiny_detector, tmp_path):
    other = tmp_path / "photos"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(OutputError, match="is a directory but not a model bundle"):
        save_bundle(tiny_detector, other, overwrite=True)
    assert (other / "holiday.jpg").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a bundle directory"):
        check_destination(tmp_path / "file", overwrite=True)
    (tmp_path / "link").symlink_to(other)
    with pytest.raises(OutputError, match="is a symbolic link"):
        check_destination(tmp_path / "link", overwrite=True)
    with pytest.raises(OutputError, match="cannot create the bundle directory: .*file is not a "
                                          "directory"):
        check_destination(tmp_path / "file" / "sub" / "m")
    check_destination(tmp_path / "new" / "deeper" / "m")
    assert not (tmp_path / "new").exists(), "a check must create nothing"


def test_missing_parents_are_made_and_a_failed_write_leaves_none_of_them(tiny_detector,
                                                                        tmp_path, monkeypatch):
    """`train --out a/b/c` makes a and b; a write that failed (a full disk) left them
    behind, empty, though no bundle was written."""
    import errno

    from anomaly_gan import artifacts

    out = save_bundle(tiny_detector, tmp_path / "a" / "b" / "c")
    load_bundle(out)
    real = artifacts._write_json

    def full(path, payload):
        if path.name == "metadata.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, payload)

    monkeypatch.setattr(artifacts, "_write_json", full)
    with pytest.raises(OutputError, match=r"^.*/x/y/m: cannot write the bundle: No space left"):
        save_bundle(tiny_detector, tmp_path / "x" / "y" / "m")
    assert not (tmp_path / "x").exists()
    (tmp_path / "kept").mkdir()  # an existing parent is never removed
    with pytest.raises(OutputError):
        save_bundle(tiny_detector, tmp_path / "kept" / "m")
    assert list((tmp_path / "kept").iterdir()) == []


def test_train_refuses_an_unwritable_ancestor_of_missing_parents_in_one_line(tmp_path,
                                                                            monkeypatch,
                                                                            capsys):
    from anomaly_gan.cli import main

    locked = tmp_path / "locked"
    locked.mkdir()
    deny_new_entries(monkeypatch, locked)  # root may write anywhere
    (tmp_path / "d.csv").write_text("a,b\n" + "1,2\n" * 70)
    out = locked / "a" / "b" / "m"
    assert main(["train", "--data", str(tmp_path / "d.csv"), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (f"anomaly-gan: error: {out}: cannot create the bundle "
                                       f"directory in {locked}: permission denied\n")
    assert list(locked.iterdir()) == []


def test_train_refuses_a_directory_that_takes_no_new_entry_before_training(tmp_path, capsys):
    """As root it trained for 57 s, then: '/proc/x/y: cannot create the bundle directory'."""
    from anomaly_gan.cli import main

    (tmp_path / "d.csv").write_text("a,b\n" + "1,2\n" * 70)
    assert main(["train", "--data", str(tmp_path / "d.csv"), "--out", "/proc/x/y"]) == 2
    assert capsys.readouterr().err.startswith("anomaly-gan: error: /proc/x/y: cannot create "
                                              "the bundle directory in /proc: ")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only directory")
def test_unwritable_destination_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(OutputError, match="permission denied"):
        check_destination(locked / "m")


def test_secrets_are_not_saved(tiny_detector, tmp_path):
    from anomaly_gan.config import load_config

    cfg = load_config(None, env={"ANOMALY_GAN__SERVE__KAFKA__SASL_PASSWORD": "s3cret-pw",
                                 "ANOMALY_GAN__SERVE__KAFKA__SSL_PASSWORD": "key-pass"})
    det = dataclasses.replace(tiny_detector, config=tiny_detector.config.replace(serve=cfg.serve))
    out = save_bundle(det, tmp_path / "b")
    for secret in (b"s3cret-pw", b"key-pass"):
        assert not any(secret in p.read_bytes() for p in out.rglob("*") if p.is_file())
    kafka = load_bundle(out).config.serve.kafka
    assert kafka.sasl_password is None and kafka.ssl_password is None


def test_bundle_without_data_counters_reads_every_feature_as_a_level(tiny_bundle, tiny_detector):
    """Bundles written before data.counters have no such key in config.yaml: no feature is
    read as an increase, in score, serve or retrain, and they score as before."""
    _rewrite(tiny_bundle, "config.yaml", lambda text: text.replace("  counters: []\n", ""))
    assert "counters" not in (tiny_bundle / "config.yaml").read_text()
    old = load_bundle(tiny_bundle)
    assert old.config.data.counters == () and old.counters == ()
    x = np.random.default_rng(5).normal(size=(40, old.n_features))
    np.testing.assert_array_equal(old.score_series(x).score, tiny_detector.score_series(x).score)


def test_a_bundle_is_on_disk_before_the_rename_that_names_it(tmp_path, monkeypatch):
    """A rename is durable only over data that is: save_bundle synced none of its files, so
    after a power loss a model store's `current` could name a version whose files were
    empty. Every file and directory of the bundle is synced before the rename, and the
    directory it is renamed into after it."""
    from tests.support.detectors import untrained_detector
    from tests.support.durability import record_renames, record_syncs

    events: list[tuple[str, str]] = []
    record_syncs(monkeypatch, events)
    record_renames(monkeypatch, events, Path, "rename")
    out = save_bundle(untrained_detector(), tmp_path / "m")
    renamed = events.index(("rename", str(out)))
    synced = {p for what, p in events[:renamed] if what == "sync"}
    tmp = Path(next(p for p in synced if Path(p).name.startswith(".m.")))
    written = {str(tmp / p.relative_to(out)) for p in out.rglob("*")}
    assert written | {str(tmp)} <= synced
    assert ("sync", str(tmp_path)) in events[renamed:]


def test_a_bundle_trained_with_a_pot_risk_now_refused_loads_and_scores_as_before(tiny_detector,
                                                                                 tmp_path):
    """threshold.pot_risk at or above 1 - pot_initial_quantile is refused in a config since
    2026-12-07; a bundle trained with it (its threshold at the initial quantile) still loads,
    and scores as it did: inspect_bundle validates its config.yaml again."""
    import copy

    det = copy.copy(tiny_detector)
    det.config = det.config.replace(threshold=dataclasses.replace(
        det.config.threshold, method="pot", pot_risk=0.05))
    bundle = save_bundle(det, tmp_path / "bundle")
    assert inspect_bundle(bundle).config.threshold == det.config.threshold
    x = np.random.default_rng(0).normal(size=(40, 3))
    np.testing.assert_array_equal(load_bundle(bundle).score_series(x).score,
                                  tiny_detector.score_series(x).score)
    (tmp_path / "x.csv").write_text("temp,rpm,flow\n" + "".join(
        f"{a},{b},{c}\n" for a, b, c in x))
    probe = run_cli(["score", "--model", str(bundle), "--data", str(tmp_path / "x.csv"),
                     "--out", str(tmp_path / "s.csv")],
                    env={"ANOMALY_GAN__SERVE__ALERTS__CONSECUTIVE": "1"})
    [[rc, err]] = probe["results"]
    assert rc == 0, err
