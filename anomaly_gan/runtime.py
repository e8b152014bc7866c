"""Process set-up for the command line: importing TensorFlow without its native banner, and
Ctrl-C and SIGTERM for the commands that must clean up after themselves.

``import tensorflow`` prints lines such as ``WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR``, ``oneDNN custom operations are on``
and ``Could not find cuda drivers`` from C++, before ``TF_CPP_MIN_LOG_LEVEL`` applies, straight
to file descriptor 2. The CLI imports TensorFlow once, late (after its inputs are checked),
with descriptor 2 pointed at a temporary file, and replays every captured line that is not
one of those known notices, so nothing else is lost.

TensorFlow looks for a GPU only when a device is first touched, after the import: on a
machine without one it then printed ``E0000 ... cuda_platform.cc:52] failed call to cuInit:
... UNKNOWN ERROR (303)`` under ``TF_CPP_MIN_LOG_LEVEL=2`` (the image's and the chart's
setting), at every ``serve`` start and every ``train``/``score``/``retrain`` in a pod. The
devices are listed inside the capture too, and that line dropped only where no GPU is
expected (:func:`gpu_expected`): where one is, a failing CUDA is news and the line stays.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import logging
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

__all__ = ["EXIT_INTERRUPTED", "Interrupts", "SignalSafeEvent", "end_now",
           "forget_unhandled_interrupt",
           "gpu_expected", "handle", "import_tensorflow_quietly", "is_tensorflow_notice", "now_and_then",
           "raised_inside_jax"]

EXIT_INTERRUPTED = 130  # a command stopped by Ctrl-C or SIGTERM (serve: by a second one)

_NOTICES = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|^[IW]\d{4} [\d:. ]+\d+ (port|cudart_stub|cpu_feature_guard|cuda_executor)\.cc:\d+\]"
    r"|^E\d{4} [\d:. ]+\d+ cuda_(dnn|fft|blas)\.cc:\d+\] Unable to register"
    r"|To enable the following instructions: .* in other operations, rebuild TensorFlow"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
)
_CUINIT_FAILED = re.compile(r"^E\d{4} [\d:. ]+\d+ cuda_platform\.cc:\d+\] failed call to cuInit")

# Device nodes of a GPU the process was given: /dev/nvidia0.. (a container gets them only with
# a GPU; /dev/nvidiactl alone is not one), /dev/dxg (WSL2's GPU). /proc/driver/nvidia is no
# test: a CPU-only pod on a GPU node sees the host's.
_GPU_NODES = ("nvidia[0-9]*", "dxg")


def gpu_expected(cuda_visible_devices: str | None, device_nodes: list[str]) -> bool:
    """Whether a GPU should be found: ``device_nodes`` (paths of :data:`_GPU_NODES` under
    /dev) name one and ``CUDA_VISIBLE_DEVICES`` does not hide them all (empty, or a first
    entry that is negative: CUDA stops at the first invalid one).

    >>> gpu_expected(None, ["/dev/nvidia0"]), gpu_expected("-1", ["/dev/nvidia0"])
    (True, False)
    >>> gpu_expected(None, []), gpu_expected("0", [])
    (False, False)
    """
    if not device_nodes:
        return False
    if cuda_visible_devices is None:
        return True
    first = cuda_visible_devices.split(",")[0].strip()
    return not (first == "" or (first.startswith("-") and first[1:].isdigit()))


def _gpu_device_nodes() -> list[str]:
    return [p for pattern in _GPU_NODES for p in glob.glob(os.path.join("/dev", pattern))]


def is_tensorflow_notice(line: str, expect_gpu: bool = True) -> bool:
    """True for a line of TensorFlow's start-up banner (nothing the user needs to act on).
    TensorFlow's failed ``cuInit`` is one only where no GPU is expected (``expect_gpu``
    false, :func:`gpu_expected`); where one is, it says why TensorFlow runs on the CPU.

    >>> line = ("E0000 00:00:1796562315.013110   19861 cuda_platform.cc:52] failed call to "
    ...         "cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)")
    >>> is_tensorflow_notice(line, expect_gpu=False), is_tensorflow_notice(line)
    (True, False)
    """
    if _NOTICES.search(line) is not None:
        return True
    return not expect_gpu and _CUINIT_FAILED.search(line) is not None


def _import_tensorflow() -> None:
    """Import TensorFlow; without it, fine unless it is the Keras backend.

    Under ``KERAS_BACKEND=jax`` Keras still imports TensorFlow when it is installed (to seed
    it), so it is imported here too, banner captured; a JAX-only machine has none to import.
    """
    try:
        import tensorflow
    except ModuleNotFoundError:
        if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
            raise
        return
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        # Where the first model call would look for a GPU (and print a failed cuInit); the
        # thread pools can still be sized after it (listing creates no device).
        tensorflow.config.list_physical_devices()


def _not_retracing(record: logging.LogRecord) -> bool:
    """Drops TensorFlow's "N out of the last N calls ... triggered tf.function retracing":
    each retried attempt builds fresh networks, and so new predict functions, which is
    meant; the hint printed 8 lines of advice on tf.function among a command's own lines."""
    return "triggered tf.function retracing" not in record.getMessage()


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its start-up banner kept off stderr (no-op once imported), and
    its retracing hint off its logger (TensorFlow's logger is Python's "tensorflow" one, so
    the filter holds whoever imported it first; adding it again is a no-op); then Keras.

    A Keras backend that Keras cannot load (``KERAS_BACKEND=torch`` without PyTorch, a
    misspelt one) is a :class:`~anomaly_gan.errors.BackendError`, one line from the CLI:
    it ended every command that needs a model in a traceback (exit 1)."""
    logging.getLogger("tensorflow").addFilter(_not_retracing)
    try:
        _import_tensorflow_captured()
        import keras  # noqa: F401
    except (ImportError, ValueError) as exc:
        if not _raised_inside(exc, "keras"):  # TensorFlow's import imports Keras too
            raise
        from anomaly_gan.errors import BackendError, clip

        backend = os.environ.get("KERAS_BACKEND")
        which = (f"KERAS_BACKEND={backend!r}" if backend is not None else
                 "the Keras backend of ~/.keras/keras.json")
        raise BackendError(f"{which}: Keras cannot load it ({clip(str(exc))}); anomaly-gan "
                           f"runs on tensorflow or jax (set KERAS_BACKEND to one of them)"
                           ) from None


def _import_tensorflow_captured() -> None:
    """:func:`_import_tensorflow` with descriptor 2 captured and its notices dropped."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 to protect
        _import_tensorflow()
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            _import_tensorflow()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            expect_gpu = gpu_expected(os.environ.get("CUDA_VISIBLE_DEVICES"),
                                      _gpu_device_nodes())
            for line in captured.read().decode("utf-8", "replace").splitlines():
                if line.strip() and not is_tensorflow_notice(line, expect_gpu):
                    print(line, file=sys.stderr)
            sys.stderr.flush()


