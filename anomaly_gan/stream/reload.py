"""Hot reload of the model bundle, off the scoring thread.

Every ``reload_interval_seconds`` the watcher resolves ``serve.model_path`` (a bundle dir, or
a store whose ``current`` file names the version dir) and compares its fingerprint with the
model in use. A changed bundle is loaded in the watcher's thread (checksums verified by
``load_bundle``), must keep the input kind, feature names, window length and
``data.counters`` (and a logs model its ``logs:`` section: :func:`check_compatible`), must
have trained healthy unless ``serve.allow_unhealthy`` (:func:`unhealthy_reason`, which
``serve`` applies at start too) and is compiled for
batches of up to ``max_batch`` windows (``Detector.warm_up``); the loop then swaps it in
*between* micro-batches (:meth:`ModelWatcher.take`). A bad bundle keeps the old model,
is counted once as ``result="failure"`` and retried only when it changes again: its
fingerprint, or any of its files (size, times, inode: ``bundle_files_state``). A bundle
copied into its directory in place, name by name (``cp -r new/. served/``), has its new
manifest beside old files for a moment and is refused; until 2026-12-07 its fingerprint did
not change once the copy ended, so it stayed refused until SIGHUP, and so did a damaged file
restored in place.

The path is resolved once per check and the version directory it names is what is
fingerprinted and loaded, so ``current`` moving meanwhile (a promote and a rollback during one
load) cannot leave a model in use that ``current`` no longer names. A bundle that changed
while it was loaded (a directory replaced in place) is dropped, uncounted, and loaded again
at the next check: its files may come from both versions. A path that names the model the
loop runs again before the loop took a loaded one (a rollback right after a promote) drops
the loaded one and loads nothing: until 2026-12-07 it loaded the running version again, and
the loop logged a second "model swapped" to the version it already ran.

:meth:`ModelWatcher.check_now` (``serve`` calls it on SIGHUP) makes the next check come at
once, and retries a bundle that was refused even where none of its files changed.

The watcher thread never dies: any error while checking (an unreadable ``current`` file,
a bug) is counted as a failure and the next check comes on time. ``on_checked`` receives
the Unix time of every check that completed without an error and found the path naming a
model in use (or just loaded), exported as
``anomaly_gan_model_watch_last_check_timestamp_seconds``: while the path names a bundle that
was refused or cannot be read, it stays put, so an alert sees a watcher that is stuck or
keeps failing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from anomaly_gan.errors import AnomalyGanError

__all__ = ["ModelWatcher", "check_compatible", "unhealthy_reason"]

log = logging.getLogger(__name__)


def _reason(exc: BaseException) -> str:
    """One line for a log: an OS error names its file (``[Errno 13] ...`` says less)."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: cannot read: {exc.strerror or exc}"
    return str(exc) or type(exc).__name__


def _logs_config(det: Any) -> Any:
    """The ``logs:`` section of a logs model (its bundle has extras/logs.json), else None."""
    if "logs" not in getattr(det, "extras", {}):
        return None
    return det.config.logs


def check_compatible(old: Any, new: Any, reload: bool = True) -> str | None:
    """Why ``new`` cannot replace ``old`` in a running scorer, or None. ``reload`` False
    (a shadow beside ``old``): the reason alone, without a reload's advice to restart."""
    from anomaly_gan.logs.model import live_change

    before, after = _logs_config(old), _logs_config(new)
    if (before is None) != (after is None):
        kinds = ("metrics model", "logs model")
        if not reload:
            return (f"a {kinds[after is not None]}, where the running model is a "
                    f"{kinds[before is not None]}")
        return (f"a {kinds[after is not None]} cannot replace the running "
                f"{kinds[before is not None]}; restart serve with it")
    if before is not None:
        # the running scorer keeps the parser and open buckets of the model it started with
        changed = live_change(before, after)
        if changed is not None:
            key, was, now = changed
            return (f"logs.{key} {now!r} differs from the running model's {was!r}"
                    + ("; restart serve to change it" if reload else ""))
    if tuple(new.feature_names) != tuple(old.feature_names):
        return (f"feature names {list(new.feature_names)} differ from the running model's "
                f"{list(old.feature_names)}")
    if int(new.window) != int(old.window):
        return f"window {new.window} differs from the running model's {old.window}"
    # the windows in memory hold the increases of the running model's data.counters
    before, after = getattr(old, "counters", ()), getattr(new, "counters", ())
    if tuple(after) != tuple(before):
        names = [[d.feature_names[j] for j in c] for d, c in ((new, after), (old, before))]
        return f"data.counters {names[0]} differ from the running model's {names[1]}"
    return None


