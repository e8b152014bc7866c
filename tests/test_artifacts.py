import json

import numpy as np
import pytest

from anomaly_gan.artifacts import (
    bundle_fingerprint,
    load_bundle,
    promote,
    resolve_bundle_path,
    save_bundle,
)
from anomaly_gan.errors import BundleError


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
    manifest["format_version"] = 1
    (tiny_bundle / "manifest.json").write_text(json.dumps(manifest))
    (tiny_bundle / "config.yaml").unlink()
    with pytest.raises(BundleError, match="missing file config.yaml"):
        load_bundle(tiny_bundle)


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nope")
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(tmp_path)


def test_existing_directory_needs_overwrite(tiny_detector, tiny_bundle):
    with pytest.raises(BundleError, match="already exists"):
        save_bundle(tiny_detector, tiny_bundle)
    save_bundle(tiny_detector, tiny_bundle, overwrite=True)
    load_bundle(tiny_bundle)


def test_store_current_and_promote(tiny_detector, tmp_path):
    store = tmp_path / "store"
    save_bundle(tiny_detector, store / "v1")
    save_bundle(tiny_detector, store / "v2")
    with pytest.raises(BundleError, match="nor a store"):
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
