"""A directory that refuses new entries, for tests that run as root."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest


def deny_new_entries(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """Make ``os.mkdir`` in ``directory`` fail as a read-only mount refuses a non-root user
    (root may write into any directory, so ``chmod`` proves nothing there)."""
    real_mkdir = os.mkdir

    def mkdir(path: str | os.PathLike[str], mode: int = 0o777, **kw: object) -> None:
        if Path(path).parent == directory:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        real_mkdir(path, mode, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "mkdir", mkdir)