def unhealthy_reason(model: Any, allow_unhealthy: bool) -> str | None:
    """Why ``serve`` refuses ``model`` (a detector, or a bundle inspected before its networks
    load) for its training health, or None.

    ``healthy`` and ``unknown`` (a bundle written before health was recorded) are served, as
    ``models promote`` takes them; ``unhealthy`` (kept with ``train --allow-unhealthy``, or
    put in place by hand) only with ``serve.allow_unhealthy``.

    >>> from types import SimpleNamespace
    >>> kept = SimpleNamespace(metadata={"health": {"status": "unhealthy",
    ...                                             "issues": ["mode collapse"]}})
    >>> unhealthy_reason(kept, False)  # doctest: +ELLIPSIS
    'training health is unhealthy (mode collapse); serve.allow_unhealthy is false...'
    >>> unhealthy_reason(kept, True) is None
    True
    """
    from anomaly_gan.store import health_of

    metadata = getattr(model, "metadata", None)
    health = health_of(metadata if isinstance(metadata, dict) else {})
    if health["status"] in ("healthy", "unknown") or allow_unhealthy:
        return None
    return (f"training health is {health['status']} "
            f"({'; '.join(health['issues']) or 'no details'}); serve.allow_unhealthy is false, "
            f"so a model whose training failed is not served (roll back to a healthy version, "
            f"or set serve.allow_unhealthy: true to serve it anyway)")


