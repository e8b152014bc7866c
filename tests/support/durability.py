"""Spies for the tests of what a write makes durable: each ``os.fsync`` (the path its file
descriptor names) and each rename, in the order they come."""

from __future__ import annotations

import os
from typing import Any


def record_syncs(monkeypatch: Any, events: list[tuple[str, str]]) -> None:
    """``("sync", path)`` in ``events`` for each ``os.fsync``, which still runs."""
    real = os.fsync

    def fsync(fd: int) -> None:
        events.append(("sync", os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def record_renames(monkeypatch: Any, events: list[tuple[str, str]], owner: Any,
                   name: str) -> None:
    """``("rename", target)`` in ``events`` for each call of ``owner.name(source, target)``
    (``os.replace``, ``Path.rename``), which still runs."""
    real = getattr(owner, name)

    def rename(source: Any, target: Any) -> Any:
        events.append(("rename", str(target)))
        return real(source, target)

    monkeypatch.setattr(owner, name, rename)
