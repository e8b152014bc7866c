"""Request checks of anomaly_gan.retrain.run, before any data is read or TensorFlow loads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from anomaly_gan.errors import DataError
from anomaly_gan.retrain.run import RetrainRequest, check_request

ROOT = Path(__file__).resolve().parents[2]


def test_unreadable_inputs_are_named(tmp_path: Path) -> None:
    data = tmp_path / "a.csv"
    data.write_text("x\n1\n")
    check_request(RetrainRequest(store="s", files=(str(data),)))  # fine
    with pytest.raises(DataError, match=rf"^{tmp_path / 'b.csv'}: file not found$"):
        check_request(RetrainRequest(store="s", files=(str(data), str(tmp_path / "b.csv"))))
    with pytest.raises(DataError, match=rf"^{tmp_path}: cannot read: not a regular file$"):
        check_request(RetrainRequest(store="s", files=(str(tmp_path),)))
    with pytest.raises(DataError, match=r"labels\.csv: file not found$"):
        check_request(RetrainRequest(store="s", files=(str(data),),
                                     labels=str(tmp_path / "labels.csv")))
    with pytest.raises(DataError, match=r"labels\.csv: file not found$"):
        check_request(RetrainRequest(store="s", start=0.0, end=1.0,
                                     labels=str(tmp_path / "labels.csv")))


def test_a_missing_file_fails_before_tensorflow_loads(tmp_path: Path) -> None:
    """One line, exit 2, no model store created, and TensorFlow never imported."""
    probe = ("import sys\nfrom anomaly_gan.cli import main\n"
             "code = main(sys.argv[1:])\nprint(code, 'tensorflow' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                    os.environ.get("PYTHONPATH")]))}
    store = tmp_path / "store"
    done = subprocess.run([sys.executable, "-c", probe, "retrain", "--store", str(store),
                           "--data", str(tmp_path / "nope.csv")],
                          capture_output=True, text=True, env=env, check=False)
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"anomaly-gan: error: {tmp_path / 'nope.csv'}: file not found"]
    assert not store.exists()
