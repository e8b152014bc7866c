"""Both Keras backends: the training contract, multi-device training and the precision rule.

A process loads one Keras backend. The contract (``test_backend_contract.py``) is collected
in the test process on its own backend; here it runs again in a child process with
``KERAS_BACKEND`` set for each other backend, and the child's pytest output is shown when it
fails. Multi-device training runs in a child process on both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from anomaly_gan.models.precision import best_precision, detect_accelerator, resolve_precision
from anomaly_gan.models.steps import BACKENDS
from tests.support_models import jax_child_env

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def _run(args: list[str], backend: str, xla_flags: str = "") -> subprocess.CompletedProcess[str]:
    child_env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
                 "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                             os.environ.get("PYTHONPATH")])),
                 **(jax_child_env(xla_flags) if backend == "jax" else
                    {"XLA_FLAGS": xla_flags} if xla_flags else {})}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=child_env,
                          capture_output=True, text=True, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != keras.backend.backend()])
def test_training_contract_on_the_other_backends(backend: str) -> None:
    """Both families: losses finite and falling, health checks, mixed-precision dtypes and an
    active float16 loss scale (tests/models/test_backend_contract.py)."""
    done = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                 str(HERE / "test_backend_contract.py")], backend)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("backend,kind", [("jax", "fanogan"), ("tensorflow", "ganomaly")])
def test_training_spreads_over_two_simulated_devices(backend: str, kind: str) -> None:
    extra = ["--tf-cpu-devices", "2"] if backend == "tensorflow" else []
    done = _run([str(HERE / "distributed_fit.py"), "--kind", kind, *extra], backend,
                xla_flags="--xla_force_host_platform_device_count=2")
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    api = "DataParallel" if backend == "jax" else "MirroredStrategy"
    assert report["backend"] == backend
    assert report["replicas"] == report["health_devices"] == 2
    assert api in report["description"]
    assert len(report["variable_devices"]) == 2  # every weight lives on both devices
    assert report["finite"] and report["epochs_run"] >= 2
    assert all(n > 0 for name, n in report["iterations"].items() if name != "encoder")
    # float32 skips no update: every step the callbacks counted reached each optimizer
    assert all(report["updates"][name] == {"steps": n, "skipped": 0}
               for name, n in report["iterations"].items()), report


def test_auto_precision_rule() -> None:
    assert best_precision("gpu", (8, 0)) == best_precision("gpu", (9, 0)) == "mixed_bfloat16"
    assert best_precision("gpu", (7, 0)) == best_precision("gpu", (7, 5)) == "mixed_float16"
    assert best_precision("gpu", None) == "mixed_float16"
    assert best_precision("tpu") == "mixed_bfloat16"
    assert best_precision("cpu") == "float32"


def test_resolve_precision_on_this_machine() -> None:
    assert resolve_precision("float32") == "float32"
    assert resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
    platform, capability = detect_accelerator()
    assert resolve_precision("auto") == best_precision(platform, capability)
    if platform == "cpu":
        assert resolve_precision("auto") == "float32"
    with pytest.raises(ValueError, match="auto"):
        resolve_precision("float16")
