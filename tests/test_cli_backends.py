"""`anomaly-gan train/score/evaluate` on both Keras backends, and bundles that cross them.

A bundle holds float32 ``.keras`` inference networks of built-in layers only, so one trained
with ``KERAS_BACKEND=jax`` scores under TensorFlow (and the other way round) with the same
scores up to float32 rounding.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from anomaly_gan.cli import main
from tests.support_models import jax_child_env, normal_series, with_anomalies

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


# Runs `anomaly-gan` commands in a child process with another backend, one process for a
# test's commands (each child imports its backend, TensorFlow too, about 8 s): argv lists
# on stdin, one JSON line back per command with its exit code and output.
_CHILD = """
import contextlib, io, json, sys
from anomaly_gan.cli import main
for line in sys.stdin:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(json.loads(line))
    print(json.dumps([code, out.getvalue(), err.getvalue()]), flush=True)
"""


def _cli(backend: str, *commands: list[str]) -> list[tuple[int, str, str]]:
    """``anomaly-gan ARGS`` for each of ``commands`` on ``backend``, in order: in this
    process for TensorFlow (the test process's backend), in one child process with
    ``KERAS_BACKEND`` for another."""
    import keras

    if backend == keras.backend.backend():
        results = []
        for args in commands:
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(args))
            results.append((code, out.getvalue(), err.getvalue()))
        return results
    env = {**os.environ, "KERAS_BACKEND": backend, **(jax_child_env() if backend == "jax" else {}),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", _CHILD], cwd=ROOT, env=env, check=False,
                          input="".join(json.dumps(list(a)) + "\n" for a in commands),
                          capture_output=True, text=True)
    results = [tuple(json.loads(line)) for line in done.stdout.splitlines()]
    assert done.returncode == 0 and len(results) == len(commands), done.stderr[-4000:]
    assert "Warning" not in done.stderr, done.stderr  # one at import is on every call too
    return results  # type: ignore[return-value]


def _scores(path: Path) -> np.ndarray:
    return np.array([float(r["score"]) if r["score"] else np.nan
                     for r in csv.DictReader(path.open())])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("backends")
    (d / "tiny.yaml").write_text(
        "model: {latent_dim: 4, hidden: [8, 16]}\ndata: {window: 16, stride: 4}\n"
        "training: {epochs: 1, min_steps: 0, max_attempts: 1, batch_size: 32, verbose: 0,"
        " allow_unhealthy: true}\n")
    np.savetxt(d / "train.csv", normal_series(400), delimiter=",")
    x, labels = with_anomalies(200)
    np.savetxt(d / "test.csv", x, delimiter=",")
    np.savetxt(d / "labels.csv", labels, fmt="%d")
    return d


BACKENDS = ("jax", "tensorflow")


def keras_backend() -> str:
    import keras

    return keras.backend.backend()


@pytest.fixture(scope="module")
def runs(files: Path) -> dict[tuple[str, str, str], tuple[int, str, str]]:
    """Each backend trains a bundle and scores it; then each scores and evaluates the other
    one's: ``(command, trained_on, run_on)`` -> exit code, stdout, stderr. Three batches
    of commands, so the child process of the other backend starts once (each start imports
    its backend and TensorFlow, about 8 s)."""

    def train(backend: str) -> list[str]:
        return ["train", "--config", str(files / "tiny.yaml"), "--data",
                str(files / "train.csv"), "--out", str(files / f"model-{backend}")]

    def score(trained_on: str, backend: str) -> list[str]:
        return ["score", "--model", str(files / f"model-{trained_on}"), "--data",
                str(files / "test.csv"), "--out",
                str(files / f"scores-{trained_on}-on-{backend}.csv")]

    def evaluate(trained_on: str) -> list[str]:
        return ["evaluate", "--model", str(files / f"model-{trained_on}"), "--data",
                str(files / "test.csv"), "--labels", str(files / "labels.csv"), "--json"]

    here, other = sorted(BACKENDS, key=lambda b: b != keras_backend())
    got: dict[tuple[str, str, str], tuple[int, str, str]] = {}
    got["train", here, here], got["score", here, here] = _cli(here, train(here),
                                                               score(here, here))
    (got["train", other, other], got["score", other, other], got["score", here, other],
     got["evaluate", here, other]) = _cli(other, train(other), score(other, other),
                                          score(here, other), evaluate(here))
    got["score", other, here], got["evaluate", other, here] = _cli(here, score(other, here),
                                                                   evaluate(other))
    return got


@pytest.mark.parametrize("trained_on,scored_on", [("jax", "tensorflow"), ("tensorflow", "jax")])
def test_a_bundle_scores_the_same_on_the_other_backend(
        files: Path, runs: dict[tuple[str, str, str], tuple[int, str, str]], trained_on: str,
        scored_on: str) -> None:
    bundle = files / f"model-{trained_on}"
    mine = [runs[command, trained_on, backend] for command, backend in (
        ("train", trained_on), ("score", trained_on), ("score", scored_on),
        ("evaluate", scored_on))]
    for code, _, err in mine:
        assert code == 0, err
        assert "Warning" not in err, err  # e.g. JAX truncating a float64 request, on every call
    libraries = json.loads((bundle / "metadata.json").read_text())["libraries"]
    assert libraries["backend"] == trained_on and trained_on in libraries
    same = _scores(files / f"scores-{trained_on}-on-{trained_on}.csv")
    other = _scores(files / f"scores-{trained_on}-on-{scored_on}.csv")
    assert np.array_equal(np.isnan(same), np.isnan(other)) and np.isfinite(same).sum() > 100
    # The knn component's distances to the nearest normal codes are small, and their log
    # turns the backends' float32 rounding of the codes (~1e-7) into ~1e-5 in the score.
    np.testing.assert_allclose(other, same, rtol=1e-4, atol=1e-4)
    assert 0.0 <= json.loads(mine[-1][1])["auc_pr"] <= 1.0
