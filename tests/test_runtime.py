import importlib.util
import signal

import pytest

from anomaly_gan.runtime import Interrupts, handle, is_tensorflow_notice

# Captured from `import tensorflow` (2.21, CPU-only machine) with TF_CPP_MIN_LOG_LEVEL=3.
BANNER = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    ("I0000 00:00:1795459081.769465   28289 port.cc:153] oneDNN custom operations are on. You "
    "may see slightly different numerical results due to floating-point round-off errors"),
    ("I0000 00:00:1795459081.769899   28289 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used."),
    ("E0000 00:00:1795459081.779899   28289 cuda_dnn.cc:8310] Unable to register cuDNN factory: "
    "Attempting to register factory for plugin cuDNN when one has already been registered"),
]


@pytest.mark.parametrize("line", BANNER)
def test_banner_lines_are_dropped(line):
    assert is_tensorflow_notice(line)


@pytest.mark.parametrize("line", [
    "Traceback (most recent call last):",
    "ImportError: libcudart.so.12: cannot open shared object file",
    "E0000 00:00:1795459081.779899   28289 some_kernel.cc:12] Out of memory",
    "UserWarning: something the user should see",
])
def test_everything_else_is_passed_on(line):
    assert not is_tensorflow_notice(line)


def test_interrupts_raise_at_once_outside_deferred_and_at_a_check_inside():
    """Raised inside kafka-python's event loop, a KeyboardInterrupt was swallowed and the demo
    streamed on: inside ``deferred`` the first signal is only recorded and the caller's loop
    raises it; a second signal raises at once."""
    import os
    import signal
    import time

    import pytest

    from anomaly_gan.runtime import Interrupts

    stop = Interrupts()
    with stop.installed(), pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert signal.getsignal(signal.SIGTERM) != stop._handle  # restored

    stop = Interrupts()
    with stop.installed(), stop.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)  # the handler runs between bytecodes: nothing raised
        assert stop.requested and stop._event.is_set()  # so sleep() returns at once
        with pytest.raises(KeyboardInterrupt):
            stop.sleep(30)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)  # a second signal: at once
            time.sleep(5)



def test_a_lost_signal_is_raised_by_progress_checks_except_while_deferred():
    """A signal whose KeyboardInterrupt Python dropped (in a garbage-collector callback)
    must end train/retrain at the next progress line, but not inside the final save or
    promotion, which then run to their end."""
    import pytest

    from anomaly_gan.runtime import Interrupts

    stop = Interrupts()
    stop._event.set()  # what the handler does before its exception is dropped
    with stop.deferred():
        stop.check_outside_deferred()  # waits for the block's end
    with pytest.raises(KeyboardInterrupt):
        stop.check_outside_deferred()

def test_tensorflows_retracing_hint_is_dropped_and_nothing_else():
    """A retried training attempt builds fresh networks: TensorFlow's retracing hint (eight
    lines of tf.function advice) used to show among train's own lines."""
    import logging

    from anomaly_gan.runtime import _not_retracing

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("tensorflow", logging.WARNING, "f.py", 1, msg, None, None)

    assert not _not_retracing(record("6 out of the last 6 calls to <function f at 0x1> "
                                     "triggered tf.function retracing. Tracing is expensive"))
    assert _not_retracing(record("Layer x has no weights"))
    from anomaly_gan.runtime import import_tensorflow_quietly

    import_tensorflow_quietly()  # installs it on TensorFlow's logger (once imported)
    assert _not_retracing in logging.getLogger("tensorflow").filters


# A command whose SIGTERM lands in code that a C extension runs with PyRun_String, as
# optree (under Keras) and TensorFlow do through pybind11's py::eval.
_SIGNAL_IN_PYRUN = """
import argparse, ctypes, sys
import anomaly_gan.stream.logs  # loaded by retrain; a first import would hide the defect
from anomaly_gan import cli
from anomaly_gan.runtime import Interrupts

def command(_args):
    run = ctypes.pythonapi.PyRun_String
    run.restype = ctypes.py_object
    run.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.py_object, ctypes.py_object]
    code = b"import os, signal, time\\nos.kill(os.getpid(), signal.SIGTERM)\\ntime.sleep(30)\\n"
    with Interrupts().installed():
        run(code, 257, {}, {})

parser = argparse.ArgumentParser()
parser.set_defaults(func=command)
cli.build_parser = lambda: parser
sys.exit(cli.main([]))
"""


