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
      extras/<name>.json fitted state of an input kind, e.g. extras/logs.json (the drain3
                         templates and count features of a logs model); plain JSON

A *store* is a directory of bundles plus a ``current`` file naming the version directory
to serve; whoever promotes a version rewrites ``current`` atomically
(:func:`promote`).

Loading checks everything that needs no Keras first (:func:`inspect_bundle`: manifest shape,
checksums, config, calibration), so a bad path or a tampered bundle fails in one line before
TensorFlow is imported; :func:`load_bundle` then loads the networks and checks that their
input shape agrees with the calibration. Files and directories get the modes the umask gives
(:mod:`anomaly_gan.files`), so ``serve`` under another UID can read a bundle on a shared volume.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from io import BufferedReader
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import yaml

from anomaly_gan.config import (
    MAX_CONFIG_BYTES,
    Config,
    config_from_dict,
    config_to_dict,
    parse_yaml,
    without_secrets,
)
from anomaly_gan.data.scaling import Scaler
from anomaly_gan.detector import Calibration, Detector
from anomaly_gan.errors import AnomalyGanError, BundleError, OutputError, brief, clip
from anomaly_gan.files import (
    check_creatable,
    is_file,
    mode_of,
    read_json,
    sync_dir,
    sync_tree,
    umask_mode,
)
from anomaly_gan.store import CURRENT, MANIFEST, read_pointer

__all__ = [
    "FORMAT_VERSION",
    "BundleInfo",
    "bundle_files_state",
    "bundle_fingerprint",
    "check_destination",
    "inspect_bundle",
    "load_bundle",
    "promote",
    "resolve_bundle_path",
    "save_bundle",
    "set_bundle_version",
]

FORMAT_VERSION = 3
"""Written by this version. 2: ``calibration.json`` may hold ``feature_errors`` (the
worst-feature reconstruction component), which a reader of format 1 would ignore and so
score with another definition than the threshold was fitted on: it refuses format 2.
3: ``calibration.json`` holds ``max_share`` (the largest component's share of the score),
which a reader of format 2 would ignore in the same way."""
READABLE_FORMATS = (1, 2, 3)
"""Format 1 bundles (no ``feature_errors``) and format 2 bundles (no ``max_share``) load
and score as they always did."""


T = TypeVar("T")


