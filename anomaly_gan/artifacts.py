"""Save and load a model bundle: a versioned directory, written atomically, no pickle.

Layout::

    <bundle>/
      manifest.json      format version + sha256 of every other file
      metadata.json      version, kind, created, data hash, rows, duration, library
                         versions, training history and health, validation metrics
      config.yaml        the validated config used for training
      calibration.json   feature names, window, scaler, component stats, weights,
                         threshold, severity quantiles
      nets/<name>.keras  inference networks only (loaded with safe_mode=True)

A *store* is a directory of bundles plus a ``current`` file naming the version directory
to serve; whoever promotes a version rewrites ``current`` atomically
(:func:`promote`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from anomaly_gan.config import config_from_dict, config_to_dict
from anomaly_gan.data.scaling import Scaler
from anomaly_gan.detector import Calibration, Detector
from anomaly_gan.errors import AnomalyGanError, BundleError

__all__ = [
    "FORMAT_VERSION",
    "bundle_fingerprint",
    "check_destination",
    "load_bundle",
    "promote",
    "resolve_bundle_path",
    "save_bundle",
]

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CURRENT = "current"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def save_bundle(detector: Detector, out_dir: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Write ``detector`` to ``out_dir`` atomically and return the directory.

    The bundle is assembled in a temporary sibling directory and renamed into place, so a
    reader (the streaming service) never sees a half-written bundle. An existing
    ``out_dir`` is replaced only with ``overwrite=True``.
    """
    out = Path(out_dir)
    check_destination(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        nets_dir = tmp / "nets"
        nets_dir.mkdir()
        for name, net in detector.nets.items():
            net.save(nets_dir / f"{name}.keras")
        _write_json(tmp / "calibration.json", {
            "feature_names": list(detector.feature_names),
            "window": detector.window,
            "scaler": detector.scaler.to_dict(),
            **detector.calibration.to_dict(),
        })
        (tmp / "config.yaml").write_text(
            yaml.safe_dump(config_to_dict(detector.config), sort_keys=False), encoding="utf-8"
        )
        _write_json(tmp / "metadata.json", {
            **detector.metadata, "version": detector.version, "kind": detector.kind,
        })
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        _write_json(tmp / MANIFEST, {
            "format_version": FORMAT_VERSION,
            "version": detector.version,
            "kind": detector.kind,
            "files": {p.relative_to(tmp).as_posix(): _sha256(p) for p in files},
        })
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def check_destination(out_dir: str | os.PathLike[str], overwrite: bool = False) -> None:
    """Refuse a non-empty ``out_dir`` unless ``overwrite``; callers check before long work."""
    out = Path(out_dir)
    occupied = out.is_file() or (out.is_dir() and any(out.iterdir()))
    if occupied and not overwrite:
        raise BundleError(f"{out}: already exists; choose a new directory or pass --force")


def resolve_bundle_path(path: str | os.PathLike[str]) -> Path:
    """A bundle directory as given, or the version a store's ``current`` file names."""
    p = Path(path)
    if (p / MANIFEST).is_file():
        return p
    current = p / CURRENT
    if current.is_file():
        name = current.read_text(encoding="utf-8").strip()
        if not name or "/" in name or name in (".", ".."):
            raise BundleError(f"{current}: expected the name of a version directory, got {name!r}")
        target = p / name
        if not (target / MANIFEST).is_file():
            raise BundleError(f"{current}: names {name!r}, which is not a model bundle in {p}")
        return target
    if not p.exists():
        raise BundleError(f"{p}: model path does not exist")
    raise BundleError(f"{p}: not a model bundle (no {MANIFEST}) nor a store (no '{CURRENT}' file)")


def promote(store: str | os.PathLike[str], version_dir: str) -> None:
    """Point a store's ``current`` at ``version_dir`` (a bundle inside the store), atomically."""
    store_path = Path(store)
    load_bundle(store_path / version_dir)  # refuse to promote a broken bundle
    tmp = store_path / f".{CURRENT}.tmp"
    tmp.write_text(version_dir + "\n", encoding="utf-8")
    os.replace(tmp, store_path / CURRENT)


def bundle_fingerprint(path: str | os.PathLike[str]) -> str:
    """A cheap identity of the bundle a path resolves to (for hot-reload polling)."""
    resolved = resolve_bundle_path(path)
    return f"{resolved.resolve()}:{_sha256(resolved / MANIFEST)}"


def _verify(bundle: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{bundle / MANIFEST}: unreadable manifest: {exc}") from None
    fmt = manifest.get("format_version")
    if fmt != FORMAT_VERSION:
        raise BundleError(
            f"{bundle}: bundle format {fmt!r} is not supported by this anomaly-gan "
            f"(expected {FORMAT_VERSION}); retrain or upgrade"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{bundle / MANIFEST}: no file list")
    for rel, expected in files.items():
        f = bundle / rel
        if not f.is_file():
            raise BundleError(f"{bundle}: missing file {rel} listed in the manifest")
        if _sha256(f) != expected:
            raise BundleError(f"{bundle}: checksum mismatch for {rel} (file changed or corrupted)")
    return manifest


def load_bundle(path: str | os.PathLike[str]) -> Detector:
    """Load and verify a bundle (or a store's ``current`` version)."""
    import keras

    bundle = resolve_bundle_path(path)
    manifest = _verify(bundle)
    try:
        cal_raw = json.loads((bundle / "calibration.json").read_text(encoding="utf-8"))
        meta = json.loads((bundle / "metadata.json").read_text(encoding="utf-8"))
        cfg = config_from_dict(
            yaml.safe_load((bundle / "config.yaml").read_text(encoding="utf-8")),
            source=str(bundle / "config.yaml"),
        )
        calibration = Calibration.from_dict(cal_raw)
        scaler = Scaler.from_dict(cal_raw["scaler"])
        feature_names = tuple(str(n) for n in cal_raw["feature_names"])
        window = int(cal_raw["window"])
    except AnomalyGanError as exc:
        raise BundleError(f"{bundle}: incompatible bundle: {exc}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{bundle}: malformed bundle: {exc}") from None
    if len(scaler.center) != len(feature_names):
        raise BundleError(f"{bundle}: scaler has {len(scaler.center)} features, expected {len(feature_names)}")
    nets = {}
    for rel in manifest["files"]:
        if rel.startswith("nets/") and rel.endswith(".keras"):
            name = rel[len("nets/"):-len(".keras")]
            try:
                nets[name] = keras.saving.load_model(bundle / rel, compile=False, safe_mode=True)
            except Exception as exc:  # noqa: BLE001 - keras raises many types for a bad archive
                raise BundleError(f"{bundle}: cannot load network {rel}: {exc}") from None
    return Detector(
        kind=str(manifest["kind"]),
        version=str(manifest["version"]),
        feature_names=feature_names,
        window=window,
        scaler=scaler,
        nets=nets,
        calibration=calibration,
        config=cfg,
        metadata=meta,
    )