# A signal whose handler sets an event while the main thread holds that event's lock:
# threading.Event.wait() holds it for a few bytecodes on entry and on waking, and a signal
# handler runs in the main thread between any two bytecodes.
_SIGNAL_INSIDE_A_WAIT = """
import os, signal
from anomaly_gan.runtime import Interrupts, SignalSafeEvent
stop = Interrupts()
try:
    with stop.installed():
        with stop._event._cond:  # as Event.wait() holds it
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):
                pass
except KeyboardInterrupt:
    print("interrupted", stop.requested)
event = SignalSafeEvent()
signal.signal(signal.SIGTERM, lambda _s, _f: event.set())
with event._cond:
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(1000):
        pass
print("set", event.is_set(), event.wait(0))
"""


def test_a_signal_landing_inside_an_event_wait_does_not_hang_the_process():
    """The SIGTERM/SIGINT handlers set events the main thread waits on (``Interrupts``,
    serve's stop and the scorer's). A threading.Event's lock is not re-entrant: a signal
    landing while the main thread held it inside ``wait()`` blocked the handler on a lock
    its own thread held, and the process hung until SIGKILL. Their events now take a
    re-entrant lock (:class:`SignalSafeEvent`)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": repo}
    proc = subprocess.run([sys.executable, "-c", _SIGNAL_INSIDE_A_WAIT], capture_output=True,
                          text=True, timeout=120, check=False, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "interrupted True\nset True True\n"


def test_an_interrupt_caught_after_a_c_extensions_eval_still_exits_130(tmp_path):
    """CI saw ``python -m anomaly_gan retrain`` exit -2 (killed by SIGINT) after printing
    'interrupted': CPython marks a KeyboardInterrupt that leaves PyRun_String as unhandled,
    though the CLI caught it, and at the exit of a ``-m`` module killed the process with
    SIGINT instead of returning 130."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "signal_in_pyrun.py").write_text(_SIGNAL_IN_PYRUN)
    repo = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), repo])}
    proc = subprocess.run([sys.executable, "-m", "signal_in_pyrun"], capture_output=True,
                          text=True, timeout=60, check=False, env=env)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == "anomaly-gan: interrupted\n"


# A command whose Ctrl-C lands while JAX compiles: XLA compiles on its own threads, and the
# wait for the result lets the signal through, so the compilation runs on after the command
# has unwound. The function chains enough operations to take seconds to compile.
_SIGNAL_IN_JAX_COMPILE = """
import argparse, os, signal, sys, threading
import jax, jax.numpy as jnp
from anomaly_gan import cli
from anomaly_gan.runtime import Interrupts

def chain(x):
    for i in range(3000):
        x = jnp.sin(x @ x.T + i)
    return x

def command(_args):
    lowered = jax.jit(chain).lower(jnp.ones((8, 8)))
    with Interrupts().installed():
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        lowered.compile()
    print("compiled")

parser = argparse.ArgumentParser()
parser.set_defaults(func=command)
cli.build_parser = lambda: parser
sys.exit(cli.main([]))
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
def test_an_interrupt_during_a_jax_compilation_exits_130(tmp_path):
    """Under KERAS_BACKEND=jax, Ctrl-C or SIGTERM while XLA compiled a step (train, retrain,
    score) printed 'interrupted' and then crashed the interpreter's exit with SIGSEGV (139,
    a core file where they are enabled): JAX's client was torn down under the compilation
    the signal had left running (7 of 26 `train` runs stopped 3-20 s in), after waiting for that compilation to end."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", _SIGNAL_IN_JAX_COMPILE], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False, env=env)
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert proc.stdout == "" and proc.stderr == "anomaly-gan: interrupted\n"


def test_a_signal_dropped_in_a_gc_callback_prints_no_traceback(monkeypatch):
    """A SIGTERM while JAX's garbage-collector callback ran (retrain killed as TensorFlow
    loads) printed ``Exception ignored in: <function _xla_gc_callback ...>`` and a
    ``KeyboardInterrupt`` traceback above ``anomaly-gan: interrupted``: the handler's
    exception is dropped there, the signal kept for the next check, and nothing printed."""
    import gc
    import os
    import signal
    import sys
    import threading

    from anomaly_gan.runtime import Interrupts

    printed: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", printed.append)
    fired: list[str] = []
    armed: list[bool] = []

    def callback(phase: str, _info: object) -> None:
        # only the collection this test starts: until 2026-12-07 any collection fired it,
        # one that the handler's installation set off (or another thread's) too, and the
        # SIGTERM, sent before the handler was in place, killed the test's process (a
        # pytest-xdist worker, 'node down' in a clean clone's run)
        if (armed and phase == "start" and not fired
                and threading.current_thread() is threading.main_thread()):
            fired.append(phase)
            os.kill(os.getpid(), signal.SIGTERM)
            sum(range(10_000))  # the handler runs here, inside the callback

    stop = Interrupts()
    gc.callbacks.append(callback)
    try:
        with stop.installed():
            armed.append(True)
            gc.collect()
            armed.clear()
            assert fired and stop.requested
            with pytest.raises(KeyboardInterrupt):
                stop.check()
    finally:
        gc.callbacks.remove(callback)
    assert printed == []
    assert sys.unraisablehook == printed.append  # restored

    # anything else still reaches the previous hook
    with stop.installed():
        sys.unraisablehook(type("U", (), {"exc_value": ValueError("x")})())
    assert len(printed) == 1