def _digest(fh: BufferedReader) -> str:
    return hashlib.file_digest(fh, "sha256").hexdigest()


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return _digest(fh)


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def save_bundle(detector: Detector, out_dir: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Write ``detector`` to ``out_dir`` atomically and return the directory.

    The bundle is assembled in a temporary sibling directory and renamed into place, so a
    reader (the streaming service) never sees a half-written bundle; its files and
    directories are synced to disk before the rename, and the rename after it, so a power
    loss leaves the old bundle or the whole new one. Missing parent
    directories are created (:func:`check_destination` checked that the nearest existing
    one is writable), and removed again when the write fails. An existing
    ``out_dir`` is replaced only with ``overwrite=True``. A write the file system refuses
    (full, read-only, quota) is an :class:`OutputError` whose ``__cause__`` is the
    ``OSError``, for a caller that names the bundle otherwise (the store names a version,
    not its hidden temporary directory).
    """
    out = Path(out_dir)
    check_destination(out, overwrite)
    made = _missing_dirs(out.parent)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as exc:
        _remove_empty(made)
        raise OutputError(f"{out}: cannot create the bundle directory: {exc.strerror}") from exc
    try:
        tmp.chmod(umask_mode(directory=True))  # mkdtemp makes 0700 whatever the umask
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
            yaml.safe_dump(config_to_dict(without_secrets(detector.config)), sort_keys=False),
            encoding="utf-8",
        )
        if detector.extras:
            (tmp / "extras").mkdir()
            for name, payload in detector.extras.items():
                _write_json(tmp / "extras" / f"{name}.json", payload)
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
        sync_tree(tmp)  # the files are on disk before the name that makes them the bundle
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
        sync_dir(out.parent)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(made)
        raise OutputError(f"{out}: cannot write the bundle: {exc.strerror or exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(made)
        raise
    return out


def _missing_dirs(path: Path) -> list[Path]:
    """``path`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _remove_empty(dirs: list[Path]) -> None:
    """Remove ``dirs`` (deepest first) as long as each is empty: what a failed save made."""
    for d in dirs:
        try:
            d.rmdir()
        except OSError:
            return


def set_bundle_version(bundle: str | os.PathLike[str], version: str) -> None:
    """Rename the version a saved bundle carries (``metadata.json`` and the manifest, its
    checksum renewed): for a store whose chosen name was taken while the bundle was written,
    before the bundle is renamed into place. Never for a bundle that is served."""
    path = Path(bundle)
    manifest = _read_json_object(path / MANIFEST, "manifest")
    meta = _read_json_object(path / "metadata.json", "metadata")
    manifest["version"] = meta["version"] = version
    try:
        _write_json(path / "metadata.json", meta)
        manifest["files"]["metadata.json"] = _sha256(path / "metadata.json")
        _write_json(path / MANIFEST, manifest)  # last: it signs the metadata just written
        sync_tree(path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the bundle: {exc.strerror or exc}") from exc


def check_destination(out_dir: str | os.PathLike[str], overwrite: bool = False,
                      inputs: Sequence[str | os.PathLike[str]] = ()) -> None:
    """Check that a bundle can be written to ``out_dir``; callers check before long work.

    Refused: a non-empty directory unless ``overwrite``; with ``overwrite``, anything that is
    not a bundle (``--force`` never deletes a directory of other files), and a bundle that
    holds one of the ``--data`` files ``inputs`` (however it is named: through a symlink
    too), which replacing the bundle would delete; a file or a symbolic link; a path whose
    nearest existing parent is not a writable directory.
    """
    if not str(out_dir).strip():  # Path("") is ".", which "already exists"
        raise OutputError(f"--out: expected a bundle directory path, got {str(out_dir)!r}")
    out = Path(out_dir)
    if out.is_symlink():
        raise OutputError(f"{out}: is a symbolic link; expected a bundle directory path")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: is a file, not a bundle directory")
    try:
        occupied = out.is_dir() and any(out.iterdir())
    except OSError as exc:
        raise OutputError(f"{out}: cannot read: {exc.strerror}") from None
    if occupied and not overwrite:
        raise OutputError(f"{out}: already exists; choose a new directory or pass --force")
    if occupied and not (out / MANIFEST).is_file():
        raise OutputError(f"{out}: is a directory but not a model bundle (no {MANIFEST}); "
                          f"--force replaces only bundles")
    if occupied:
        real = os.path.realpath(out)
        for given in inputs:
            if Path(os.path.realpath(given)).is_relative_to(real):
                raise OutputError(f"{out}: holds the --data file {given}, which --force would "
                                  f"delete with the bundle; copy it out first or choose "
                                  f"another --out")
    check_creatable(out, "the bundle directory")


def resolve_bundle_path(path: str | os.PathLike[str]) -> Path:
    """A bundle directory as given, or the version a store's ``current`` file names."""
    p = Path(path)
    if is_file(p / MANIFEST, BundleError):
        return p
    current = p / CURRENT
    name = read_pointer(current, BundleError)
    if name is not None:
        if not name or "/" in name or "\0" in name or name in (".", ".."):
            raise BundleError(f"{current}: expected the name of a version directory, "
                              f"got {brief(name)}; `anomaly-gan models promote --store {p} "
                              f"VERSION` replaces it")
        target = p / name
        if not is_file(target / MANIFEST, BundleError):  # unreadable: "cannot read"
            raise BundleError(f"{current}: names {brief(name)}, which is not a model bundle "
                              f"in {p}")
        return target
    if not p.exists():
        raise BundleError(f"{p}: model path does not exist")
    versions = _unpromoted_versions(p)
    if versions:  # a store nothing was promoted in (retrain --no-promote, a copied store)
        shown = ", ".join(versions[:3]) + (", ..." if len(versions) > 3 else "")
        raise BundleError(f"{p}: a store with no '{CURRENT}' file (versions: {shown}); "
                          f"promote one: anomaly-gan models promote --store {p} VERSION")
    raise BundleError(f"{p}: not a model bundle (no {MANIFEST}) nor a store (no '{CURRENT}' file)")


