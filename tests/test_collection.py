"""`make test-fast` collects the suite the way a developer runs it.

`make test` runs under pytest-xdist, whose workers do not see the command line, so a module
that reads ``sys.argv`` at import time (``--doctest-modules`` imports every file under
tests/, scripts included) passes there and breaks ``pytest -m "not slow"``: a script
helper once parsed pytest's ``-m`` as its own argument and stopped the collection.

The child collects with ``--assert=plain``: rewriting the asserts of every test module (about
half of the collection's CPU, with bytecode writing off as on this project's machines) is what
the workers do anyway and has nothing to do with what a module runs at import.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_fast_selection_collects_without_errors():
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not slow",
         "-p", "no:cacheprovider", "--assert=plain"],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=600,
        stdin=subprocess.DEVNULL)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "error" not in out.lower().split("collected")[-1], out[-4000:]
    assert " tests collected" in out or " deselected" in out, out[-2000:]