CUINIT_FAILED = ("E0000 00:00:1796562315.013110   19861 cuda_platform.cc:52] failed call to "
                 "cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)")


@pytest.mark.parametrize(("cuda_visible_devices", "nodes", "expected"), [
    (None, ["/dev/nvidia0"], True),
    ("0", ["/dev/nvidia0"], True),
    ("GPU-8f6c0a1e", ["/dev/nvidia0"], True),
    (None, ["/dev/dxg"], True),  # WSL2
    ("", ["/dev/nvidia0"], False),
    ("-1", ["/dev/nvidia0"], False),
    ("-1,0", ["/dev/nvidia0"], False),  # CUDA stops at the first invalid entry
    (None, [], False),
    ("0", [], False),
])
def test_a_gpu_is_expected_where_a_device_node_is_given_and_not_hidden(
        cuda_visible_devices, nodes, expected):
    from anomaly_gan.runtime import gpu_expected

    assert gpu_expected(cuda_visible_devices, nodes) is expected


def test_a_failed_cuinit_is_dropped_only_where_no_gpu_is_expected():
    """A CPU-only pod printed TensorFlow's ``failed call to cuInit`` ERROR line at every
    start; on a machine with a GPU the same line says why TensorFlow runs on the CPU."""
    assert is_tensorflow_notice(CUINIT_FAILED, expect_gpu=False)
    assert not is_tensorflow_notice(CUINIT_FAILED, expect_gpu=True)
    assert not is_tensorflow_notice(CUINIT_FAILED)  # by default: shown
    assert not is_tensorflow_notice("E0000 00:00:1.0   1 some_kernel.cc:12] Out of memory",
                                    expect_gpu=False)


# What every command does before its model runs: TensorFlow imported quietly, then its
# first op (where TensorFlow looks for a GPU). ``gpu_nodes``: the device nodes it is told of.
_FIRST_OP = """
import sys
from anomaly_gan import runtime
if sys.argv[1] == "gpu":
    runtime._gpu_device_nodes = lambda: ["/dev/nvidia0"]
runtime.import_tensorflow_quietly()
import tensorflow as tf
tf.constant([1.0]) + 1.0
"""


@pytest.mark.slow
@pytest.mark.parametrize(("cuda_visible_devices", "gpu_node", "shown"), [
    (None, False, False),  # this machine as it is
    (None, True, True),  # a GPU node, and CUDA fails: the line stays
    # (a GPU node hidden by CUDA_VISIBLE_DEVICES is gpu_expected's doctest: no process)
])
def test_tensorflows_first_op_prints_a_failed_cuinit_only_where_a_gpu_is_expected(
        cuda_visible_devices, gpu_node, shown):
    """At TF_CPP_MIN_LOG_LEVEL=2 (the image's and the chart's), ``serve`` (and train,
    score in a pod) printed ``E0000 ... cuda_platform.cc:52] failed call to cuInit: ...
    UNKNOWN ERROR (303)`` on a machine without a GPU, after the import's capture ended."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from anomaly_gan.runtime import _gpu_device_nodes, gpu_expected

    if gpu_expected(os.environ.get("CUDA_VISIBLE_DEVICES"), _gpu_device_nodes()):
        pytest.skip("this machine has a GPU: its cuInit does not fail")
    repo = str(Path(__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES",
                                                             "KERAS_BACKEND")}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=repo)
    if cuda_visible_devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = cuda_visible_devices
    proc = subprocess.run([sys.executable, "-c", _FIRST_OP, "gpu" if gpu_node else "none"],
                          capture_output=True, text=True, timeout=120, check=False, env=env)
    assert proc.returncode == 0, proc.stderr
    cuinit = [line for line in proc.stderr.splitlines() if "failed call to cuInit" in line]
    assert len(cuinit) == (1 if shown else 0), proc.stderr
    if not shown:
        assert proc.stderr == ""  # as quiet as the import alone


def test_a_signal_the_process_was_started_ignoring_stays_ignored():
    """runtime.handle (Interrupts and serve's handlers): SIGINT inherited as ignored (a
    script's background job) stays ignored while the handlers are in place, and after;
    SIGTERM gets the handler."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        stop = Interrupts()
        with stop.installed():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) == stop._handle
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert handle(signal.SIGINT, stop._handle) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