def _unpromoted_versions(p: Path) -> list[str]:
    """Names of the bundle directories directly in ``p`` (none if it cannot be listed)."""
    try:
        names = sorted(e.name for e in os.scandir(p) if e.is_dir())
    except OSError:
        return []
    return [n for n in names if (p / n / MANIFEST).is_file()]


def promote(store: str | os.PathLike[str], version_dir: str) -> None:
    """Point a store's ``current`` at ``version_dir`` (a bundle inside the store), atomically,
    under the store's lock (see :meth:`anomaly_gan.store.ModelStore.promote`)."""
    from anomaly_gan.store import ModelStore

    ModelStore.open(store, create=True).promote(version_dir)


def bundle_fingerprint(path: str | os.PathLike[str]) -> str:
    """A cheap identity of the bundle a path resolves to (for hot-reload polling)."""
    resolved = resolve_bundle_path(path)
    return f"{resolved.resolve()}:{_sha256(resolved / MANIFEST)}"


def bundle_files_state(bundle: str | os.PathLike[str]) -> str:
    """The size, modification and change times and inode of every file under a bundle
    directory, in one string: it changes when any file is written, replaced or touched.

    The hot-reload watcher retries a refused bundle when this changes. Its fingerprint (the
    manifest's checksum) does not change while a name-ordered copy (``cp -r new/. served/``)
    brings the files after the manifest, or while a damaged file is restored in place; until
    2026-12-07 such a bundle stayed refused, once whole, until SIGHUP.
    """
    entries = []
    for root, dirs, files in os.walk(bundle):
        dirs.sort()
        for name in sorted(files):
            st = os.lstat(os.path.join(root, name))
            entries.append(f"{os.path.relpath(os.path.join(root, name), bundle)}:{st.st_size}:"
                           f"{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}")
    return "\n".join(entries)


def _read_json_object(path: Path, what: str) -> dict[str, Any]:
    raw = read_json(path, what, BundleError)
    if not isinstance(raw, dict):
        raise BundleError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    return raw


def _read_listed(bundle: Path, rel: str, read: Callable[[BufferedReader], T]) -> T:
    """``read`` applied to the open file ``rel`` of the manifest; a file that is missing, not
    a regular file or unreadable is one :class:`BundleError` naming it."""
    f = bundle / rel
    _refuse_links(bundle, rel)
    mode = mode_of(f, BundleError)
    if mode is None:
        raise BundleError(f"{bundle}: missing file {rel} listed in the manifest")
    if not stat.S_ISREG(mode):
        what = "a directory" if stat.S_ISDIR(mode) else "a device, pipe or socket"
        raise BundleError(f"{bundle}: {rel} listed in the manifest is {what}, not a regular file")
    try:
        with f.open("rb") as fh:
            return read(fh)
    except OSError as exc:
        raise BundleError(f"{f}: cannot read: {exc.strerror or exc}") from None


def _refuse_links(bundle: Path, rel: str) -> None:
    """Refuse a listed file that is, or lies under, a symbolic link inside the bundle.

    save_bundle writes regular files only. A bundle on a shared volume whose
    ``config.yaml`` (or ``nets/``) links elsewhere made the loader read a file outside the
    bundle with the loader's rights, and show its first key in the error; the bundle
    directory itself may be a link (a version linked into a store).
    """
    parts = PurePosixPath(rel).parts
    for depth in range(1, len(parts) + 1):
        inner = PurePosixPath(*parts[:depth]).as_posix()
        try:
            is_link = stat.S_ISLNK(os.lstat(bundle / inner).st_mode)
        except OSError:
            return  # missing or unreadable: mode_of says which, naming the file
        if is_link:
            where = "is" if depth == len(parts) else f"lies under {inner}/, which is"
            raise BundleError(f"{bundle}: {rel} listed in the manifest {where} a symbolic "
                              f"link; a bundle holds regular files only")


