"""Process set-up for the command line: importing TensorFlow without its native banner.

``import tensorflow`` prints lines such as ``WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR``, ``oneDNN custom operations are on``
and ``Could not find cuda drivers`` from C++, before ``TF_CPP_MIN_LOG_LEVEL`` applies, straight
to file descriptor 2. The CLI imports TensorFlow once, late (after its inputs are checked),
with descriptor 2 pointed at a temporary file, and replays every captured line that is not
one of those known notices, so nothing else is lost.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

__all__ = ["import_tensorflow_quietly", "is_tensorflow_notice"]

_NOTICES = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|^[IW]\d{4} [\d:. ]+\d+ (port|cudart_stub|cpu_feature_guard|cuda_executor)\.cc:\d+\]"
    r"|^E\d{4} [\d:. ]+\d+ cuda_(dnn|fft|blas)\.cc:\d+\] Unable to register"
    r"|To enable the following instructions: .* in other operations, rebuild TensorFlow"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
)


def is_tensorflow_notice(line: str) -> bool:
    """True for a line of TensorFlow's start-up banner (nothing the user needs to act on)."""
    return _NOTICES.search(line) is not None


def _import_tensorflow() -> None:
    """Import TensorFlow; without it, fine unless it is the Keras backend.

    Under ``KERAS_BACKEND=jax`` Keras still imports TensorFlow when it is installed (to seed
    it), so it is imported here too, banner captured; a JAX-only machine has none to import.
    """
    try:
        import tensorflow  # noqa: F401 - imported for its side effect only
    except ModuleNotFoundError:
        if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
            raise


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its start-up banner kept off stderr (no-op once imported)."""
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
            for line in captured.read().decode("utf-8", "replace").splitlines():
                if line.strip() and not is_tensorflow_notice(line):
                    print(line, file=sys.stderr)
            sys.stderr.flush()
