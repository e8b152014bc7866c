"""Model stores for the tests: a version directory the store takes without a bundle
(``fake_version``), a directory that refuses to be searched (``deny_search``), a run
lock held by another process (``hold_run_lock``), bundle verification faked so that the
``models`` commands run without TensorFlow (``fake_bundles``) and the command line run in
this process (``cli``)."""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import anomaly_gan.artifacts
import anomaly_gan.cli
import anomaly_gan.runtime
from anomaly_gan.cli import main
from anomaly_gan.errors import BundleError
from anomaly_gan.store import ModelStore


def fake_version(store: Path, name: str, created: str, gate: bool | None = None) -> str:
    """A directory that looks like a bundle to the store (promote with verify=False)."""
    d = store / name
    d.mkdir(parents=True)
    (d / "manifest.json").write_text("{}")
    meta = {"created": created, "health": {"status": "healthy", "issues": []}}
    if gate is not None:
        meta["gate"] = {"passed": gate, "reasons": [] if gate else ["false-alarm rate too high"]}
    (d / "metadata.json").write_text(json.dumps(meta))
    return name


def deny_search(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """Make ``directory`` refuse to be searched, as mode 000 does to another user (the tests
    run as root, whom no mode stops): ``stat`` of anything inside it is EACCES."""
    real_stat = Path.stat

    def stat(self, *args, **kwargs):
        if directory in self.parents:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)


HOLD_RUN_LOCK = """
import os, sys
from anomaly_gan.store import ModelStore
store = ModelStore.open(sys.argv[1])
with store.run_lock():
    print("held", flush=True)
    if sys.argv[2] == "die":
        os._exit(0)  # as SIGKILL would: nothing released, the lock file left behind
    sys.stdin.read()  # until the test closes stdin
"""


def hold_run_lock(store: ModelStore, how: str = "wait") -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_RUN_LOCK, str(store.root), how],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def corrupt_file_fails(path: Any) -> None:
    """The verification of :func:`fake_version`'s bundles: one with a ``CORRUPT`` file
    fails its checksums, as a damaged bundle does."""
    bundle = Path(path)
    if not bundle.is_dir():  # the store's current
        bundle = bundle / (bundle / "current").read_text().strip()
    if (bundle / "CORRUPT").exists():
        raise BundleError(f"{bundle}/manifest.json: checksum mismatch (faked)")


@contextlib.contextmanager
def fake_bundles(verify: Callable[[Any], Any] = corrupt_file_fails) -> Iterator[None]:
    """``promote``'s loading of a bundle and ``rollback``'s inspection of one both made
    ``verify`` (default :func:`corrupt_file_fails`), with no TensorFlow imported."""
    saved_parser = anomaly_gan.cli.build_parser
    saved = (anomaly_gan.artifacts.load_bundle, anomaly_gan.artifacts.inspect_bundle,
             anomaly_gan.runtime.import_tensorflow_quietly)
    anomaly_gan.artifacts.load_bundle = verify  # type: ignore[assignment]
    anomaly_gan.artifacts.inspect_bundle = verify  # type: ignore[assignment]
    anomaly_gan.runtime.import_tensorflow_quietly = lambda: None  # type: ignore[assignment]
    # argparse's building of every subcommand is 4/5 of a `models list`: built once here
    anomaly_gan.cli.build_parser = functools.cache(saved_parser)  # type: ignore[assignment]
    try:
        yield
    finally:
        (anomaly_gan.artifacts.load_bundle, anomaly_gan.artifacts.inspect_bundle,
         anomaly_gan.runtime.import_tensorflow_quietly) = saved
        anomaly_gan.cli.build_parser = saved_parser  # type: ignore[assignment]


def cli(argv: list[str]) -> tuple[int, str, str]:
    """``anomaly-gan ARGV`` in this process: its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def full_disk_for_history(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """``os.open`` of the store's staged history.json fails as on a full disk (ENOSPC), after
    whatever was written before it (a version's files, ``current``'s stage), until the
    returned function is called (the disk has room again)."""
    real_open = os.open

    def full(path: Any, *args: Any, **kwargs: Any) -> int:
        if Path(path).name.startswith(".history.json."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", full)
    return lambda: monkeypatch.setattr(os, "open", real_open)
