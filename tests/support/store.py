"""Model stores for the tests: a version directory the store takes without a bundle
(``fake_version``), a directory that refuses to be searched (``deny_search``), and a run
lock held by another process (``hold_run_lock``)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
