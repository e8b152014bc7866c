"""Crash-point fuzz of the model store: a change killed at any instant leaves a store that
the next command reads and writes correctly.

README *Retraining* (*The store*): versions are assembled in a hidden directory and renamed
into place, ``current`` and ``history.json`` are written to temporary files and renamed
(history first), and what a killed writer leaves is removed by the next write. Each seed
builds a store with a few retrains, promotes, rollbacks and prunes (real bundles of an
untrained detector, ``tests/support/detectors.py``, verified by their checksums; no
TensorFlow), then runs one more operation with every file-system mutation recorded
(``tests/support/crash.py``): the store is copied before each mutation, and for a write
also with a part of it written, as SIGKILL or a power loss leaves it there (the run lock's
``PID@HOST SINCE`` cut every few bytes, or NUL bytes in its place). The operation ran
as a process that is gone (its leftovers name a dead process id), and on each copy:

- ``models list --json`` exits 0 with no error and shows the store as it was before the
  operation or after one of its steps (a prune deletes one version at a time, and a
  retrain adds, promotes, then prunes): nothing half-done is listed, ``current`` names an
  intact version or, before the first promote, none;
- every listed version and ``current`` pass their checksums (``inspect_bundle``);
- a retrain then runs (its run lock taken over from the killed one), adds a version and
  promotes it; ``models rollback`` goes back to the version that was current; ``models
  list`` agrees, and nothing the killed process left remains.

``STORE_CRASH_FUZZ_SEEDS`` (default 6) seeds from ``STORE_CRASH_FUZZ_SEED_START``
(default 0); ``STORE_CRASH_FUZZ_SEED_START=7 STORE_CRASH_FUZZ_SEEDS=1`` replays seed 7.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anomaly_gan.files as files_module
import anomaly_gan.store as store_module
from anomaly_gan.artifacts import inspect_bundle
from anomaly_gan.store import RUN_LOCK, ModelStore
from tests.support.crash import CrashRecorder
from tests.support.detectors import untrained_detector
from tests.support.fuzz import each_seed
from tests.support.store import cli, fake_bundles

SEEDS = int(os.environ.get("STORE_CRASH_FUZZ_SEEDS", "6"))
SEED_START = int(os.environ.get("STORE_CRASH_FUZZ_SEED_START", "0"))
# Above Linux's largest pid_max (2**22): no process has it. Its first digit is process 1's
# id, always alive: a run lock torn after one byte names it.
DEAD_PID = 2**24 - 3
OPERATIONS = ("add", "retrain", "promote", "rollback", "prune")
MUTATIONS = ("rename", "replace", "mkdir", "unlink", "rmdir", "create", "open-write", "write",
             "write-torn", "fsync")
START = datetime(2026, 12, 1, tzinfo=UTC)


class World:
    """A store and the clock that stamps its versions' ``created``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.n = 0

    @property
    def store(self) -> ModelStore:
        return ModelStore.open(self.root, create=True)

    def add(self) -> str:
        self.n += 1
        det = untrained_detector(f"v{self.n:02d}")
        det.metadata = {"created": (START + timedelta(minutes=self.n)).isoformat()}
        return self.store.add(det)

    def retrain(self, promote: bool, keep: int) -> list[Callable[[], Any]]:
        """A retrain's changes to the store (run.py ``_save_and_promote``), step by step."""
        store = self.store
        current = store.current()
        steps: list[Callable[[], Any]] = []
        held = store.run_lock()
        steps.append(held.__enter__)
        added: list[str] = []
        steps.append(lambda: added.append(self.add()))
        if promote:
            steps.append(lambda: store.promote(added[0], reason="retrain", verify=False,
                                               expect_current=current))
        if keep:
            steps.append(lambda: store.prune(keep, keep_versions=[] if promote else added))
        steps.append(lambda: held.__exit__(None, None, None))
        return steps


def models(root: Path, *argv: str) -> tuple[int, str, str]:
    return cli(["models", *argv, "--store", str(root)])


def observe(root: Path) -> tuple[Any, ...]:
    """What the product's read paths show: ``models list --json``'s rows and the log."""
    rc, out, err = models(root, "list", "--json")
    assert rc == 0 and not err, f"models list: exit {rc}: {err.strip()}"
    rows = tuple(sorted((r["version"], r["mark"], r["missing"]) for r in json.loads(out)))
    return rows, tuple((e["action"], e["version"]) for e in ModelStore.open(root).history())


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()
                  if p.name.startswith(".") and p.name not in (".lock",))


def dead_writer() -> str:
    return f"{DEAD_PID}@{store_module._host()}"


def build(seed: int, rng: random.Random, root: Path) -> tuple[World, str]:
    """A store after a few operations, and the one to crash."""
    world = World(root)
    root.mkdir(parents=True)
    world.add()
    for _ in range(rng.randint(0, 6)):
        kind = rng.choices(["retrain", "add", "promote", "rollback"], [5, 1, 2, 1])[0]
        if kind == "retrain":
            for step in world.retrain(promote=rng.random() < 0.85, keep=0):
                step()
        elif kind == "add":
            world.add()
        elif kind == "promote":
            models(root, "promote", rng.choice([v.name for v in world.store.versions()]))
        else:
            models(root, "rollback")
    return world, OPERATIONS[seed % len(OPERATIONS)]  # each kind in any 5 seeds