_PY_EVAL_INPUT = 258  # Python.h's Py_eval_input


def forget_unhandled_interrupt() -> None:
    """Let a caught :class:`KeyboardInterrupt` end the process with its exit code.

    CPython marks a ``KeyboardInterrupt`` that leaves code run by ``PyRun_String`` (which
    pybind11's ``py::eval`` uses, so optree under Keras and TensorFlow) as unhandled, even when
    Python code above catches it; at exit it then kills the process with SIGINT instead of
    returning the code ``sys.exit`` was given. A signal that landed in such a call during
    ``retrain`` gave status -2, not 130, to a parent that reads it. Every ``PyRun_String``
    clears that mark before it runs, so running one that cannot fail clears it."""
    import ctypes

    namespace: dict[str, Any] = {"__builtins__": {}}
    run = ctypes.pythonapi.PyRun_String
    run.restype = ctypes.py_object
    run.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.py_object, ctypes.py_object]
    run(b"None", _PY_EVAL_INPUT, namespace, namespace)


def now_and_then(every_s: float, clock: Callable[[], float] = time.monotonic
                 ) -> Callable[[], float | None]:
    """For a progress line on long work: a check that answers the seconds since it was made
    at most once every ``every_s`` (first ``every_s`` after it was made), else None.

    >>> t = [0.0]
    >>> due = now_and_then(10.0, lambda: t[0])
    >>> answers = []
    >>> for t[0] in (4.0, 10.0, 15.0, 21.0):
    ...     answers.append(due())
    >>> answers
    [None, 10.0, None, 21.0]
    """
    started = clock()
    last = [started]

    def due() -> float | None:
        now = clock()
        if now - last[0] < every_s:
            return None
        last[0] = now
        return now - started

    return due


def raised_inside_jax(exc: BaseException) -> bool:
    """Whether ``exc`` went through JAX's own code (a frame of a ``jax`` or ``jaxlib`` module).

    A signal is handled inside JAX where its C++ waits for a compilation (XLA compiles on a
    thread pool, and the wait lets Ctrl-C through): the wait is given up, the compilation is
    not, and a process that then exits normally tears JAX's client down under it, which
    crashes (SIGSEGV, exit 139) if the compilation is still running (JAX 0.10)."""
    return _raised_inside(exc, "jax", "jaxlib")


def _raised_inside(exc: BaseException, *packages: str) -> bool:
    """Whether ``exc`` went through a frame of a module of ``packages``.

    >>> try:
    ...     int("x")
    ... except ValueError as exc:
    ...     _raised_inside(exc, "keras")
    False
    """
    inside = tuple(f"{p}." for p in packages)
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module in packages or module.startswith(inside):
            return True
        tb = tb.tb_next
    return False