def _inside(rel: str) -> bool:
    """Whether a manifest's name ``rel`` names a file inside the bundle: relative, no ``..``,
    and a name a file can have (a NUL, or a lone surrogate that the file system encoding
    cannot write, made ``os.lstat`` raise ValueError: a traceback, not one line)."""
    parts = PurePosixPath(rel).parts
    if not parts or rel.startswith("/") or ".." in parts or "\0" in rel:
        return False
    try:
        os.fsencode(rel)
    except UnicodeError:
        return False
    return True


def _verify(bundle: Path) -> dict[str, Any]:
    where = bundle / MANIFEST
    manifest = _read_json_object(where, "manifest")
    fmt = manifest.get("format_version")
    if fmt not in READABLE_FORMATS or isinstance(fmt, bool):
        raise BundleError(
            f"{bundle}: bundle format {brief(fmt)} is not supported by this anomaly-gan "
            f"(expected {' or '.join(map(str, READABLE_FORMATS))}); retrain or upgrade"
        )
    for key in ("kind", "version"):
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            raise BundleError(f"{where}: {key}: expected a non-empty string, "
                              f"got {brief(manifest.get(key))}")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{where}: no file list")
    for rel, expected in files.items():
        if not _inside(rel):
            raise BundleError(f"{where}: files: {brief(rel)} is not a file inside the bundle")
        if not isinstance(expected, str):  # was named 'not a file inside the bundle'
            raise BundleError(f"{where}: files: {brief(rel)}: expected its SHA-256 as a hex "
                              f"string, got {brief(expected)}")
        if _read_listed(bundle, rel, _digest) != expected:
            raise BundleError(f"{bundle}: checksum mismatch for {rel} (file changed or corrupted)")
    for required in ("calibration.json", "metadata.json", "config.yaml"):
        if required not in files:
            raise BundleError(f"{where}: files: {required} is not listed")
    return manifest


@dataclass(frozen=True)
class BundleInfo:
    """A verified bundle before its networks are loaded: everything but Keras.

    ``load_bundle(info)`` finishes the job; a CLI command inspects first so that bad input
    (a wrong path, a tampered bundle, a data file that does not match the model's features)
    fails before TensorFlow is imported.
    """

    path: Path
    kind: str
    version: str
    feature_names: tuple[str, ...]
    window: int
    scaler: Scaler
    calibration: Calibration
    config: Config
    metadata: dict[str, Any] = field(default_factory=dict)
    net_files: tuple[str, ...] = ()
    extras: dict[str, Any] = field(default_factory=dict)  # extras/<name>.json, parsed

    @property
    def counters(self) -> tuple[int, ...]:
        """Columns of ``data.counters``, as the loaded detector's (:attr:`Detector.counters`):
        :func:`anomaly_gan.stream.reload.check_compatible` takes an inspected bundle too."""
        from anomaly_gan.data.counters import counter_columns

        return counter_columns(self.feature_names, self.config.data.counters,
                               "the model's features")