def plan(world: World, op: str, rng: random.Random) -> tuple[list[Callable[[], Any]], str]:
    """The steps of ``op`` on ``world`` (each a change the store commits whole), and how it
    reads in a failure message."""
    root, store = world.root, world.store
    names = [v.name for v in store.versions()]
    if op == "add":
        return [world.add], "add a version"
    if op == "retrain":
        promote, keep = rng.random() < 0.8, rng.choice([0, 1, 2])
        return world.retrain(promote, keep), f"retrain (promote={promote}, keep={keep})"
    if op == "promote":
        name = rng.choice(names)
        return [lambda: models(root, "promote", name)], f"models promote {name}"
    if op == "rollback":
        return [lambda: models(root, "rollback")], "models rollback"
    keep = rng.choice([0, 1, 2])
    return [lambda: models(root, "prune", "--keep", str(keep))], f"models prune --keep {keep}"


def allowed_states(world: World, steps: list[Callable[[], Any]]) -> list[tuple[Any, ...]]:
    """What the store may read as once the steps are killed: before them, after each, and
    within a prune, with any of the versions it deletes gone."""
    states = [observe(world.root)]
    for step in steps:
        before = states[-1]
        step()
        after = observe(world.root)
        gone = {r[0] for r in before[0]} - {r[0] for r in after[0]}
        if gone and after[1] == before[1]:  # a prune: one version at a time
            for i in range(1, 2 ** len(gone)):
                drop = {v for j, v in enumerate(sorted(gone)) if i >> j & 1}
                states.append((tuple(r for r in before[0] if r[0] not in drop), before[1]))
        states.append(after)
    return states


def check_point(seed: int, what: str, point: Any, allowed: list[tuple[Any, ...]],
                follow: bool) -> None:
    """The invariants on one crash copy, then (``follow``) a retrain and a rollback on it."""
    root = point.snapshot
    where = (f"seed {seed}, {what}, killed at mutation {point.index} ({point.kind} "
             f"{Path(point.path).name})")
    if not root.exists():
        return
    state = observe(root)
    assert state in allowed, f"{where}: the store reads as\n  {state}\nnone of\n  {allowed}"
    store = ModelStore.open(root)
    current = store.current()
    for v in [*store.versions(), *([] if current is None else [current])]:
        name = v if isinstance(v, str) else v.name
        inspect_bundle(root / name)  # a BundleError names a half-written version
    if not follow:
        return
    lock = root / RUN_LOCK
    if lock.exists() and not lock.read_bytes().endswith(b"\n"):
        # killed between creating the run lock and writing it, or within its write (a part
        # of 'PID@HOST SINCE', or NUL bytes): it names no one, and is taken over once ten
        # minutes old (README *Retraining*, the run lock), never taken for a live holder
        stale = time.time() - store_module.RUN_LOCK_STALE_SECONDS - 60
        os.utime(lock, (stale, stale))
    world = World(root)
    world.n = 90
    for step in world.retrain(promote=True, keep=0):
        step()
    assert store.current() == "v91", f"{where}: a retrain after it did not promote"
    rc, _, err = models(root, "rollback")
    if current is None:
        assert rc == 2 and len(err.splitlines()) == 1, f"{where}: rollback: {err}"
    else:
        assert rc == 0 and store.current() == current, f"{where}: rollback: {rc} {err}"
    _rows, log = observe(root)
    assert log[-1] == (("rollback", current) if current else ("retrain", "v91")), where
    assert leftovers(root) == [], f"{where}: left after the next write: {leftovers(root)}"


def play(seed: int, tmp: Path, notes: Counter[str]) -> None:
    rng = random.Random(seed)
    base = tmp / f"seed-{seed}"
    world, op = build(seed, rng, base / "store")
    # the operation played through once on a copy: the states it may be killed between
    rehearsal = World(base / "rehearsal")
    shutil.copytree(world.root, rehearsal.root)
    rehearsal.n = world.n
    state = rng.getstate()
    allowed = allowed_states(rehearsal, plan(rehearsal, op, rng)[0])
    rng.setstate(state)
    steps, what = plan(world, op, rng)
    recorder = CrashRecorder(world.root, base / "crashes")
    real_writer = files_module.writer_id
    files_module.writer_id = dead_writer  # what it names, a later process finds dead
    try:
        with recorder.recording():
            for step in steps:
                step()
    finally:
        files_module.writer_id = real_writer
    assert not recorder.unseen, f"mutations the recorder did not see: {recorder.unseen}"
    notes[f"op:{op}"] += 1
    # every copy is read; a retrain and a rollback run on a third of them and on the first
    # of each kind (each takes as long as the reading)
    first = {p.kind: p.index for p in reversed(recorder.points)}
    for point in recorder.points:
        follow = point.index % 3 == seed % 3 or first[point.kind] == point.index
        check_point(seed, what, point, allowed, follow)
        notes[f"mutation:{point.kind}"] += 1
        notes[f"{op}:{point.kind}"] += 1
        if point.kind == "write-torn" and Path(point.path).name == RUN_LOCK:
            notes["write-torn:run-lock"] += 1
    shutil.rmtree(base)


def test_a_store_killed_at_any_mutation_reads_and_writes_correctly(tmp_path):
    """Every seed's crash points, then what they reached: each operation killed, at each
    kind of mutation (a test of nothing would pass too)."""
    notes: Counter[str] = Counter()
    with fake_bundles(inspect_bundle):
        each_seed(range(SEED_START, SEED_START + SEEDS),
                  lambda seed: play(seed, tmp_path, notes))
    if SEEDS >= len(OPERATIONS):
        missing = [f"op:{op}" for op in OPERATIONS if not notes[f"op:{op}"]]
        missing += [f"mutation:{m}" for m in MUTATIONS if not notes[f"mutation:{m}"]]
        missing += [] if notes["write-torn:run-lock"] else ["write-torn:run-lock"]
        assert not missing, f"never crashed: {missing}"
