"""Crash points of a file-system change: every mutation a piece of code makes, each caught
before it happens, where the directory it changes is copied as a process killed there
(SIGKILL, power loss) would leave it (``CrashRecorder``).

A copy is taken at each mutation, before it is made, and the code then goes on: what a
killed process leaves is the copy, and no cleanup (``finally``, ``except BaseException``)
that ran after it can reach the copy. For a write into a file (``open``'s or ``os.write`` on
a descriptor, a lock's record), more copies hold half of what is being written (a write
torn by a power loss), or of a short write each few bytes of it and as many NUL bytes. An audit hook counts every mutation
that happened outside the functions patched here, so that a new way of writing that the
recorder does not see fails the test instead of going uncrashed.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import os
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_MUTATING_EVENTS = ("os.rename", "os.mkdir", "os.remove", "os.rmdir", "os.symlink", "os.link",
                    "os.truncate")


@dataclass(frozen=True)
class CrashPoint:
    """One copy of the directory: before the ``index``-th mutation, of ``kind``, on ``path``."""

    index: int
    kind: str
    path: str
    snapshot: Path


class _Recording:
    active: CrashRecorder | None = None
    depth = 0


def _audit(event: str, args: tuple[Any, ...]) -> None:
    rec = _Recording.active
    if rec is None or _Recording.depth:
        return
    if event in _MUTATING_EVENTS:
        rec.unseen.append(f"{event} {args[:2]}")
    elif event == "open":
        path, mode, flags = args
        if (isinstance(mode, str) and any(c in mode for c in "wxa+")) or (
                mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS):
            rec.unseen.append(f"open {path} {mode or flags}")


sys.addaudithook(_audit)  # cannot be removed: inert unless a recorder is active


class _WriteCounted:
    """A file opened for writing whose ``write`` calls are crash points."""

    def __init__(self, fh: Any, path: str, rec: CrashRecorder) -> None:
        self._fh, self._path, self._rec = fh, path, rec

    def write(self, data: Any) -> int:
        self._rec.point("write", self._path, torn=data)
        return self._fh.write(data)  # type: ignore[no-any-return]

    def __enter__(self) -> Self:
        self._fh.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.__exit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


#: Writes up to this long (a lock's ``PID@HOST SINCE``) are torn at every few bytes, each
#: a record cut inside another field; longer ones in half.
SHORT_WRITE = 64


def _torn(data: Any) -> list[bytes]:
    """What a write of ``data`` may leave after a power loss: a part of it, or as many NUL
    bytes (the file's size grew but its block was never written)."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if len(raw) > SHORT_WRITE:
        return [raw[:len(raw) // 2]]
    return [raw[:n] for n in range(1, len(raw), 4)] + [b"\0" * len(raw)]


class CrashRecorder:
    """Copies of ``root`` at every mutation made while :meth:`recording`, into ``into``."""

    def __init__(self, root: Path, into: Path) -> None:
        self.root, self.into = root, into
        self.points: list[CrashPoint] = []
        self.unseen: list[str] = []
        self.kinds: Counter[str] = Counter()

    def _copy(self, name: str) -> Path:
        dest = self.into / name
        if self.root.exists():
            shutil.copytree(self.root, dest, symlinks=True)
        else:
            dest.mkdir(parents=True)  # the store's directory not made yet
            dest = dest / "missing"
        return dest

    def point(self, kind: str, path: Any, torn: Any = None) -> None:
        _Recording.depth += 1
        try:
            where = os.fsdecode(path) if not isinstance(path, int) else f"fd {path}"
            i = len(self.points)
            self.points.append(CrashPoint(i, kind, where, self._copy(f"{i}")))
            self.kinds[kind] += 1
            if isinstance(path, int):  # os.write: the file the descriptor is open on
                with contextlib.suppress(OSError):
                    where = os.readlink(f"/proc/self/fd/{path}")
            if torn and os.path.isabs(where):
                for n, tail in enumerate(_torn(torn)):
                    copy = self._copy(f"{i}-torn-{n}")
                    target = copy / os.path.relpath(where, self.root)
                    if not target.parent.is_dir():
                        break
                    with open(target, "ab") as fh:
                        fh.write(tail)
                    self.points.append(CrashPoint(i, "write-torn", where, copy))
                    self.kinds["write-torn"] += 1
        finally:
            _Recording.depth -= 1

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        """Patch the mutating calls of ``os``, ``open`` and ``io.open`` for the duration."""
        saved: dict[tuple[Any, str], Any] = {}

        def wrap(owner: Any, name: str, kind: str, when: Callable[..., bool] | None = None,
                 wrap_result: Callable[..., Any] | None = None) -> None:
            real = getattr(owner, name)
            saved[(owner, name)] = real

            def patched(*args: Any, **kwargs: Any) -> Any:
                if _Recording.depth or (when is not None and not when(*args, **kwargs)):
                    _Recording.depth += 1
                    try:
                        return real(*args, **kwargs)
                    finally:
                        _Recording.depth -= 1
                self.point(kind, args[0] if args else "",
                           torn=args[1] if name == "write" and owner is os else None)
                _Recording.depth += 1
                try:
                    result = real(*args, **kwargs)
                finally:
                    _Recording.depth -= 1
                return wrap_result(result, args) if wrap_result else result

            setattr(owner, name, patched)

        def writes(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> bool:
            return any(c in mode for c in "wxa+") and not isinstance(file, int)

        def counted(fh: Any, args: tuple[Any, ...]) -> Any:
            return _WriteCounted(fh, os.fsdecode(args[0]), self)

        for name in ("rename", "replace", "mkdir", "unlink", "remove", "rmdir", "symlink",
                     "link", "fsync", "write"):
            wrap(os, name, name)
        wrap(os, "open", "create", when=lambda path, flags, *a, **k: bool(flags & _WRITE_FLAGS))
        wrap(builtins, "open", "open-write", when=writes, wrap_result=counted)
        wrap(io, "open", "open-write", when=writes, wrap_result=counted)
        _Recording.active = self
        try:
            yield
        finally:
            _Recording.active = None
            for (owner, name), real in saved.items():
                setattr(owner, name, real)