def inspect_bundle(path: str | os.PathLike[str]) -> BundleInfo:
    """Resolve, verify and parse a bundle (or a store's ``current`` version) without Keras."""
    bundle = resolve_bundle_path(path)
    manifest = _verify(bundle)
    config_path = bundle / "config.yaml"
    try:
        text = _read_listed(bundle, "config.yaml", lambda fh: fh.read(MAX_CONFIG_BYTES + 1))
        if len(text) > MAX_CONFIG_BYTES:
            raise ValueError(f"larger than the {MAX_CONFIG_BYTES} bytes a config may have")
        # trained=True: a bundle loads as it was trained (config._asked_checks)
        cfg = config_from_dict(parse_yaml(text.decode("utf-8")), source=str(config_path),
                               trained=True)
    except BundleError:
        raise
    except AnomalyGanError as exc:
        raise BundleError(f"{bundle}: incompatible bundle: {exc}") from None
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise BundleError(f"{config_path}: unreadable config: {clip(str(exc), 200)}") from None
    meta = _read_json_object(bundle / "metadata.json", "metadata")
    extras = {rel[len("extras/"):-len(".json")]: read_json(bundle / rel, "extras", BundleError)
              for rel in manifest["files"] if rel.startswith("extras/") and rel.endswith(".json")}
    cal_path = bundle / "calibration.json"
    cal_raw = _read_json_object(cal_path, "calibration")
    try:
        calibration = Calibration.from_dict(cal_raw)
        scaler = Scaler.from_dict(cal_raw.get("scaler"))
        feature_names = _feature_names(cal_raw.get("feature_names"))
        window = cal_raw.get("window")
        if isinstance(window, bool) or not isinstance(window, int) or window < 2:
            raise ValueError(f"window: expected an integer >= 2, got {brief(window)}")
        if len(scaler.center) != len(feature_names):
            raise ValueError(f"scaler: has {len(scaler.center)} features, expected "
                             f"{len(feature_names)} (one per feature_names)")
        calibration.check(len(feature_names), cfg.model.latent_dim)
    except (ValueError, BundleError) as exc:
        raise BundleError(f"{cal_path}: {exc}") from None
    if manifest["kind"] != cfg.model.kind:
        raise BundleError(f"{bundle}: manifest kind {brief(manifest['kind'])} differs from "
                          f"config.yaml model.kind {cfg.model.kind!r}")
    nets = tuple(rel for rel in manifest["files"]
                 if rel.startswith("nets/") and rel.endswith(".keras"))
    if not nets:
        raise BundleError(f"{bundle}: no networks (nets/*.keras) in the manifest")
    return BundleInfo(bundle, manifest["kind"], manifest["version"], feature_names, window,
                      scaler, calibration, cfg, meta, nets, extras)


def _feature_names(raw: Any) -> tuple[str, ...]:
    if (not isinstance(raw, list) or not raw or not all(isinstance(n, str) for n in raw)
            or len(set(raw)) != len(raw)):
        raise ValueError(f"feature_names: expected a non-empty list of distinct strings, "
                         f"got {brief(raw)}")
    return tuple(raw)


def load_bundle(path: str | os.PathLike[str] | BundleInfo) -> Detector:
    """Load and verify a bundle (or a store's ``current`` version, or an inspected one).

    Besides :func:`inspect_bundle`'s checks, the scorer network's input must be
    ``(window, features)`` as the calibration says, or loading fails here rather than at the
    first scoring call.
    """
    info = path if isinstance(path, BundleInfo) else inspect_bundle(path)
    import keras

    bundle = info.path
    nets = {}
    for rel in info.net_files:
        name = rel[len("nets/"):-len(".keras")]
        # Checked again here: it may have changed since inspect_bundle (the CLI imports
        # TensorFlow in between, retrain trains), and Keras calls a file that is not a
        # complete zip archive "File not found".
        if not _read_listed(bundle, rel, zipfile.is_zipfile):
            raise BundleError(f"{bundle}: {rel} is damaged: not a complete .keras (zip) "
                              f"archive; truncated or corrupted, restore or retrain the bundle")
        try:
            nets[name] = keras.saving.load_model(bundle / rel, compile=False, safe_mode=True)
        except Exception as exc:  # noqa: BLE001 - keras raises many types for a bad archive
            raise BundleError(f"{bundle}: cannot load network {rel}: {clip(str(exc), 200)}"
                              ) from None
    for name, net in nets.items():
        shape = tuple(getattr(net, "input_shape", ()) or ())[1:]
        if shape != (info.window, len(info.feature_names)):
            raise BundleError(
                f"{bundle}: network {name} takes windows of shape {shape}, but the calibration "
                f"says window {info.window} x {len(info.feature_names)} features")
    return Detector(
        kind=info.kind,
        version=info.version,
        feature_names=info.feature_names,
        window=info.window,
        scaler=info.scaler,
        nets=nets,
        calibration=info.calibration,
        config=info.config,
        metadata=info.metadata,
        extras=info.extras,
    )
