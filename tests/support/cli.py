"""The command line in a fresh interpreter: exit codes, stderr, and whether TensorFlow loaded.

Commands whose errors must come before TensorFlow is imported run here: several command
lines share one interpreter (each costs ~1 s of imports on a busy machine), and the probe
reports each one's exit code and stderr, and whether TensorFlow got imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

PROBE = """
import contextlib, io, json, sys
from anomaly_gan.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(argv)
    results.append([rc, err.getvalue()])
print(json.dumps({"results": results, "tensorflow": "tensorflow" in sys.modules}))
"""


def run_cli(*argvs: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run each ``argv`` through ``anomaly_gan.cli.main`` in one new interpreter."""
    r = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argvs)], capture_output=True,
                       text=True, env={**os.environ, **(env or {})}, check=False)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)