class ModelWatcher:
    def __init__(self, model_path: str, interval_s: float, current: Any, current_fingerprint: str,
                 on_result: Callable[[str], None] | None = None,
                 loader: Callable[[str], Any] | None = None,
                 fingerprint: Callable[[str], str] | None = None,
                 on_checked: Callable[[float], None] | None = None,
                 clock: Callable[[], float] = time.time, max_batch: int = 512,
                 resolve: Callable[[str], Any] | None = None,
                 allow_unhealthy: bool = False,
                 files_state: Callable[[Any], str] | None = None) -> None:
        if loader is None or fingerprint is None or resolve is None or files_state is None:
            from anomaly_gan.artifacts import (
                bundle_files_state,
                bundle_fingerprint,
                load_bundle,
                resolve_bundle_path,
            )

            if files_state is None:  # with the real fingerprint only: fakes have no files
                files_state = bundle_files_state if fingerprint is None else (lambda _b: "")
            loader = loader or load_bundle
            fingerprint = fingerprint or bundle_fingerprint
            resolve = resolve or resolve_bundle_path
        self.model_path = model_path
        self.interval_s = interval_s
        self.max_batch = max_batch  # a new model is compiled for batches of up to this size
        self.allow_unhealthy = allow_unhealthy  # serve.allow_unhealthy
        self._loader = loader
        self._fingerprint = fingerprint
        self._files_state = files_state  # a refused bundle is retried when this changes
        # model path -> the bundle directory it names now
        self._resolve: Callable[[str], Any] = resolve
        self._on_result = on_result or (lambda _r: None)
        self._on_checked = on_checked or (lambda _t: None)
        self._clock = clock
        self._current = current
        # Last fingerprint acted on, and the model in use (or handed over to take()): they
        # differ while the path names a bundle that was refused, or a check failed.
        self._seen = current_fingerprint
        self._active = current_fingerprint
        self._in_use = current_fingerprint  # the model the loop runs (taken), not a pending one
        self._pending: Any = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()  # check_now(): check before the interval is up
        self._thread = threading.Thread(target=self._run, name="anomaly-gan-reload", daemon=True)

    def start(self) -> ModelWatcher:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> bool:
        """No more checks; waits up to ``timeout_s`` for a load in progress to end (a
        process that exits while TensorFlow builds a model in this thread can abort with
        SIGABRT). True when the thread has ended (or never started)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)
        return not self._thread.is_alive()

    def take(self) -> Any:
        """A verified new detector to swap in now, or None."""
        with self._lock:
            det, self._pending = self._pending, None
            if det is not None:
                self._in_use = self._active  # a pending model's: set with it, under the lock
        if det is not None:
            self._current = det
        return det

    def check_now(self) -> None:
        """Check at once, retrying a refused bundle; safe in a signal handler (it only sets
        an event: the line saying so is logged by the watcher's thread)."""
        self._wake.set()

    def _run(self) -> None:
        while True:
            woken = self._wake.wait(self.interval_s)
            if self._stop.is_set():
                return
            if woken:
                self._wake.clear()
            self.check_once(retry=woken)

    def check_once(self, retry: bool = False) -> None:
        """One check; never raises. ``retry`` (:meth:`check_now`, SIGHUP): a bundle refused
        before is tried again."""
        if retry:
            log.info("checking the model path now (SIGHUP), retrying a refused bundle",
                     extra={"fields": {"model_path": self.model_path}})
            self._seen = self._active  # forget a refusal: what it names is tried again
        try:
            if self._check():
                self._on_checked(self._clock())
        except Exception as exc:  # the watcher must outlive any one check
            key = f"error:{type(exc).__name__}:{exc}"
            if key != self._seen:  # logged and counted once, not at every check
                log.exception("model reload check failed, keeping the current model")
                self._seen = key
                self._on_result("failure")

    def _check(self) -> bool:
        """True when the path was checked without an error and names a usable model."""
        try:
            bundle = self._resolve(self.model_path)
            fp = self._fingerprint(bundle)
            if fp == self._active:  # the model in use (again, once a bad promote is rolled back)
                self._seen = fp
                return True
            with self._lock:  # compared under take()'s lock: the loop may take it meanwhile
                dropped = None
                back = fp == self._in_use  # rolled back to it before the loop took the pending
                if back:
                    dropped, self._pending = self._pending, None
            if back:
                self._seen = self._active = fp
                if dropped is not None:
                    log.info("model path names the model in use again; %s, loaded but not "
                             "yet swapped in, is dropped", dropped.version)
                return True
            # the fingerprint and the bundle's files as they were before this load
            key = f"{fp}\n{self._files_state(bundle)}"
        except (AnomalyGanError, OSError) as exc:
            self._refuse(f"error:{exc}", exc)
            return False
        if key == self._seen:  # refused before: retried only when it or a file changes
            return False
        try:
            det = self._loader(bundle)
            why = check_compatible(self._current, det)
            if why is not None:
                raise AnomalyGanError(f"{bundle}: incompatible model: {why}")
            # as serve refuses it at start (stream/commands.py)
            why = unhealthy_reason(det, self.allow_unhealthy)
            if why is not None:
                raise AnomalyGanError(f"{bundle}: {why}")
            det.warm_up(self.max_batch)
            error: Exception | None = None
        except Exception as exc:  # noqa: BLE001 - a broken bundle must never stop the scorer
            error = exc
        if self._changed(bundle, fp):
            # neither the model in use nor one loaded (it may be gone): not a good check
            log.warning("model bundle %s changed while it was loaded; loading it again at the "
                        "next check", bundle)
            return False
        if error is not None:
            self._refuse(key, error)
            return False
        with self._lock:
            self._pending, self._active = det, fp
        self._seen = fp
        log.info("model %s loaded, swapping in between batches", det.version)
        self._on_result("success")
        return True

    def _changed(self, bundle: Any, fp: str) -> bool:
        """Whether ``bundle`` is no longer what was fingerprinted as ``fp``."""
        try:
            return bool(self._fingerprint(bundle) != fp)
        except (AnomalyGanError, OSError):
            return True

    def _refuse(self, key: str, exc: BaseException) -> None:
        """Keep the model in use; log and count ``exc`` once per distinct problem."""
        if key != self._seen:
            log.error("model reload failed, keeping the current model: %s", _reason(exc))
            self._on_result("failure")
        self._seen = key
