"""Hot reload of the model bundle, off the scoring thread.

Every ``reload_interval_seconds`` the watcher resolves ``serve.model_path`` (a bundle dir, or
a store whose ``current`` file names the version dir) and compares its fingerprint with the
model in use. A changed bundle is loaded in the watcher's thread (checksums verified by
``load_bundle``), must keep the same feature names and window length and is compiled for
batches of up to ``max_batch`` windows (``Detector.warm_up``); the loop then swaps it in
*between* micro-batches (:meth:`ModelWatcher.take`). A bad bundle keeps the old model,
is counted once as ``result="failure"`` and retried only when it changes again.

The watcher thread never dies: any error while checking (an unreadable ``current`` file,
a bug) is counted as a failure and the next check comes on time. ``on_checked`` receives
the Unix time of every check that completed without an error, exported as
``anomaly_gan_model_watch_last_check_timestamp_seconds``, so an alert can see a stuck watcher.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from anomaly_gan.errors import AnomalyGanError

__all__ = ["ModelWatcher", "check_compatible"]

log = logging.getLogger(__name__)


def check_compatible(old: Any, new: Any) -> str | None:
    """Why ``new`` cannot replace ``old`` in a running scorer, or None."""
    if tuple(new.feature_names) != tuple(old.feature_names):
        return (f"feature names {list(new.feature_names)} differ from the running model's "
                f"{list(old.feature_names)}")
    if int(new.window) != int(old.window):
        return f"window {new.window} differs from the running model's {old.window}"
    return None


class ModelWatcher:
    def __init__(self, model_path: str, interval_s: float, current: Any, current_fingerprint: str,
                 on_result: Callable[[str], None] | None = None,
                 loader: Callable[[str], Any] | None = None,
                 fingerprint: Callable[[str], str] | None = None,
                 on_checked: Callable[[float], None] | None = None,
                 clock: Callable[[], float] = time.time, max_batch: int = 512) -> None:
        if loader is None or fingerprint is None:
            from anomaly_gan.artifacts import bundle_fingerprint, load_bundle

            loader = loader or load_bundle
            fingerprint = fingerprint or bundle_fingerprint
        self.model_path = model_path
        self.interval_s = interval_s
        self.max_batch = max_batch  # a new model is compiled for batches of up to this size
        self._loader = loader
        self._fingerprint = fingerprint
        self._on_result = on_result or (lambda _r: None)
        self._on_checked = on_checked or (lambda _t: None)
        self._clock = clock
        self._current = current
        self._seen = current_fingerprint  # last fingerprint acted on (good or bad)
        self._pending: Any = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="anomaly-gan-reload", daemon=True)

    def start(self) -> ModelWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def take(self) -> Any:
        """A verified new detector to swap in now, or None."""
        with self._lock:
            det, self._pending = self._pending, None
        if det is not None:
            self._current = det
        return det

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.check_once()

    def check_once(self) -> None:
        """One check; never raises."""
        try:
            if self._check():
                self._on_checked(self._clock())
        except Exception as exc:  # the watcher must outlive any one check
            log.exception("model reload check failed, keeping the current model")
            key = f"error:{type(exc).__name__}:{exc}"
            if key != self._seen:
                self._seen = key
                self._on_result("failure")

    def _check(self) -> bool:
        """True when the path was checked without an error."""
        try:
            fp = self._fingerprint(self.model_path)
        except AnomalyGanError as exc:
            key = f"error:{exc}"
            if key != self._seen:
                self._seen = key
                log.error("model reload failed, keeping the current model: %s", exc)
                self._on_result("failure")
            return False
        if fp == self._seen:
            return True
        self._seen = fp
        try:
            det = self._loader(self.model_path)
            why = check_compatible(self._current, det)
            if why is not None:
                raise AnomalyGanError(f"{self.model_path}: incompatible model: {why}")
            det.warm_up(self.max_batch)
        except Exception as exc:  # noqa: BLE001 - a broken bundle must never stop the scorer
            log.error("model reload failed, keeping the current model: %s", exc)
            self._on_result("failure")
            return False
        with self._lock:
            self._pending = det
        log.info("model %s loaded, swapping in between batches", det.version)
        self._on_result("success")
        return True