def end_now(code: int) -> NoReturn:
    """End the process with ``code`` at once, without the interpreter's teardown (see
    :func:`raised_inside_jax`); standard streams and log handlers are flushed first."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed stream, a reader gone away
            stream.flush()
    with contextlib.suppress(Exception):
        logging.shutdown()
    os._exit(code)


def handle(signum: int, handler: Callable[[int, Any], None]) -> Any:
    """``signal.signal(signum, handler)``, unless the process was started with ``signum``
    ignored: returns the handler before. A shell runs a script's background job (``serve
    &``) with SIGINT ignored, so that a Ctrl-C for the script does not stop it; every
    command replaced that with its own handler, and the Ctrl-C stopped it all the same
    (until 2026-12-07)."""
    previous = signal.getsignal(signum)
    if previous is not signal.SIG_IGN:
        signal.signal(signum, handler)
    return previous


class SignalSafeEvent(threading.Event):
    """A :class:`threading.Event` that a signal handler may set while the main thread waits
    on it.

    A handler runs in the main thread between two bytecodes, and ``Event.wait`` holds the
    event's lock for a few of them on entry and on waking. That lock is not re-entrant: a
    handler calling ``set()`` there blocked on a lock its own thread held, and the process
    hung until SIGKILL (SIGTERM could no longer be handled). Here the lock is re-entrant, so
    the handler's ``set()`` goes through and the interrupted ``wait()`` returns True.

    >>> ev = SignalSafeEvent()
    >>> with ev._cond:  # as wait() holds it when the handler runs
    ...     ev.set()
    >>> ev.wait(0)
    True
    """

    def __init__(self) -> None:
        super().__init__()
        self._cond = threading.Condition(threading.RLock())


class Interrupts:
    """Ctrl-C and SIGTERM (a Job deleted, a node drained, ``kill``) for a command that must
    clean up after itself (``retrain``'s half-written version, the demo's broker process).
    A signal raises :class:`KeyboardInterrupt` in the main thread, so the ``with`` blocks
    unwind and the CLI exits 130 with one line; Python's default SIGTERM ends the process at
    once and leaves those behind.

    Inside :meth:`deferred`, a first signal is only remembered: raised inside kafka-python's
    own code, the exception was swallowed by its event loop and left the demo hung. The
    block's loops call :meth:`check` or :meth:`sleep` instead, and a second signal raises at
    once."""

    def __init__(self) -> None:
        self._deferred = False
        self._finishing = False  # inside or after finishing(): deferred to the end
        self._event = SignalSafeEvent()  # set by the first signal

    @property
    def requested(self) -> bool:
        """Whether a signal came."""
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`KeyboardInterrupt` if a signal came."""
        if self.requested:
            raise KeyboardInterrupt

    def check_outside_deferred(self) -> None:
        """:meth:`check`, except inside a :meth:`deferred` block, whose signal waits for
        its end. For progress lines: a signal whose ``KeyboardInterrupt`` Python dropped
        (raised in a garbage-collector callback, as JAX registers one) is raised at the
        next line instead of being lost."""
        if not self._deferred:
            self.check()

    def sleep(self, seconds: float) -> None:
        """Sleep, cut short by a signal (which is then raised)."""
        self._event.wait(max(seconds, 0.0))
        self.check()

    def _handle(self, _signum: int, _frame: Any) -> None:
        first = not self.requested
        self._event.set()
        if not (self._deferred and first):
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A first signal inside the block only sets :attr:`requested` (see the class)."""
        self._deferred = True
        try:
            yield
        finally:
            self._deferred = self._finishing

    @contextlib.contextmanager
    def finishing(self) -> Iterator[None]:
        """:meth:`deferred` from the block to the end of :meth:`installed`: for the part of
        a command that changes what it cannot take back (``retrain``'s save and promote,
        ``train``'s bundle, a ``models`` promote). A first signal after the block, while
        the command returned to its exit (retrain releasing its run lock, a line printed),
        raised there: exit 130 and ``interrupted`` with the version promoted and no report.
        Now the command ends as it would have, with its own exit code and report; a
        second signal still raises at once."""
        self._finishing = True
        with self.deferred():
            yield

    @contextlib.contextmanager
    def installed(self) -> Iterator[Interrupts]:
        """The handlers while the block runs (only the main thread can set them)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: handle(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        hook = sys.unraisablehook
        sys.unraisablehook = functools.partial(self._unraisable, hook)
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            sys.unraisablehook = hook
            self._deferred = self._finishing = False

    def _unraisable(self, hook: Callable[[Any], object], unraisable: Any) -> None:
        """``sys.unraisablehook`` while the handlers are installed: the handler's
        :class:`KeyboardInterrupt` raised inside a garbage-collector callback (JAX
        registers one, and TensorFlow's import runs it) or a ``__del__`` is dropped by
        Python, which printed an ``Exception ignored in: <function _xla_gc_callback>``
        traceback above the command's one line. The signal is remembered
        (:attr:`requested`) and raised at the next check; the traceback is not printed.
        Anything else goes to the previous hook."""
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and self.requested:
            return
        hook(unraisable)
